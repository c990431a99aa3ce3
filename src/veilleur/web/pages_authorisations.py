"""Console pages of authorisations (SPEC §4); see docs/authorisations.md.

Supervisors, administrators and auditors read them; administrators create, renew and revoke.
Times in the forms are UTC, like every time the console shows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from veilleur import store
from veilleur.compliance.authorisations import (
    AuthorisationInput,
    month_after,
    renewal_input,
    status_of,
)
from veilleur.http.auth import Db, allow
from veilleur.service.access import ADMINISTRATOR, AUDITOR, SUPERVISOR, Caller
from veilleur.service.authorisations import (
    existing,
    in_scope,
    problems_of,
    refusal,
    visible_authorisations,
)
from veilleur.service.errors import NotFound
from veilleur.service.inputs import Id
from veilleur.service.platform import Platform, Problem
from veilleur.service.scope import cameras_in_scope
from veilleur.store.models import SERVED_KINDS
from veilleur.web.pages import render

router = APIRouter(include_in_schema=False)

Reader = Annotated[Caller, Depends(allow(SUPERVISOR, ADMINISTRATOR, AUDITOR))]
Admin = Annotated[Caller, Depends(allow(ADMINISTRATOR))]

STATUS_ORDER = ("active", "upcoming", "ended", "revoked")
STATUS_PILL = {"active": "running", "upcoming": "starting", "ended": "stopped", "revoked": "failed"}
SERVED_LABELS = {
    "sporting_event": "Sporting event",
    "recreational_event": "Recreational event",
    "cultural_event": "Cultural event",
    "transport_network": "Transport network",
}
FORM_TIME = "%Y-%m-%dT%H:%M"


def _plat(request: Request) -> Platform:
    plat: Platform = request.app.state.platform
    return plat


def _form_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(FORM_TIME)


def _parse_time(value: str, key: str, problems: list[Problem]) -> datetime | str:
    """A form's datetime-local value (UTC); an unreadable one is left for the model to refuse."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.append(Problem(key, f"'{value}' is not a date and time (YYYY-MM-DDTHH:MM, UTC)"))
        return value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _services(text: str) -> list[str]:
    return [s.strip() for s in text.replace("\n", ",").split(",") if s.strip()]


def _context(request: Request, db: Db, caller: Caller) -> dict[str, Any]:
    now = _plat(request).clock()
    # An account with a service sees those covering its cameras only (S9).
    rows, visible = visible_authorisations(db, caller)
    groups: dict[str, list[dict[str, Any]]] = {k: [] for k in STATUS_ORDER}
    for row in rows:
        status = status_of(row, now)
        groups[status].append({"row": row, "status": status})
    start = now.replace(second=0, microsecond=0)
    return {
        "groups": groups,
        "status_order": STATUS_ORDER,
        "status_pill": STATUS_PILL,
        "served_kinds": SERVED_KINDS,
        "served_labels": SERVED_LABELS,
        "camera_names": cameras_in_scope(visible, [c.name for c in store.list_cameras(db)]),
        "shown": lambda cameras: cameras_in_scope(visible, cameras),
        "form": {
            "starts_at": _form_time(start),
            "ends_at": _form_time(month_after(start)),
            "cameras": [],
            "situations": [],
        },
        "problems": [],
    }


@router.get("/authorisations", response_class=HTMLResponse)
def authorisations_page(request: Request, caller: Reader, db: Db) -> HTMLResponse:
    return render(request, "authorisations.html", caller, _context(request, db, caller))


@router.post("/authorisations", response_model=None)
def authorisations_create(
    request: Request,
    caller: Admin,
    db: Db,
    reference: Annotated[str, Form()] = "",
    issuer: Annotated[str, Form()] = "",
    controller: Annotated[str, Form()] = "",
    rights_contact: Annotated[str, Form()] = "",
    served_kind: Annotated[str, Form()] = "",
    served_name: Annotated[str, Form()] = "",
    perimeter: Annotated[str, Form()] = "",
    cameras: Annotated[list[str] | None, Form()] = None,
    situations: Annotated[list[str] | None, Form()] = None,
    recipient_services: Annotated[str, Form()] = "",
    starts_at: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "",
) -> Response:
    form: dict[str, Any] = {
        "reference": reference, "issuer": issuer, "controller": controller,
        "rights_contact": rights_contact, "served_kind": served_kind,
        "served_name": served_name, "perimeter": perimeter, "cameras": cameras or [],
        "situations": situations or [], "recipient_services": recipient_services,
        "starts_at": starts_at, "ends_at": ends_at,
    }  # fmt: skip
    problems: list[Problem] = []
    data = {
        **form,
        "recipient_services": _services(recipient_services),
        "starts_at": _parse_time(starts_at, "starts_at", problems),
        "ends_at": _parse_time(ends_at, "ends_at", problems),
    }
    if not problems:
        try:
            parsed = AuthorisationInput.model_validate(data)
            row = _plat(request).create_authorisation(db, parsed, actor=caller.username)
            return RedirectResponse(f"/authorisations/{row.id}", 303)
        except ValidationError as exc:
            problems = problems_of(exc)
        except ValueError as exc:
            problems = [refusal(exc)]
    ctx = _context(request, db, caller)
    ctx.update(form=form, problems=problems)
    return render(request, "authorisations.html", caller, ctx, 422)


def _existing(db: Db, authorisation_id: Id) -> store.Authorisation:
    try:
        return existing(db, authorisation_id)
    except NotFound:
        raise HTTPException(404) from None


def _detail(
    request: Request,
    db: Db,
    caller: Caller,
    row: store.Authorisation,
    problems: list[Problem] | None = None,
    renew_form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    now = _plat(request).clock()
    try:
        visible = in_scope(db, caller, row)
    except NotFound:
        raise HTTPException(404) from None
    chain = store.renewal_chain(db, row.id)
    later = store.renewed_by(db, row.id)
    start = max(row.ends_at, now).replace(second=0, microsecond=0)
    ctx = {
        "a": row,
        "status": status_of(row, now),
        "status_pill": STATUS_PILL,
        "served_labels": SERVED_LABELS,
        "chain": [{"row": r, "status": status_of(r, now)} for r in chain],
        "renewed_by": later,
        "problems": problems or [],
        "renew_form": renew_form
        or {
            "starts_at": _form_time(start),
            "ends_at": _form_time(month_after(start)),
            "reference": "",
        },
        "waiting": _plat(request).waiting_cameras(),
        "shown": lambda cameras: cameras_in_scope(visible, cameras),
    }
    return render(request, "authorisation.html", caller, ctx, status)


@router.get("/authorisations/{authorisation_id}", response_class=HTMLResponse)
def authorisation_page(
    authorisation_id: Id, request: Request, caller: Reader, db: Db
) -> HTMLResponse:
    return _detail(request, db, caller, _existing(db, authorisation_id))


@router.post("/authorisations/{authorisation_id}/revoke", response_model=None)
def authorisation_revoke(
    authorisation_id: Id,
    request: Request,
    caller: Admin,
    db: Db,
    reason: Annotated[str, Form()] = "",
) -> Response:
    row = _existing(db, authorisation_id)
    try:
        _plat(request).revoke_authorisation(db, authorisation_id, reason, actor=caller.username)
    except ValueError as exc:
        db.rollback()
        return _detail(request, db, caller, row, [refusal(exc)], status=422)
    return RedirectResponse(f"/authorisations/{authorisation_id}", 303)


@router.post("/authorisations/{authorisation_id}/renew", response_model=None)
def authorisation_renew(
    authorisation_id: Id,
    request: Request,
    caller: Admin,
    db: Db,
    starts_at: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
) -> Response:
    old = _existing(db, authorisation_id)
    form = {"starts_at": starts_at, "ends_at": ends_at, "reference": reference}
    problems: list[Problem] = []
    changes = {
        "starts_at": _parse_time(starts_at, "starts_at", problems),
        "ends_at": _parse_time(ends_at, "ends_at", problems),
        "reference": reference.strip() or None,
    }
    if not problems:
        try:
            data = renewal_input(old, changes)
            row = _plat(request).renew_authorisation(
                db, authorisation_id, data, actor=caller.username
            )
            return RedirectResponse(f"/authorisations/{row.id}", 303)
        except ValidationError as exc:
            problems = problems_of(exc)
        except ValueError as exc:
            problems = [refusal(exc)]
    db.rollback()
    return _detail(request, db, caller, old, problems, form, 422)
