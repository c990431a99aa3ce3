"""`veilleur serve` / `veilleur demo` helpers: the demo camera, its clip, first accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from veilleur import store
from veilleur.cli import app
from veilleur.cli import server as cli_server
from veilleur.config import CameraConfig
from veilleur.config.server import ServerSettings


def test_demo_camera_watches_zones_people_cross_at_once() -> None:
    cam = CameraConfig.model_validate(cli_server.demo_camera("/clips/vtest.avi"))
    assert cam.source == "/clips/vtest.avi"
    intrusion = cam.situations.zone_intrusion
    assert intrusion.enabled and {"centre", "corner"} <= set(intrusion.zones)
    assert cam.situations.wrong_way.enabled
    assert cam.zones["path"].direction is not None


def test_demo_clip_is_debians_then_the_shared_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = tmp_path / "vtest.avi"
    monkeypatch.setattr(cli_server, "DEBIAN_CLIP", debian)
    monkeypatch.setenv("VEILLEUR_SHARED", str(tmp_path / "shared"))
    assert cli_server.demo_clip() is None
    shared = tmp_path / "shared" / cli_server.SHARED_CLIP
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"x")
    assert cli_server.demo_clip() == shared
    debian.write_bytes(b"x")
    assert cli_server.demo_clip() == debian


def test_demo_without_its_clip_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_server, "DEBIAN_CLIP", tmp_path / "none.avi")
    monkeypatch.delenv("VEILLEUR_SHARED", raising=False)
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "opencv-doc" in result.output
    assert not (tmp_path / "d").exists()


def test_first_start_creates_one_administrator_and_demo_accounts(tmp_path: Path) -> None:
    url = store.default_url(tmp_path)
    store.upgrade(url)
    settings = ServerSettings(data_dir=tmp_path, database_url=url)
    first = cli_server.ensure_first_administrator(settings)
    assert first is not None and first[0] == "admin" and len(first[1]) >= 12
    assert cli_server.ensure_first_administrator(settings) is None
    cli_server.ensure_demo_accounts(settings)
    cli_server.ensure_demo_accounts(settings)  # twice: nothing duplicated
    engine = store.make_engine(url)
    with store.session_factory(engine)() as s:
        user = store.authenticate(s, "admin", first[1])
        assert user is not None and user.role == "administrator"
        roles = {u.username: u.role for u in store.list_users(s)}
        assert store.authenticate(s, "auditor", cli_server.DEMO_PASSWORD) is not None
    engine.dispose()
    assert roles == {"admin": "administrator", "operator": "operator",
                     "supervisor": "supervisor", "auditor": "auditor"}  # fmt: skip
