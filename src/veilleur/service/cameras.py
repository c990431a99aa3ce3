"""Cameras (SPEC S4, S9): the use cases of the camera pages and routes, each rule once.

Scope: a caller changes only cameras it sees (`scope.camera_in_scope`). Services: a camera's
services are checked, and a scoped administrator's own service is added when left out (they
would otherwise lose sight of the camera). A configuration the model refuses raises
`ConfigInvalid`, which names each wrong key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from veilleur import store
from veilleur.service.access import Caller
from veilleur.service.errors import Conflict, Invalid, NotFound
from veilleur.service.platform import Platform, validate_camera
from veilleur.service.scope import camera_in_scope
from veilleur.store.scopes import clean_services, set_camera_services


def camera_services(caller: Caller, services: Iterable[str]) -> list[str]:
    """The services to set on a camera for `caller`: checked (Invalid, key "services"); a
    scoped administrator's own service is added when left out."""
    try:
        cleaned = clean_services(list(services))
    except ValueError as exc:
        raise Invalid(str(exc), key="services") from None
    if caller.service is not None and caller.service not in cleaned:
        cleaned = sorted([*cleaned, caller.service])
    return cleaned


def visible_cameras(db: Session, caller: Caller) -> list[store.Camera]:
    """Every camera in the caller's scope, in the store's order."""
    return [r for r in store.list_cameras(db) if caller.sees_camera(r.services)]


def add_camera(
    plat: Platform,
    db: Session,
    caller: Caller,
    name: str,
    config: Any,
    *,
    processing: bool,
    services: Iterable[str],
) -> store.Camera:
    """Add a camera: Conflict when the name is taken, Invalid for its services,
    ConfigInvalid for its configuration; journaled as the caller's."""
    if store.get_camera(db, name) is not None:
        raise Conflict(f"a camera named '{name}' already exists")
    wanted = camera_services(caller, services)
    plat.save_camera(
        db, name, validate_camera(config), processing=processing, actor=caller.username
    )
    return set_camera_services(db, name, wanted, actor=caller.username)


def replace_camera(
    plat: Platform,
    db: Session,
    caller: Caller,
    name: str,
    config: Any,
    *,
    processing: bool | None,
    services: Iterable[str] | None,
) -> store.Camera:
    """Replace a camera's configuration (and its services when given); its pipeline restarts
    with it."""
    camera_in_scope(db, caller, name)
    wanted = None if services is None else camera_services(caller, services)
    row = plat.save_camera(db, name, validate_camera(config), processing, actor=caller.username)
    if wanted is not None:
        row = set_camera_services(db, name, wanted, actor=caller.username)
    return row


def change_camera(
    plat: Platform,
    db: Session,
    caller: Caller,
    name: str,
    change: Callable[[dict[str, Any]], None],
) -> store.Camera:
    """Apply `change` to a copy of the camera's JSON configuration, validate it, save it."""
    camera_in_scope(db, caller, name)
    try:
        return plat.update_camera(db, name, change, actor=caller.username)
    except KeyError:
        raise NotFound(f"no camera named '{name}'") from None


def set_services(db: Session, caller: Caller, name: str, services: Iterable[str]) -> store.Camera:
    """Set the user services that see a camera (journaled as a camera update)."""
    camera_in_scope(db, caller, name)
    return set_camera_services(db, name, camera_services(caller, services), actor=caller.username)


def delete_camera(plat: Platform, db: Session, caller: Caller, name: str) -> None:
    """Stop and remove a camera (its signals stay)."""
    camera_in_scope(db, caller, name)
    plat.delete_camera(db, name, actor=caller.username)


def sees_camera(plat: Platform, caller: Caller, name: str) -> bool:
    """Whether the camera exists and is in the caller's scope (in a session of its own, for
    routes that hold none)."""
    with plat.sessions() as s:
        row = store.get_camera(s, name)
        return row is not None and caller.sees_camera(row.services)


def journal_unblurred_view(plat: Platform, caller: Caller, name: str, reason: str) -> None:
    """Journal a view of a camera's picture unblurred, with its reason (S6, S7); committed
    before the picture leaves, so that no view goes unjournaled."""
    with plat.sessions() as s:
        store.journal_append(
            s, caller.username, "media.viewed_unblurred", f"camera:{name}",
            {"camera": name, "reason": reason},
        )  # fmt: skip
        s.commit()
