"""REST routes of delivery to other systems (docs/delivery.md).

GET /api/deliveries: the recipients (never a secret), the outbox's counts per recipient and
state, and its rows, newest first (administrators, auditors without a service: rows name
cameras of every service). POST /api/deliveries/{delivery_id}/retry: send a dead-lettered
delivery again, journaled (administrators).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request

from veilleur.api.auth import ADMINISTRATOR, AUDITOR, Caller, Db, Forbidden, allow
from veilleur.api.inputs import Id
from veilleur.delivery import DeliveryWorker
from veilleur.store import outbox

router = APIRouter(prefix="/api", tags=["delivery"])

_Reader = Annotated[Caller, Depends(allow(ADMINISTRATOR, AUDITOR))]
_Admin = Annotated[Caller, Depends(allow(ADMINISTRATOR))]
MAX_ROWS = 500


def delivery_worker(app: FastAPI) -> DeliveryWorker:
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


def overview(app: FastAPI, db: Db, *, state: str | None, recipient: str | None,
             limit: int) -> dict[str, Any]:  # fmt: skip
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


@router.get("/deliveries")
def get_deliveries(
    request: Request,
    caller: _Reader,
    db: Db,
    state: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    recipient: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
) -> dict[str, Any]:
    """The recipients, the outbox's counts per recipient and state, and its rows (newest
    first, filtered by `state` and `recipient`)."""
    unscoped(caller)
    return overview(request.app, db, state=state, recipient=recipient, limit=limit)


@router.post("/deliveries/{delivery_id}/retry")
def post_retry(request: Request, delivery_id: Id, caller: _Admin, db: Db) -> dict[str, Any]:
    """Send a dead-lettered delivery again, attempts starting over (journaled as
    `delivery.retried`); 409 when it is not dead-lettered."""
    unscoped(caller)
    try:
        row = outbox.retry(db, delivery_id, caller.username)
    except LookupError as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except ValueError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    delivery_worker(request.app).wake()
    return row_json(row)
