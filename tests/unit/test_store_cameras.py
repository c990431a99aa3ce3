"""The cameras repository, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from veilleur.config import CameraConfig
from veilleur.store import (
    Camera,
    camera_config,
    delete_camera,
    get_camera,
    list_cameras,
    set_processing,
    upsert_camera,
)

pytest_plugins = ["db_fixtures"]

ZONE = {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}


def _config(**extra: object) -> CameraConfig:
    return CameraConfig.model_validate({"source": "rtsp://cam/1", "zones": {"quay": ZONE}, **extra})


def test_upsert_round_trip(db_session: Session) -> None:
    config = _config(analysis_fps=4.0)
    camera = upsert_camera(db_session, "north-1", config)
    assert camera.id is not None and camera.processing
    db_session.expire_all()
    stored = get_camera(db_session, "north-1")
    assert stored is not None
    assert camera_config(stored) == config
    assert stored.config == config.model_dump(mode="json")
    assert stored.created_at.tzinfo is not None


def test_upsert_replaces_and_keeps_processing(db_session: Session) -> None:
    upsert_camera(db_session, "cam", _config())
    set_processing(db_session, "cam", False)
    first = get_camera(db_session, "cam")
    assert first is not None
    updated_before = first.updated_at
    upsert_camera(db_session, "cam", _config(analysis_fps=2.0))
    db_session.expire_all()
    camera = get_camera(db_session, "cam")
    assert camera is not None
    assert not camera.processing  # a stop survives a configuration edit
    assert camera_config(camera).analysis_fps == 2.0
    assert camera.updated_at >= updated_before
    upsert_camera(db_session, "cam", _config(), processing=True)
    assert [c.processing for c in list_cameras(db_session)] == [True]


def test_new_camera_may_start_stopped(db_session: Session) -> None:
    camera = upsert_camera(db_session, "cam", _config(), processing=False)
    assert not camera.processing


def test_list_is_by_name(db_session: Session) -> None:
    for name in ("b", "a", "c"):
        upsert_camera(db_session, name, _config())
    assert [c.name for c in list_cameras(db_session)] == ["a", "b", "c"]


def test_bad_config_on_write_names_camera_and_key(db_session: Session) -> None:
    bad = {"source": "x.mp4", "zones": {"quay": {"polygon": [[0, 0]]}}}
    with pytest.raises(ValueError, match=r"camera 'gate'.*zones\.quay\.polygon"):
        upsert_camera(db_session, "gate", bad)
    with pytest.raises(ValueError, match=r"camera 'gate'.*analysis_fps"):
        upsert_camera(db_session, "gate", {"source": "x.mp4", "analysis_fps": -1})
    assert list_cameras(db_session) == []


def test_dict_config_is_accepted_when_valid(db_session: Session) -> None:
    camera = upsert_camera(db_session, "cam", {"source": "x.mp4"})
    assert camera_config(camera) == CameraConfig(source="x.mp4")


def test_bad_config_on_read_names_camera_and_key(db_session: Session) -> None:
    upsert_camera(db_session, "gate", _config())
    # A row edited behind the store's back (or left by an older schema).
    db_session.execute(
        update(Camera)
        .where(Camera.name == "gate")
        .values(config={"source": "x.mp4", "no_such_key": 1})
    )
    db_session.commit()
    db_session.expire_all()
    with pytest.raises(ValueError, match=r"camera 'gate'.*no_such_key"):
        get_camera(db_session, "gate")
    with pytest.raises(ValueError, match=r"camera 'gate'.*no_such_key"):
        list_cameras(db_session)


def test_camera_states_read_what_the_gate_needs_and_revalidate_only_changes(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veilleur.store import cameras

    upsert_camera(db_session, "b", _config())
    upsert_camera(db_session, "a", CameraConfig(source="a.mp4"), processing=False)
    validated: list[str] = []
    real = cameras.validate_camera_config

    def counted(name: str, config: Any) -> CameraConfig:
        validated.append(name)
        return real(name, config)

    monkeypatch.setattr(cameras, "validate_camera_config", counted)
    monkeypatch.setattr(cameras, "_STATES_SEEN", {})
    states = cameras.camera_states(db_session)
    assert [(c.name, c.processing, c.config.source) for c in states] == [
        ("a", False, "a.mp4"), ("b", True, _config().source)
    ]  # fmt: skip
    assert states[1].config == _config() and sorted(validated) == ["a", "b"]
    # Unchanged: not validated again. Changed (through the store or behind its back): read,
    # validated, and refused when bad, as list_cameras does.
    validated.clear()
    assert [c.name for c in cameras.camera_states(db_session)] == ["a", "b"]
    assert validated == []
    upsert_camera(db_session, "a", CameraConfig(source="other.mp4"), processing=False)
    validated.clear()
    assert cameras.camera_states(db_session)[0].config.source == "other.mp4"
    assert validated[-1] == "a" and "b" not in validated
    db_session.execute(
        update(Camera).where(Camera.name == "b").values(config={"source": "x", "bad": 1})
    )
    db_session.commit()
    with pytest.raises(ValueError, match=r"camera 'b'.*bad"):
        cameras.camera_states(db_session)


@pytest.mark.parametrize("name", ["", "a b", "cam/1", "x" * 65])
def test_bad_names_are_refused(db_session: Session, name: str) -> None:
    with pytest.raises(ValueError, match="camera name"):
        upsert_camera(db_session, name, _config())


def test_delete_and_unknown_cameras(db_session: Session) -> None:
    upsert_camera(db_session, "cam", _config())
    delete_camera(db_session, "cam")
    assert get_camera(db_session, "cam") is None
    with pytest.raises(LookupError):
        delete_camera(db_session, "cam")
    with pytest.raises(LookupError):
        set_processing(db_session, "cam", True)
