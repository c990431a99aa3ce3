"""Signals and their reviews (SPEC S3, S7, S9): what a caller sees of them and qualifying one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from veilleur import store
from veilleur.service.access import Caller
from veilleur.service.errors import Conflict
from veilleur.service.platform import Platform
from veilleur.service.scope import signal_in_scope, visible_camera_names


class AlreadyQualified(Conflict):
    """A signal is qualified once (the console words it its way)."""


def visible_signals(
    db: Session,
    caller: Caller,
    *,
    camera: str | None = None,
    situation: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[store.SignalRow]:
    """Signals of the cameras in the caller's scope, newest first, filtered."""
    return store.list_signals(
        db, camera=camera, situation=situation, state=state, since=since, limit=limit,
        before_id=before_id, cameras=visible_camera_names(db, caller),
    )  # fmt: skip


def qualify(
    plat: Platform,
    db: Session,
    caller: Caller,
    signal_id: int,
    verdict: str,
    comment: str | None,
) -> store.SignalRow:
    """Record the caller's verdict on a signal in its scope, once (AlreadyQualified after;
    Conflict for what the store refuses); the other consoles are told."""
    row = signal_in_scope(db, caller, signal_id)
    if row.state == "qualified":
        raise AlreadyQualified(f"signal {signal_id} is already qualified")
    try:
        return plat.qualify(db, signal_id, caller.user_id, verdict, comment)
    except ValueError as exc:
        raise Conflict(str(exc)) from None


def signal_stats(
    db: Session, caller: Caller, *, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Signals per situation, camera and day, with their qualifications (caller's cameras)."""
    return store.signal_stats(
        db, since=since, until=until, cameras=visible_camera_names(db, caller)
    )


def record_media_view(db: Session, caller: Caller, signal_id: int, kind: str) -> None:
    """Journal an access to a signal's images (SPEC S7), before the file is sent."""
    store.journal_append(db, caller.username, "media.viewed", f"signal:{signal_id}", {"kind": kind})
    db.commit()
