"""REST routes of authorisations (SPEC §4); see docs/authorisations.md.

Read: supervisors, administrators, auditors. Create, renew, revoke: administrators. Each change
is applied to the cameras before the answer (a revocation stops what it allowed at once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from veilleur import store
from veilleur.compliance.authorisations import (
    AuthorisationInput,
    ServedKind,
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
from veilleur.service.inputs import Id, UtcDateTime
from veilleur.service.platform import Platform, Problem
from veilleur.service.scope import cameras_in_scope

router = APIRouter(prefix="/api")

READERS = (SUPERVISOR, ADMINISTRATOR, AUDITOR)
Reader = Annotated[Caller, Depends(allow(*READERS))]
Admin = Annotated[Caller, Depends(allow(ADMINISTRATOR))]


class RenewalIn(BaseModel):
    """A renewal: the new decision's bounds, and whatever else it changes."""

    model_config = ConfigDict(extra="forbid")

    starts_at: UtcDateTime = Field(description="Start of the renewal (with its time zone).")
    ends_at: UtcDateTime = Field(description="Its end: at most one calendar month later.")
    reference: str | None = Field(default=None, description="The new decision's reference.")
    issuer: str | None = Field(default=None, description="Who decided, if it changed.")
    controller: str | None = Field(default=None, description="Data controller, if changed.")
    rights_contact: str | None = Field(default=None, description="Rights contact, if changed.")
    served_kind: ServedKind | None = Field(default=None, description="What is served, if changed.")
    served_name: str | None = Field(default=None, description="Event or network, if changed.")
    perimeter: str | None = Field(default=None, description="The perimeter, if changed.")
    cameras: list[str] | None = Field(default=None, description="The cameras, if changed.")
    situations: list[str] | None = Field(default=None, description="Situations, if changed.")
    recipient_services: list[str] | None = Field(
        default=None, description="The services receiving signals, if changed."
    )


class RevocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, description="Why it is revoked.")


def platform(request: Request) -> Platform:
    plat: Platform = request.app.state.platform
    return plat


Plat = Annotated[Platform, Depends(platform)]


def unprocessable(problems: list[Problem]) -> HTTPException:
    return HTTPException(422, detail=[p.to_dict() for p in problems])


def refused(exc: ValueError) -> HTTPException:
    """A rule of the store or the platform ('key: message' when it names a field)."""
    return unprocessable([refusal(exc)])


def parse_input(data: Any) -> AuthorisationInput:
    if not isinstance(data, dict):
        raise unprocessable([Problem("", "an authorisation is a JSON object")])
    try:
        return AuthorisationInput.model_validate(data)
    except ValidationError as exc:
        raise unprocessable(problems_of(exc)) from None


def authorisation_json(
    row: store.Authorisation,
    at: datetime,
    renewed_by: int | None = None,
    visible: set[str] | None = None,
) -> dict[str, Any]:
    """An authorisation as JSON; `visible` (a scope): only the cameras in it are named."""
    return {
        "id": row.id,
        "reference": row.reference,
        "issuer": row.issuer,
        "controller": row.controller,
        "rights_contact": row.rights_contact,
        "served_kind": row.served_kind,
        "served_name": row.served_name,
        "perimeter": row.perimeter,
        "cameras": cameras_in_scope(visible, row.cameras),
        "situations": list(row.situations),
        "recipient_services": list(row.recipient_services),
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "status": status_of(row, at),
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "renews_id": row.renews_id,
        "renewed_by_id": renewed_by,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "revoked_by": row.revoked_by,
        "revocation_reason": row.revocation_reason,
        "notice_url": f"/documents/notice/{row.id}",
    }


def _json(
    db: Db, plat: Platform, row: store.Authorisation, visible: set[str] | None = None
) -> dict[str, Any]:
    later = store.renewed_by(db, row.id)
    return authorisation_json(row, plat.clock(), later.id if later else None, visible)


@router.get("/authorisations", tags=["authorisations"])
def list_authorisations(
    caller: Reader, db: Db, plat: Plat, active: bool = False
) -> list[dict[str, Any]]:
    """Every authorisation, newest start first; `active=true`: only those active now. An
    account with a service sees those covering one of its cameras, naming only those (S9)."""
    rows, visible = visible_authorisations(db, caller, active_at=plat.clock() if active else None)
    return [_json(db, plat, r, visible) for r in rows]


@router.get("/authorisations/{authorisation_id}", tags=["authorisations"])
def get_authorisation(authorisation_id: Id, caller: Reader, db: Db, plat: Plat) -> dict[str, Any]:
    """One authorisation, with the ids of the records it renews and that renew it (404 for an
    account with a service when it covers none of its cameras)."""
    row = existing(db, authorisation_id)
    return _json(db, plat, row, in_scope(db, caller, row))


@router.post("/authorisations", status_code=201, tags=["authorisations"])
def create_authorisation(
    caller: Admin,
    db: Db,
    plat: Plat,
    body: Annotated[
        dict[str, Any],
        Body(
            description="An AuthorisationInput: reference, issuer, controller, rights_contact, "
            "served_kind, served_name, perimeter, cameras, situations, recipient_services, "
            "starts_at, ends_at (at most one month)."
        ),
    ],
) -> dict[str, Any]:
    """Record an authorisation; live processing follows it at once (422 names each field)."""
    data = parse_input(body)
    try:
        row = plat.create_authorisation(db, data, actor=caller.username)
    except ValueError as exc:
        raise refused(exc) from None
    return _json(db, plat, row)


@router.post("/authorisations/{authorisation_id}/renew", status_code=201, tags=["authorisations"])
def renew_authorisation(
    authorisation_id: Id,
    caller: Admin,
    db: Db,
    plat: Plat,
    body: Annotated[dict[str, Any], Body(description="A RenewalIn: new bounds and changes.")],
) -> dict[str, Any]:
    """Renew an authorisation: a new record for the new period (renewal is a new decision)."""
    old = existing(db, authorisation_id)
    try:
        changes = RenewalIn.model_validate(body)
        data = renewal_input(old, changes.model_dump(exclude_none=True))
    except ValidationError as exc:
        raise unprocessable(problems_of(exc)) from None
    try:
        row = plat.renew_authorisation(db, authorisation_id, data, actor=caller.username)
    except ValueError as exc:
        raise refused(exc) from None
    return _json(db, plat, row)


@router.post("/authorisations/{authorisation_id}/revoke", tags=["authorisations"])
def revoke_authorisation(
    authorisation_id: Id,
    caller: Admin,
    db: Db,
    plat: Plat,
    body: Annotated[dict[str, Any], Body(description='{"reason": "why it is revoked"}')],
) -> dict[str, Any]:
    """Revoke an authorisation: what it allowed stops before this answers."""
    existing(db, authorisation_id)
    try:
        reason = RevocationIn.model_validate(body).reason
    except ValidationError as exc:
        raise unprocessable(problems_of(exc)) from None
    try:
        row = plat.revoke_authorisation(db, authorisation_id, reason, actor=caller.username)
    except ValueError as exc:
        raise refused(exc) from None
    return _json(db, plat, row)
