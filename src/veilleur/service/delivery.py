"""Delivery to other systems (docs/delivery.md), as the REST API and the console both use it:
the app's delivery worker, who may see the outbox, what it answers, and a retry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from veilleur.delivery import DeliveryWorker
from veilleur.service.access import Caller, Forbidden
from veilleur.service.errors import Conflict, NotFound
from veilleur.service.retention import HasState
from veilleur.store import outbox


def delivery_worker(app: HasState) -> DeliveryWorker:
    """The app's delivery worker (`app.state.delivery`). `veilleur serve` starts it and hands
    it to the signal recorder; an app built without it (tests) gets one that is not started,
    so that the page and the retry still work."""
    found = getattr(app.state, "delivery", None)
    if found is None:
        found = DeliveryWorker(app.state.sessions, app.state.settings.delivery)
        app.state.delivery = found
    assert isinstance(found, DeliveryWorker)
    return found


def unscoped(caller: Caller) -> Caller:
    """Deliveries name cameras of every service: only accounts without one see them."""
    if caller.service is not None:
        raise Forbidden("deliveries name cameras of every service: an account without one")
    return caller


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def row_json(row: outbox.OutboxRow) -> dict[str, Any]:
    """A delivery as answered: its payload is what was sent (a signal's what, where, when)."""
    return {
        "id": row.id,
        "key": row.key,
        "recipient": row.recipient,
        "event": row.event,
        "signal_id": row.signal_id,
        "state": row.state,
        "attempts": row.attempts,
        "next_at": _when(row.next_at) if row.state == "pending" else None,
        "last_error": row.last_error,
        "created_at": _when(row.created_at),
        "delivered_at": _when(row.delivered_at),
        "payload": row.payload,
    }


def overview(app: HasState, db: Session, *, state: str | None, recipient: str | None,
             limit: int) -> dict[str, Any]:  # fmt: skip
    """The recipients (never a secret), the outbox's counts per recipient and state, and its
    rows, newest first."""
    worker = delivery_worker(app)
    counts = outbox.summary(db)
    recipients = []
    for name, entry in worker.state().items():
        recipients.append(
            {
                **entry,
                "held_until": _when(entry["held_until"]),
                "last_delivered_at": _when(entry["last_delivered_at"]),
                "running": worker.running,
                **counts.get(name, {"pending": 0, "delivered": 0, "dead": 0,
                                    "oldest_pending_s": None}),
            }
        )  # fmt: skip
    rows = outbox.list_rows(db, state=state, recipient=recipient, limit=limit)
    return {"recipients": recipients, "deliveries": [row_json(r) for r in rows]}


def retry(app: HasState, db: Session, delivery_id: int, caller: Caller) -> outbox.OutboxRow:
    """Send a dead-lettered delivery again, attempts starting over (journaled as
    `delivery.retried`); NotFound, or Conflict when it is not dead-lettered."""
    unscoped(caller)
    try:
        row = outbox.retry(db, delivery_id, caller.username)
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    except ValueError as exc:
        raise Conflict(str(exc)) from None
    delivery_worker(app).wake()
    return row
