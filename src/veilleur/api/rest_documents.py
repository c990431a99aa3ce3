"""REST routes of the generated documents and of missed-situation reports (issue 5; SPEC §4,
§5); see docs/documents.md.

Documents (administrator, auditor): each generation is journaled `document.generated`.
Missed situations: operators, supervisors and administrators report them; every reader lists
them; both only for cameras in the caller's scope.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.api.auth import JOURNAL, READ, WATCH, Caller, Db, allow
from veilleur.api.inputs import Day, Id, UtcDateTime
from veilleur.api.scope import camera_or_404, visible_camera_names
from veilleur.compliance import documents
from veilleur.config.common import SITUATION_IDS
from veilleur.store import missed as missed_store
from veilleur.store.models import Authorisation, MissedReport, User

router = APIRouter(prefix="/api")

DocumentReader = Annotated[Caller, Depends(allow(*JOURNAL))]
Watcher = Annotated[Caller, Depends(allow(*WATCH))]
Reader = Annotated[Caller, Depends(allow(*READ))]

EVALUATION_DIR = "evaluation"
"""The console's technical file reads `<data_dir>/evaluation/figures.json` (run
`veilleur evaluate --out <data_dir>/evaluation`)."""


def sources(request: Request) -> documents.Sources:
    settings = request.app.state.settings
    evaluation = Path(settings.data_dir) / EVALUATION_DIR
    return documents.Sources(
        retention=settings.retention,
        session_ttl_s=settings.session_ttl_s,
        evaluation=evaluation if (evaluation / "figures.json").is_file() else None,
    )


def scope(db: Session, caller: Caller) -> set[str] | None:
    """Names of the cameras the caller sees; None: every camera (no service scope)."""
    return visible_camera_names(db, caller)


def day_bound(value: date | None, *, end: bool = False) -> datetime | None:
    """Midnight UTC of `value`; of the next day for an inclusive end date."""
    if value is None:
        return None
    start = datetime.combine(value, time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def make_document(
    request: Request,
    db: Session,
    caller: Caller,
    kind: str,
    fmt: str | None,
    *,
    authorisation_id: Id | None = None,
    by: str = "day",
    since: Day | None = None,
    until: Day | None = None,
) -> Response:
    """Generate, journal and answer one document (inline HTML, other formats as a download)."""
    try:
        doc = documents.generate(
            db, kind, fmt, sources(request), authorisation_id=authorisation_id, by=by,
            since=day_bound(since), until=day_bound(until, end=True), cameras=scope(db, caller),
        )  # fmt: skip
    except documents.DocumentError as exc:
        status = 404 if str(exc).startswith("no authorisation") else 422
        raise HTTPException(status, detail=str(exc)) from None
    documents.record_generation(db, caller.username, doc)
    disposition = "inline" if doc.fmt == "html" else "attachment"
    return Response(
        doc.content,
        media_type=doc.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{doc.filename}"'},
    )


class DocumentsOut(BaseModel):
    kinds: dict[str, list[str]] = Field(description="Each kind of document and its formats.")
    periods: list[str] = Field(description="Periods the accountability report groups by.")
    authorisations: list[dict[str, Any]] = Field(
        description="Authorisations a public notice can be generated for (id, reference, "
        "served, start, end, revoked)."
    )


@router.get("/documents", tags=["documents"])
def list_documents(caller: DocumentReader, db: Db) -> DocumentsOut:
    """What can be generated."""
    auths = db.scalars(select(Authorisation).order_by(Authorisation.id.desc()))
    return DocumentsOut(
        kinds={k: list(v) for k, v in documents.FORMATS.items()},
        periods=list(documents.BUCKETS),
        authorisations=[
            {
                "id": a.id, "reference": a.reference, "served_name": a.served_name,
                "starts_at": a.starts_at.isoformat(), "ends_at": a.ends_at.isoformat(),
                "revoked": a.revoked_at is not None,
            }
            for a in auths
        ],
    )  # fmt: skip


@router.get("/documents/notice/{authorisation_id}", tags=["documents"])
def notice(
    request: Request,
    caller: DocumentReader,
    db: Db,
    authorisation_id: Id,
    format: Annotated[Literal["html", "pdf"], Query(description="html or pdf.")] = "html",
) -> Response:
    """The public information notice of an authorisation; journaled."""
    return make_document(request, db, caller, "notice", format, authorisation_id=authorisation_id)


@router.get("/documents/{kind}", tags=["documents"])
def document(
    request: Request,
    caller: DocumentReader,
    db: Db,
    kind: Literal["records", "technical", "accountability"],
    format: Annotated[
        str | None,
        Query(description="records, technical: html or md; accountability: html or csv."),
    ] = None,
    by: Annotated[
        Literal["day", "week", "month"], Query(description="Accountability: group by.")
    ] = "day",
    since: Annotated[Day | None, Query(description="Accountability: first day (UTC).")] = None,
    until: Annotated[Day | None, Query(description="Accountability: last day (UTC).")] = None,
) -> Response:
    """Records of processing (GDPR art. 30), technical file or accountability report;
    journaled."""
    return make_document(request, db, caller, kind, format, by=by, since=since, until=until)


class MissedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera: str = Field(description="The camera where the situation was seen.")
    situation: Literal[SITUATION_IDS] = Field(  # type: ignore[valid-type]
        description="Which of the eight situations no signal raised."
    )
    occurred_at: UtcDateTime = Field(description="When it happened (ISO 8601 with a time zone).")
    comment: str | None = Field(default=None, description="What was seen (optional).")


class MissedOut(BaseModel):
    id: int
    camera: str
    situation: str
    occurred_at: datetime
    reported_by: str
    comment: str | None
    created_at: datetime


def missed_json(row: MissedReport, username: str) -> MissedOut:
    return MissedOut(
        id=row.id, camera=row.camera, situation=row.situation, occurred_at=row.occurred_at,
        reported_by=username, comment=row.comment, created_at=row.created_at,
    )  # fmt: skip


def record_missed(db: Session, caller: Caller, body: MissedIn) -> MissedReport:
    """Check the caller's scope, then record; HTTPException with the reason otherwise."""
    camera_or_404(db, caller, body.camera)  # out of scope answers like an unknown camera
    user = db.get(User, caller.user_id)
    assert user is not None  # the session's own account
    try:
        return missed_store.report_missed(
            db, user, body.camera, body.situation, body.occurred_at, body.comment
        )
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None


@router.post("/missed", tags=["missed situations"], status_code=201)
def post_missed(caller: Watcher, db: Db, body: MissedIn) -> MissedOut:
    """Report a situation that no signal raised (SPEC §5); journaled `missed.reported`."""
    row = record_missed(db, caller, body)
    return missed_json(row, caller.username)


@router.get("/missed", tags=["missed situations"])
def get_missed(
    caller: Reader,
    db: Db,
    camera: str | None = None,
    situation: str | None = None,
    limit: Annotated[int, Query(ge=1, le=missed_store.MAX_LIST_LIMIT)] = 100,
) -> list[MissedOut]:
    """Missed-situation reports of the cameras in the caller's scope, newest first."""
    seen = scope(db, caller)
    # Scoped callers: filter the newest reports by scope first, then keep `limit` of them.
    fetch = limit if seen is None else missed_store.MAX_LIST_LIMIT
    rows = missed_store.list_missed(db, camera=camera, situation=situation, limit=fetch)
    rows = [r for r in rows if seen is None or r.camera in seen][:limit]
    names = {uid: name for uid, name in db.execute(select(User.id, User.username))}
    return [missed_json(r, names.get(r.user_id, "?")) for r in rows]
