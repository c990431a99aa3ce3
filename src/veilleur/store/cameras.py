"""Cameras: each one's configuration (a `CameraConfig`) and whether it is processed live.

The configuration is validated on every write and every read, so a row edited by hand or left
behind by an older schema fails loudly, naming the camera and the key, instead of starting a
camera on a half-understood configuration. Mutating functions commit.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Text, cast, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veilleur.config import CameraConfig
from veilleur.store.journal import SYSTEM
from veilleur.store.journal import append as journal_append
from veilleur.store.models import Camera, utcnow

GEOMETRY_KEYS = frozenset({"zones", "lines"})


def check_camera_name(name: str) -> None:
    """The rule of the configuration file: letters, digits, '_' and '-' (at most 64)."""
    if not 1 <= len(name) <= 64 or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"camera name {name!r} may only use letters, digits, '_' and '-'")


def validate_camera_config(name: str, config: CameraConfig | Mapping[str, Any]) -> CameraConfig:
    """`config` as a `CameraConfig`; ValueError naming the camera and the offending key."""
    data = config.model_dump(mode="json") if isinstance(config, CameraConfig) else dict(config)
    try:
        return CameraConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top level)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ValueError(f"camera {name!r}: invalid configuration: {problems}") from exc


def camera_config(camera: Camera) -> CameraConfig:
    """The stored configuration of `camera`, validated."""
    return validate_camera_config(camera.name, camera.config)


def _config_sha256(config: Mapping[str, Any]) -> str:
    # The journal keeps a digest, not the configuration: a source URL may hold a password.
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _change_entry(
    old: Mapping[str, Any] | None, new: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The journal action and details of a configuration change: zones and lines, situations,
    or anything else (named by key)."""
    details: dict[str, Any] = {"config_sha256": _config_sha256(new)}
    if old is None:
        return "camera.created", details
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    details["changed"] = changed
    if changed and set(changed) <= GEOMETRY_KEYS:
        details["zones"] = sorted(new.get("zones", {}))
        details["lines"] = sorted(new.get("lines", {}))
        return "zones.changed", details
    if changed == ["situations"]:
        before, after = old.get("situations", {}), new.get("situations", {})
        details["situations"] = sorted(
            sid for sid in set(before) | set(after) if before.get(sid) != after.get(sid)
        )
        details["enabled"] = sorted(sid for sid, c in after.items() if c.get("enabled"))
        return "situation.changed", details
    return "camera.updated", details


def upsert_camera(
    s: Session,
    name: str,
    config: CameraConfig | Mapping[str, Any],
    processing: bool | None = None,
    *,
    actor: str = SYSTEM,
) -> Camera:
    """Create or replace a camera's configuration, journaled as `actor`'s change.

    `processing=None` keeps an existing camera's live processing as it is (a supervisor's stop
    survives a configuration edit) and turns it on for a new camera.
    """
    check_camera_name(name)
    parsed = validate_camera_config(name, config)
    camera = s.scalar(select(Camera).where(Camera.name == name))
    old: dict[str, Any] | None = None
    old_processing = None
    if camera is None:
        camera = Camera(name=name, processing=True if processing is None else processing)
        s.add(camera)
    else:
        old, old_processing = dict(camera.config), camera.processing
        if processing is not None:
            camera.processing = processing
    camera.config = parsed.model_dump(mode="json")
    camera.updated_at = utcnow()
    action, details = _change_entry(old, camera.config)
    if camera.processing != old_processing:
        details["processing"] = camera.processing
    try:
        s.flush()
        journal_append(s, actor, action, f"camera:{name}", details)
        s.commit()
    except IntegrityError as exc:
        s.rollback()
        raise ValueError(f"camera {name!r} was created at the same time elsewhere") from exc
    return camera


def list_cameras(s: Session) -> list[Camera]:
    """Every camera by name, each configuration checked (ValueError on a bad one)."""
    cameras = list(s.scalars(select(Camera).order_by(Camera.name)))
    for camera in cameras:
        camera_config(camera)
    return cameras


@dataclass(frozen=True)
class CameraState:
    """What the authorisation gate needs of a stored camera."""

    name: str
    processing: bool
    config: CameraConfig

    @classmethod
    def of(cls, camera: Camera) -> CameraState:
        return cls(camera.name, bool(camera.processing), camera_config(camera))


#: The configurations `camera_states` last read, as stored text with their validated form, by
#: camera name.
_STATES_SEEN: dict[str, tuple[str, CameraConfig]] = {}
_STATES_LOCK = threading.Lock()


def camera_states(s: Session) -> list[CameraState]:
    """Every camera's name, processing flag and checked configuration, by name (ValueError on a
    bad one): what the authorisation gate reads on every pass (every 30 s). Three columns
    rather than whole rows, the configuration as its stored text, and a text equal to the one
    read last time is neither decoded nor validated again: at 10,000 cameras the pass took
    about 2 s of the server's CPU, held from the signals (docs/scaling.md)."""
    rows = s.execute(
        select(Camera.name, cast(Camera.config, Text), Camera.processing).order_by(Camera.name)
    ).all()
    with _STATES_LOCK:
        seen = dict(_STATES_SEEN)
    out: list[CameraState] = []
    now: dict[str, tuple[str, CameraConfig]] = {}
    for name, text, processing in rows:
        known = seen.get(name)
        if known is not None and known[0] == text:
            validated = known[1]
        else:
            validated = validate_camera_config(name, json.loads(text))
        now[name] = (text, validated)
        out.append(CameraState(name, bool(processing), validated))
    with _STATES_LOCK:
        _STATES_SEEN.clear()
        _STATES_SEEN.update(now)
    return out


def get_camera(s: Session, name: str) -> Camera | None:
    """The camera of this name with its configuration checked, or None."""
    camera = s.scalar(select(Camera).where(Camera.name == name))
    if camera is not None:
        camera_config(camera)
    return camera


def cameras_in_mode(s: Session, names: Iterable[str], mode: str) -> set[str]:
    """Which of these cameras are stored in `mode` (one query for all of them)."""
    wanted = sorted(set(names))
    if not wanted:
        return set()
    rows = s.execute(select(Camera.name, Camera.config).where(Camera.name.in_(wanted)))
    return {name for name, config in rows if (config or {}).get("mode") == mode}


def _existing(s: Session, name: str) -> Camera:
    camera = s.scalar(select(Camera).where(Camera.name == name))
    if camera is None:
        raise LookupError(f"no camera named {name!r}")
    return camera


def delete_camera(s: Session, name: str, *, actor: str = SYSTEM) -> None:
    """Remove a camera (LookupError if unknown), journaled. Its past signals stay, under its
    name."""
    camera = _existing(s, name)
    details = {"config_sha256": _config_sha256(camera.config)}
    s.delete(camera)
    journal_append(s, actor, "camera.deleted", f"camera:{name}", details)
    s.commit()


def set_processing(s: Session, name: str, on: bool, *, actor: str | None = SYSTEM) -> None:
    """Turn a camera's live processing on or off (LookupError if unknown), journaled as
    `actor`'s and committed. `actor=None`: neither journaled nor committed, for a caller that
    changes several cameras and journals the whole operation in one entry."""
    camera = _existing(s, name)
    camera.processing = on
    camera.updated_at = utcnow()
    if actor is None:
        return
    action = "processing.started" if on else "processing.stopped"
    journal_append(s, actor, action, f"camera:{name}", {"scope": "camera", "cameras": [name]})
    s.commit()
