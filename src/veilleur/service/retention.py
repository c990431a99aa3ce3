"""Retention (SPEC S8): the server's purge scheduler and what the API and the console show of it."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from veilleur.compliance.retention import RetentionScheduler, history

HISTORY = 50
"""How many past purges the API and the console list."""


class HasState(Protocol):
    """An application holding its shared objects in `state` (a FastAPI app)."""

    @property
    def state(self) -> Any: ...


def scheduler(app: HasState) -> RetentionScheduler:
    """The app's retention scheduler (`app.state.retention`). `veilleur serve` starts it; an
    app built without it (tests, an embedding) gets one that is not scheduled, so that the
    page and "Purge now" still work."""
    found = getattr(app.state, "retention", None)
    if found is None:
        settings = app.state.settings
        found = RetentionScheduler(app.state.sessions, settings.data_dir, settings.retention)
        app.state.retention = found
    assert isinstance(found, RetentionScheduler)
    return found


def overview(app: HasState, db: Session) -> dict[str, Any]:
    """The periods, the schedule and the purge history, as plain data."""
    sched = scheduler(app)
    return {
        "periods": sched.retention.model_dump(),
        "schedule": sched.state(),
        "history": [{**h, "at": h["at"].isoformat()} for h in history(db, limit=HISTORY)],
    }
