"""Console pages of the generated documents (administrator, auditor) and of missed-situation
reports (operator, supervisor, administrator); see docs/documents.md."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from veilleur.compliance import documents
from veilleur.compliance.documents.notice import status as authorisation_status
from veilleur.http.auth import Db, allow
from veilleur.http.downloads import document_response
from veilleur.service.access import JOURNAL, WATCH, Caller
from veilleur.service.documents import (
    MissedIn,
    camera_names,
    generate,
    missed_reports,
    notice_authorisations,
    record_missed,
    sources,
)
from veilleur.service.errors import ServiceError
from veilleur.service.inputs import RANGE, in_range
from veilleur.web.pages import render

router = APIRouter(include_in_schema=False)

DocumentReader = Annotated[Caller, Depends(allow(*JOURNAL))]
Watcher = Annotated[Caller, Depends(allow(*WATCH))]
MISSED_SHOWN = 50


def _split(name: str, formats: tuple[str, ...]) -> tuple[str, str]:
    """'records.md' → ('records', 'md'); 'records' → ('records', first format)."""
    stem, dot, fmt = name.partition(".")
    if dot and fmt not in formats:
        raise HTTPException(404, detail=f"no such format: .{fmt} (one of {', '.join(formats)})")
    return stem, fmt if dot else formats[0]


@router.get("/documents", response_class=HTMLResponse)
def documents_page(request: Request, caller: DocumentReader, db: Db) -> HTMLResponse:
    """Every document that can be generated, with its links."""
    auths = notice_authorisations(db)
    src = sources(request.app.state.settings)
    return render(
        request,
        "documents.html",
        caller,
        {
            "authorisations": [(a, authorisation_status(a, src)) for a in auths],
            "formats": documents.FORMATS,
            "periods": documents.BUCKETS,
            "evaluation": src.evaluation,
        },
    )


@router.get("/documents/notice/{name}")
def notice_document(request: Request, caller: DocumentReader, db: Db, name: str) -> Response:
    """/documents/notice/ID (HTML) or /documents/notice/ID.pdf; journaled."""
    stem, fmt = _split(name, documents.FORMATS["notice"])
    if not stem.isdigit():
        raise HTTPException(404, detail="no such authorisation")
    doc = generate(
        db, request.app.state.settings, caller, "notice", fmt, authorisation_id=int(stem)
    )
    return document_response(doc)


@router.get("/documents/{name}")
def other_document(
    request: Request,
    caller: DocumentReader,
    db: Db,
    name: str,
    by: Literal["day", "week", "month"] = "day",
    since: str | None = None,
    until: str | None = None,
) -> Response:
    """/documents/records[.md], /documents/technical[.md], /documents/accountability[.csv]
    (with by, since, until); journaled."""
    kind = name.partition(".")[0]
    if kind not in ("records", "technical", "accountability"):
        raise HTTPException(404, detail=f"no document named {kind!r}")
    _, fmt = _split(name, documents.FORMATS[kind])
    first, last = _day(since, "since"), _day(until, "until")
    doc = generate(
        db, request.app.state.settings, caller, kind, fmt, by=by, since=first, until=last
    )
    return document_response(doc)


def _day(value: str | None, key: str) -> date | None:
    """A form's date field: the console's accountability form sends its empty date inputs as
    `since=&until=`, which mean no bound."""
    if not value:
        return None
    try:
        return in_range(date.fromisoformat(value))
    except ValueError:
        raise HTTPException(
            422, detail=f"{key}: '{value}' is not a date (YYYY-MM-DD) {RANGE}"
        ) from None


def _missed_page(
    request: Request,
    caller: Caller,
    db: Db,
    *,
    error: str | None = None,
    done: bool = False,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "missed.html",
        caller,
        {
            "cameras": camera_names(db, caller),
            "reports": missed_reports(db, caller, limit=MISSED_SHOWN),
            "error": error,
            "done": done,
            "now": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
        },
        status,
    )


@router.get("/missed", response_class=HTMLResponse)
def missed_page(request: Request, caller: Watcher, db: Db, done: bool = False) -> HTMLResponse:
    """Report a situation no signal raised; the latest reports of the caller's cameras."""
    return _missed_page(request, caller, db, done=done)


@router.post("/missed", response_model=None)
def missed_submit(
    request: Request,
    caller: Watcher,
    db: Db,
    camera: Annotated[str, Form()],
    situation: Annotated[str, Form()],
    occurred_at: Annotated[str, Form()],
    comment: Annotated[str, Form()] = "",
) -> Response:
    """The form's submission: recorded and journaled, or the form again with the reason."""
    try:
        # datetime-local gives no time zone: the form says the time is UTC.
        when = datetime.fromisoformat(occurred_at)
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        body = MissedIn(camera=camera, situation=situation, occurred_at=when, comment=comment)
    except (ValueError, ValidationError):
        return _missed_page(
            request, caller, db, status=400,
            error="give a camera, one of the eight situations and the time as YYYY-MM-DD HH:MM",
        )  # fmt: skip
    try:
        record_missed(db, caller, body)
    except ServiceError as exc:
        return _missed_page(request, caller, db, error=exc.message, status=exc.status)
    return RedirectResponse("/missed?done=1", status_code=303)
