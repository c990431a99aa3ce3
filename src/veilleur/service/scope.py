"""Service scopes (SPEC S9): which cameras, and so which pictures, signals and figures, a caller
may see.

An account with a service sees a camera only if that service is in the camera's `services`; an
account without one (service None) sees every camera. A signal is seen when a camera of its
name exists and is in scope (a scoped account sees nothing of a deleted camera). Every route
or page that shows camera-specific data filters through here; a single resource out of scope
is NotFound like a missing one, so that its existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur import store
from veilleur.config import SITUATION_IDS
from veilleur.service.access import Caller
from veilleur.service.errors import NotFound
from veilleur.service.platform import Platform

T = TypeVar("T")


def visible_camera_names(db: Session, caller: Caller) -> set[str] | None:
    """The names of the cameras `caller` sees; None when the caller is not scoped (all)."""
    if caller.service is None:
        return None
    rows = db.execute(select(store.Camera.name, store.Camera.services))
    return {name for name, services in rows if caller.sees_camera(services)}


def sees(visible: set[str] | None, camera: str) -> bool:
    """Whether a camera name is in a scope computed by `visible_camera_names`."""
    return visible is None or camera in visible


def sees_camera_name(db: Session, caller: Caller, camera: str) -> bool:
    """Whether `caller` sees the camera of this name (False for an unknown one when scoped)."""
    if caller.service is None:
        return True
    services = db.scalar(select(store.Camera.services).where(store.Camera.name == camera))
    return services is not None and caller.sees_camera(services)


def only_visible(
    items: Iterable[T], visible: set[str] | None, camera_of: Callable[[T], str]
) -> list[T]:
    """The items whose camera (`camera_of(item)`) is in scope."""
    return [item for item in items if sees(visible, camera_of(item))]


def cameras_in_scope(visible: set[str] | None, cameras: Iterable[str]) -> list[str]:
    """The names of `cameras` in a scope (an authorisation names cameras of several services:
    a scoped account sees only its own among them)."""
    return [c for c in cameras if sees(visible, c)]


def camera_in_scope(db: Session, caller: Caller, name: str) -> store.Camera:
    """The camera, if it exists and is in scope; else NotFound with the same words
    either way (404)."""
    row = store.get_camera(db, name)
    if row is None or not caller.sees_camera(row.services):
        raise NotFound(f"no camera named '{name}'")
    return row


def signal_in_scope(db: Session, caller: Caller, signal_id: int) -> store.SignalRow:
    """The signal, if it exists and its camera is in scope; else NotFound (same words)."""
    row = store.get_signal(db, signal_id)
    if row is None or not sees_camera_name(db, caller, row.camera):
        raise NotFound(f"no signal {signal_id}")
    return row


def set_processing_in_scope(
    plat: Platform,
    db: Session,
    caller: Caller,
    active: bool,
    *,
    camera: str | None = None,
    situation: str | None = None,
) -> list[str]:
    """`Platform.set_processing` within the caller's scope; returns the cameras affected.

    One camera: KeyError when it is missing or out of scope (the route answers 404). No
    camera, for an unscoped caller: the global operation (a global stop is one call, every
    camera within the second). No camera, for a scoped caller: every camera of their service,
    one by one (one journal entry each); a situation not enabled on one of them is skipped
    there.
    """
    if camera is not None:
        if not sees_camera_name(db, caller, camera):
            raise KeyError(camera)
        return plat.set_processing(
            db, active, camera=camera, situation=situation, actor=caller.username
        )
    visible = visible_camera_names(db, caller)
    if visible is None:
        return plat.set_processing(db, active, situation=situation, actor=caller.username)
    if situation is not None and situation not in SITUATION_IDS:
        raise ValueError(f"unknown situation '{situation}'; one of {', '.join(SITUATION_IDS)}")
    done: list[str] = []
    for row in store.list_cameras(db):
        if row.name not in visible:
            continue
        if situation is not None and not (
            row.config.get("situations", {}).get(situation, {}).get("enabled")
        ):
            continue
        done += plat.set_processing(
            db, active, camera=row.name, situation=situation, actor=caller.username
        )
    return done


__all__ = [
    "camera_in_scope",
    "only_visible",
    "sees",
    "sees_camera_name",
    "set_processing_in_scope",
    "signal_in_scope",
    "visible_camera_names",
]
