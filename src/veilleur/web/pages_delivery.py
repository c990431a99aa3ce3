"""Console page of delivery to other systems: each recipient (never its secret), its
pending and dead-lettered deliveries, and "Retry" for administrators; see docs/delivery.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from veilleur.http.auth import Db, allow
from veilleur.service import delivery
from veilleur.service.access import ADMINISTRATOR, AUDITOR, Caller
from veilleur.service.delivery import overview, unscoped
from veilleur.service.errors import ServiceError
from veilleur.service.inputs import Id
from veilleur.web.pages import render

router = APIRouter(include_in_schema=False)

Reader = Annotated[Caller, Depends(allow(ADMINISTRATOR, AUDITOR))]
Admin = Annotated[Caller, Depends(allow(ADMINISTRATOR))]
SHOWN = 100


def _page(request: Request, caller: Caller, db: Db, state: str, error: str | None = None
          ) -> HTMLResponse:  # fmt: skip
    data = overview(request.app, db, state=state, recipient=None, limit=SHOWN)
    return render(
        request,
        "deliveries.html",
        caller,
        {**data, "state": state, "shown": SHOWN, "error": error},
        status=409 if error else 200,
    )


@router.get("/deliveries", response_class=HTMLResponse)
def deliveries_page(
    request: Request,
    caller: Reader,
    db: Db,
    state: Annotated[str, Query(pattern="^(pending|delivered|dead)$")] = "dead",
) -> HTMLResponse:
    unscoped(caller)
    return _page(request, caller, db, state)


@router.post("/deliveries/{delivery_id}/retry", response_model=None)
def retry(request: Request, delivery_id: Id, caller: Admin, db: Db) -> Response:
    try:
        delivery.retry(request.app, db, delivery_id, caller)
    except ServiceError as exc:
        return _page(request, caller, db, "dead", exc.message)
    return RedirectResponse("/deliveries?state=dead", status_code=303)
