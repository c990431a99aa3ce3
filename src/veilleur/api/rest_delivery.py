"""REST routes of delivery to other systems (docs/delivery.md).

GET /api/deliveries: the recipients (never a secret), the outbox's counts per recipient and
state, and its rows, newest first (administrators, auditors without a service: rows name
cameras of every service). POST /api/deliveries/{delivery_id}/retry: send a dead-lettered
delivery again, journaled (administrators).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from veilleur.http.auth import Db, allow
from veilleur.service import delivery
from veilleur.service.access import ADMINISTRATOR, AUDITOR, Caller
from veilleur.service.delivery import overview, row_json, unscoped
from veilleur.service.inputs import Id

router = APIRouter(prefix="/api", tags=["delivery"])

_Reader = Annotated[Caller, Depends(allow(ADMINISTRATOR, AUDITOR))]
_Admin = Annotated[Caller, Depends(allow(ADMINISTRATOR))]
MAX_ROWS = 500


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
    return row_json(delivery.retry(request.app, db, delivery_id, caller))
