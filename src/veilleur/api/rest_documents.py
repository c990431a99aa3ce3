"""REST routes of the generated documents and of missed-situation reports (issue 5; SPEC §4,
§5); see docs/documents.md.

Documents (administrator, auditor): each generation is journaled `document.generated`.
Missed situations: operators, supervisors and administrators report them; every reader lists
them; both only for cameras in the caller's scope.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from veilleur.compliance import documents
from veilleur.http.auth import Db, allow
from veilleur.http.downloads import document_response
from veilleur.service.access import JOURNAL, READ, WATCH, Caller
from veilleur.service.documents import (
    MissedIn,
    generate,
    missed_reports,
    notice_authorisations,
    record_missed,
)
from veilleur.service.inputs import Day, Id
from veilleur.store import missed as missed_store
from veilleur.store.models import MissedReport

router = APIRouter(prefix="/api")

DocumentReader = Annotated[Caller, Depends(allow(*JOURNAL))]
Watcher = Annotated[Caller, Depends(allow(*WATCH))]
Reader = Annotated[Caller, Depends(allow(*READ))]


def make_document(
    request: Request,
    db: Session,
    caller: Caller,
    kind: str,
    fmt: str | None,
    **options: Any,
) -> Response:
    """Generate, journal and answer one document (inline HTML, other formats as a download)."""
    settings = request.app.state.settings
    return document_response(generate(db, settings, caller, kind, fmt, **options))


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
    auths = notice_authorisations(db)
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
    rows = missed_reports(db, caller, camera=camera, situation=situation, limit=limit)
    return [missed_json(r, name) for r, name in rows]
