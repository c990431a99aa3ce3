"""REST routes of retention (SPEC S8); see docs/retention.md.

GET /api/retention: the periods, the schedule, the last run and the purges still in the
journal (administrators, auditors). POST /api/retention/purge: purge now, journaled as the
administrator who asked (administrators).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from veilleur.api.auth import ADMINISTRATOR, AUDITOR, Caller, Db, allow
from veilleur.compliance.retention import RetentionScheduler, history

router = APIRouter(prefix="/api", tags=["retention"])

Reader = Annotated[Caller, Depends(allow(ADMINISTRATOR, AUDITOR))]
Admin = Annotated[Caller, Depends(allow(ADMINISTRATOR))]
HISTORY = 50


def scheduler(app: FastAPI) -> RetentionScheduler:
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


def overview(app: FastAPI, db: Db) -> dict[str, Any]:
    """The periods, the schedule and the purge history, as plain data."""
    sched = scheduler(app)
    return {
        "periods": sched.retention.model_dump(),
        "schedule": sched.state(),
        "history": [{**h, "at": h["at"].isoformat()} for h in history(db, limit=HISTORY)],
    }


class PurgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = Field(default=False, description="Count what would be deleted only.")


@router.get("/retention")
def get_retention(request: Request, caller: Reader, db: Db) -> dict[str, Any]:
    """Retention periods per kind of data, the purge's schedule and last run, and the purges
    the journal still holds (newest first)."""
    return overview(request.app, db)


@router.post("/retention/purge")
async def post_purge(
    request: Request, caller: Admin, body: Annotated[PurgeIn | None, Body()] = None
) -> dict[str, Any]:
    """Purge now what is older than its period; journaled as `retention.purged` with the
    caller as actor (unless nothing was old enough, or `dry_run`)."""
    sched = scheduler(request.app)
    dry_run = body.dry_run if body is not None else False
    try:
        report = await run_in_threadpool(sched.run_now, caller.username, dry_run=dry_run)
    except SQLAlchemyError as exc:
        raise HTTPException(503, detail=f"the purge failed, nothing was deleted: {exc}") from exc
    return report.to_json()
