"""Authorisations of live processing (SPEC §4): create, renew, revoke, read.

A record is never edited: renewal adds a new record pointing to the one it renews, revocation
fills the `revoked_*` columns once. Each change commits with its journal entry. The content is
validated by `veilleur.compliance.authorisations.AuthorisationInput` before it gets here; the
API also checks that the cameras exist (the store accepts a camera that is yet to be added).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.store.journal import append as journal_append
from veilleur.store.models import Authorisation, utcnow


class AuthorisationInput(Protocol):
    """What the store records of a decision. `veilleur.compliance.authorisations.
    AuthorisationInput` validates it; the store names only the fields it keeps, so that it
    depends on no layer above it."""

    @property
    def reference(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def controller(self) -> str: ...
    @property
    def rights_contact(self) -> str: ...
    @property
    def served_kind(self) -> str: ...
    @property
    def served_name(self) -> str: ...
    @property
    def perimeter(self) -> str: ...
    @property
    def cameras(self) -> Sequence[str]: ...
    @property
    def situations(self) -> Sequence[str]: ...
    @property
    def recipient_services(self) -> Sequence[str]: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...


class AuthorisationError(ValueError):
    """A change the rules refuse (revoking twice, renewing a revoked record...)."""


def _details(a: Authorisation) -> dict[str, Any]:
    # What the decision allows; the perimeter text and contacts stay in the record.
    return {
        "reference": a.reference,
        "issuer": a.issuer,
        "served_kind": a.served_kind,
        "served_name": a.served_name,
        "cameras": list(a.cameras),
        "situations": list(a.situations),
        "recipient_services": list(a.recipient_services),
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat(),
    }


def _record(data: AuthorisationInput, actor: str, renews_id: int | None) -> Authorisation:
    return Authorisation(
        reference=data.reference,
        issuer=data.issuer,
        controller=data.controller,
        rights_contact=data.rights_contact,
        served_kind=data.served_kind,
        served_name=data.served_name,
        perimeter=data.perimeter,
        cameras=list(data.cameras),
        situations=list(data.situations),
        recipient_services=list(data.recipient_services),
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        created_by=actor,
        renews_id=renews_id,
    )


def create_authorisation(s: Session, data: AuthorisationInput, *, actor: str) -> Authorisation:
    """Record a new authorisation, journaled as `actor`'s (`authorisation.created`)."""
    row = _record(data, actor, None)
    s.add(row)
    s.flush()
    journal_append(s, actor, "authorisation.created", f"authorisation:{row.id}", _details(row))
    s.commit()
    return row


def renewed_by(s: Session, authorisation_id: int) -> Authorisation | None:
    """The record that renews this one, if any."""
    return s.scalar(select(Authorisation).where(Authorisation.renews_id == authorisation_id))


def renew_authorisation(
    s: Session, old_id: int, data: AuthorisationInput, *, actor: str
) -> Authorisation:
    """Record the renewal of authorisation `old_id` as a new record (`renews_id`), journaled
    (`authorisation.renewed`). Refused for an unknown, revoked or already renewed record, or a
    renewal starting before the record it renews."""
    old = _existing(s, old_id)
    if old.revoked_at is not None:
        raise AuthorisationError(
            f"authorisation {old_id} was revoked; a revoked decision is not renewed, record a "
            "new authorisation instead"
        )
    later = renewed_by(s, old_id)
    if later is not None:
        raise AuthorisationError(
            f"authorisation {old_id} was already renewed by authorisation {later.id}; renew "
            f"that one"
        )
    if data.starts_at < old.starts_at:
        raise AuthorisationError(
            f"starts_at: a renewal starts no earlier than the authorisation it renews "
            f"({old.starts_at.isoformat()})"
        )
    row = _record(data, actor, old_id)
    s.add(row)
    s.flush()
    details = {**_details(row), "renews": old_id}
    journal_append(s, actor, "authorisation.renewed", f"authorisation:{row.id}", details)
    s.commit()
    return row


def revoke_authorisation(
    s: Session, authorisation_id: int, reason: str, *, actor: str, at: datetime | None = None
) -> Authorisation:
    """Revoke an authorisation now, once (AuthorisationError the second time), journaled
    (`authorisation.revoked`) with its reason."""
    reason = reason.strip()
    if not reason:
        raise AuthorisationError("reason: say why the authorisation is revoked")
    row = _existing(s, authorisation_id)
    if row.revoked_at is not None:
        raise AuthorisationError(
            f"authorisation {authorisation_id} was already revoked on "
            f"{row.revoked_at.isoformat()} by {row.revoked_by}"
        )
    row.revoked_at = at or utcnow()
    row.revoked_by = actor
    row.revocation_reason = reason
    s.flush()
    details = {
        "reference": row.reference,
        "cameras": list(row.cameras),
        "situations": list(row.situations),
        "reason": reason,
    }
    journal_append(s, actor, "authorisation.revoked", f"authorisation:{row.id}", details)
    s.commit()
    return row


def get_authorisation(s: Session, authorisation_id: int) -> Authorisation | None:
    return s.get(Authorisation, authorisation_id)


def _existing(s: Session, authorisation_id: int) -> Authorisation:
    row = s.get(Authorisation, authorisation_id)
    if row is None:
        raise LookupError(f"no authorisation {authorisation_id}")
    return row


def list_authorisations(
    s: Session, *, active_at: datetime | None = None, current_from: datetime | None = None
) -> list[Authorisation]:
    """Authorisations, newest start first. `active_at`: only those active then (started, not
    ended, not revoked). `current_from`: only those not revoked and not ended by then (active or
    upcoming: what the gate watches)."""
    q = select(Authorisation).order_by(Authorisation.starts_at.desc(), Authorisation.id.desc())
    if active_at is not None:
        q = q.where(
            Authorisation.starts_at <= active_at,
            Authorisation.ends_at > active_at,
            Authorisation.revoked_at.is_(None),
        )
    if current_from is not None:
        q = q.where(Authorisation.ends_at > current_from, Authorisation.revoked_at.is_(None))
    return list(s.scalars(q))


def renewal_chain(s: Session, authorisation_id: int) -> list[Authorisation]:
    """The records of one decision's renewals, oldest first, through `authorisation_id`."""
    row = _existing(s, authorisation_id)
    chain = [row]
    seen = {row.id}
    while chain[0].renews_id is not None and chain[0].renews_id not in seen:
        earlier = s.get(Authorisation, chain[0].renews_id)
        if earlier is None:
            break
        seen.add(earlier.id)
        chain.insert(0, earlier)
    nxt = renewed_by(s, chain[-1].id)
    while nxt is not None and nxt.id not in seen:
        seen.add(nxt.id)
        chain.append(nxt)
        nxt = renewed_by(s, nxt.id)
    return chain
