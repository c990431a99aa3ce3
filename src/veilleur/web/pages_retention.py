"""Console page of retention (SPEC S8): periods per kind of data, the purge's schedule and
last run, the purges the journal holds, and "Purge now" for administrators; see
docs/retention.md."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from veilleur.compliance.retention import KINDS, history
from veilleur.http.auth import Db, allow
from veilleur.service.access import ADMINISTRATOR, AUDITOR, Caller
from veilleur.service.retention import HISTORY, scheduler
from veilleur.web.pages import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

Reader = Annotated[Caller, Depends(allow(ADMINISTRATOR, AUDITOR))]
Admin = Annotated[Caller, Depends(allow(ADMINISTRATOR))]

PERIODS = (
    ("images", "images_days", "Blurred snapshots and clips of signals and calibration records "
     "(the rows stay, without their images); media files no row names"),
    ("signals", "signals_days", "Signals and their qualifications, calibration records, "
     "missed-situation reports"),
    ("statistics", "statistics_days", "Statistics (anonymous aggregates)"),
    ("journal", "journal_days", "Journal entries (at least 6 months); the oldest go behind a "
     "checkpoint so the rest of the chain still verifies"),
)  # fmt: skip


def _page(request: Request, caller: Caller, db: Db, error: str | None = None) -> HTMLResponse:
    sched = scheduler(request.app)
    return render(
        request,
        "retention.html",
        caller,
        {
            "periods": [
                (kind, getattr(sched.retention, key), label) for kind, key, label in PERIODS
            ],
            "kinds": KINDS,
            "sched": sched,
            "report": sched.last_report,
            "history": history(db, limit=HISTORY),
            "history_limit": HISTORY,
            "error": error,
        },
        status=503 if error else 200,
    )


@router.get("/retention", response_class=HTMLResponse)
def retention_page(request: Request, caller: Reader, db: Db) -> HTMLResponse:
    return _page(request, caller, db)


@router.post("/retention/purge", response_model=None)
def purge_now(request: Request, caller: Admin, db: Db) -> Response:
    """Purge now, journaled as the administrator; back to the page, which shows the report."""
    try:
        scheduler(request.app).run_now(caller.username)
    except SQLAlchemyError as exc:
        log.exception("purge asked by %s failed", caller.username)
        return _page(request, caller, db, f"The purge failed and nothing was deleted: {exc}")
    return RedirectResponse("/retention", status_code=303)
