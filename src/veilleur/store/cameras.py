"""Cameras: each one's configuration (a `CameraConfig`) and whether it is processed live.

The configuration is validated on every write and every read, so a row edited by hand or left
behind by an older schema fails loudly, naming the camera and the key, instead of starting a
camera on a half-understood configuration. Mutating functions commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veilleur.config import CameraConfig
from veilleur.store.models import Camera, utcnow


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


def upsert_camera(
    s: Session,
    name: str,
    config: CameraConfig | Mapping[str, Any],
    processing: bool | None = None,
) -> Camera:
    """Create or replace a camera's configuration.

    `processing=None` keeps an existing camera's live processing as it is (a supervisor's stop
    survives a configuration edit) and turns it on for a new camera.
    """
    check_camera_name(name)
    parsed = validate_camera_config(name, config)
    camera = s.scalar(select(Camera).where(Camera.name == name))
    if camera is None:
        camera = Camera(name=name, processing=True if processing is None else processing)
        s.add(camera)
    elif processing is not None:
        camera.processing = processing
    camera.config = parsed.model_dump(mode="json")
    camera.updated_at = utcnow()
    try:
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


def get_camera(s: Session, name: str) -> Camera | None:
    """The camera of this name with its configuration checked, or None."""
    camera = s.scalar(select(Camera).where(Camera.name == name))
    if camera is not None:
        camera_config(camera)
    return camera


def _existing(s: Session, name: str) -> Camera:
    camera = s.scalar(select(Camera).where(Camera.name == name))
    if camera is None:
        raise LookupError(f"no camera named {name!r}")
    return camera


def delete_camera(s: Session, name: str) -> None:
    """Remove a camera (LookupError if unknown). Its past signals stay, under its name."""
    s.delete(_existing(s, name))
    s.commit()


def set_processing(s: Session, name: str, on: bool) -> None:
    """Turn a camera's live processing on or off (LookupError if unknown)."""
    camera = _existing(s, name)
    camera.processing = on
    camera.updated_at = utcnow()
    s.commit()
