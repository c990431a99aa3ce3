"""REST routes of retention (SPEC S8); see docs/retention.md.

GET /api/retention: the periods, the schedule, the last run and the purges still in the
journal (administrators, auditors). POST /api/retention/purge: purge now, journaled as the
administrator who asked (administrators).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from veilleur.http.auth import Db, allow
from veilleur.service.access import ADMINISTRATOR, AUDITOR, Caller
from veilleur.service.retention import overview, scheduler

router = APIRouter(prefix="/api", tags=["retention"])

Reader = Annotated[Caller, Depends(allow(ADMINISTRATOR, AUDITOR))]
Admin = Annotated[Caller, Depends(allow(ADMINISTRATOR))]


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
