"""Authorisations of live processing (SPEC §4) as the API and the console read them: which
records a caller sees, and the validation problems of a decision, named field by field.
Creating, renewing and revoking go through `Platform`, which applies them to the cameras."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from veilleur import store
from veilleur.service.access import Caller
from veilleur.service.errors import NotFound
from veilleur.service.platform import Problem, explain
from veilleur.service.scope import cameras_in_scope, visible_camera_names


def problems_of(exc: ValidationError) -> list[Problem]:
    """Each validation error as (key, message); a rule between fields names the field to fix."""
    out = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        message = explain(dict(err))
        if not key:
            key = next((f for f in ("ends_at", "starts_at") if message.startswith(f)), "")
        out.append(Problem(key, message))
    return out


def refusal(exc: ValueError) -> Problem:
    """A rule of the store or the platform as a problem ('key: message' names a field)."""
    text = str(exc)
    key, sep, message = text.partition(": ")
    return Problem(key, message) if sep and key.isidentifier() else Problem("", text)


def existing(db: Session, authorisation_id: int) -> store.Authorisation:
    """The record; NotFound when there is none."""
    row = store.get_authorisation(db, authorisation_id)
    if row is None:
        raise NotFound(f"no authorisation {authorisation_id}")
    return row


def in_scope(db: Session, caller: Caller, row: store.Authorisation) -> set[str] | None:
    """The caller's scope (`visible_camera_names`), once checked that the record covers one
    of its cameras; NotFound (like a missing record) when it covers none (S9)."""
    visible = visible_camera_names(db, caller)
    if not cameras_in_scope(visible, row.cameras):
        raise NotFound(f"no authorisation {row.id}")
    return visible


def visible_authorisations(
    db: Session, caller: Caller, *, active_at: datetime | None = None
) -> tuple[list[store.Authorisation], set[str] | None]:
    """The records covering one of the caller's cameras (active at `active_at` when given),
    newest start first, with the caller's scope to name only its cameras."""
    visible = visible_camera_names(db, caller)
    rows = store.list_authorisations(db, active_at=active_at)
    return [r for r in rows if cameras_in_scope(visible, r.cameras)], visible
