"""Authorisations (SPEC §4): the month rule, what is authorised when, and the store's records
(create, renew, revoke, each journaled) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from veilleur import store
from veilleur.compliance import journal
from veilleur.compliance.authorisations import (
    AuthorisationInput,
    Grant,
    grants_at,
    month_after,
    renewal_input,
    status_of,
)

pytest_plugins = ["db_fixtures"]

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def content(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "reference": "2025-07-PP-0042",
        "issuer": "Préfet de police",
        "controller": "Direction de l'ordre public",
        "rights_contact": "dpo@interieur.example",
        "served_kind": "sporting_event",
        "served_name": "Final of the cup",
        "perimeter": "The stadium's forecourt and its access ways",
        "cameras": ["plaza", "gate"],
        "situations": ["zone_intrusion", "wrong_way"],
        "recipient_services": ["control room"],
        "starts_at": T0,
        "ends_at": T0 + timedelta(days=3),
    }
    data.update(changes)
    return data


def errors(**changes: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        AuthorisationInput.model_validate(content(**changes))
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in info.value.errors()]


# --- the month rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "limit"),
    [
        (datetime(2025, 1, 31, 10, 30, tzinfo=UTC), datetime(2025, 2, 28, 10, 30, tzinfo=UTC)),
        (datetime(2024, 1, 31, 10, 30, tzinfo=UTC), datetime(2024, 2, 29, 10, 30, tzinfo=UTC)),
        (datetime(2025, 12, 15, 0, 0, tzinfo=UTC), datetime(2026, 1, 15, 0, 0, tzinfo=UTC)),
        (datetime(2025, 3, 31, 23, 0, tzinfo=UTC), datetime(2025, 4, 30, 23, 0, tzinfo=UTC)),
        (datetime(2025, 7, 1, 8, 0, tzinfo=UTC), datetime(2025, 8, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_one_month_is_the_same_day_and_time_next_month_clamped(
    start: datetime, limit: datetime
) -> None:
    assert month_after(start) == limit
    AuthorisationInput.model_validate(content(starts_at=start, ends_at=limit))
    (_, msg), *_ = errors(starts_at=start, ends_at=limit + timedelta(seconds=1))
    assert "ends_at" in msg and "more than one month" in msg and limit.isoformat() in msg


def test_the_month_is_counted_in_the_time_zone_given() -> None:
    paris = timezone(timedelta(hours=2))
    start = datetime(2025, 5, 31, 22, 0, tzinfo=paris)  # May 31 in Paris, 20:00 UTC
    assert month_after(start) == datetime(2025, 6, 30, 22, 0, tzinfo=paris)


def test_errors_name_the_field() -> None:
    (_, msg), *_ = errors(ends_at=T0)
    assert "ends_at" in msg and "after starts_at" in msg
    (_, msg), *_ = errors(ends_at=T0 - timedelta(hours=1))
    assert "must be after" in msg
    assert errors(situations=["zone_intrusion", "loitering"])[0][0] == "situations"
    assert "'loitering'" in errors(situations=["loitering"])[0][1]
    assert errors(cameras=[])[0][0] == "cameras"
    assert errors(recipient_services=[])[0][0] == "recipient_services"
    assert errors(situations=[])[0][0] == "situations"
    assert errors(reference="  ")[0][0] == "reference"
    assert errors(served_kind="concert")[0][0] == "served_kind"
    assert errors(starts_at="2025-07-01T08:00:00")[0][0] == "starts_at"  # no time zone
    assert errors(colour="blue")[0][0] == "colour"
    assert errors(cameras=["plaza", " "])[0][0] == "cameras"


def test_names_are_trimmed_and_listed_once() -> None:
    data = AuthorisationInput.model_validate(
        content(cameras=[" plaza", "plaza", "gate"], situations=["weapon", "weapon"])
    )
    assert data.cameras == ["plaza", "gate"] and data.situations == ["weapon"]


def test_every_field_is_described() -> None:
    for name, field in AuthorisationInput.model_fields.items():
        assert field.description, name


# --- what is authorised when ------------------------------------------------------------------


def grant(
    gid: int, cameras: list[str], situations: list[str], start: datetime, hours: float,
    revoked: datetime | None = None,
) -> Grant:  # fmt: skip
    return Grant(gid, cameras, situations, start, start + timedelta(hours=hours), revoked)


def test_processing_is_authorised_only_inside_an_active_authorisation() -> None:
    g = grant(1, ["plaza"], ["zone_intrusion"], T0, 2)
    inside = grants_at([g], T0 + timedelta(hours=1))
    assert inside.allows("plaza", "zone_intrusion")
    assert not inside.allows("gate", "zone_intrusion")  # wrong camera
    assert not inside.allows("plaza", "weapon")  # wrong situation
    assert not grants_at([g], T0 - timedelta(seconds=1)).allows("plaza", "zone_intrusion")
    assert grants_at([g], T0).allows("plaza", "zone_intrusion")  # the start is inside
    assert not grants_at([g], T0 + timedelta(hours=2)).allows("plaza", "zone_intrusion")  # end
    revoked = grant(1, ["plaza"], ["zone_intrusion"], T0, 2, revoked=T0 + timedelta(minutes=30))
    assert grants_at([revoked], T0 + timedelta(minutes=29)).allows("plaza", "zone_intrusion")
    assert not grants_at([revoked], T0 + timedelta(minutes=30)).situations
    assert grants_at([revoked], T0 + timedelta(minutes=30)).active_ids == frozenset()


def test_situations_add_up_over_authorisations_and_the_next_bound_is_known() -> None:
    a = grant(1, ["plaza"], ["zone_intrusion"], T0, 4)
    b = grant(2, ["plaza", "gate"], ["wrong_way"], T0 + timedelta(hours=1), 1)
    before = grants_at([a, b], T0 - timedelta(hours=1))
    assert before.situations == {} and before.next_change == T0
    at = grants_at([a, b], T0 + timedelta(minutes=90))
    assert at.situations == {
        "plaza": frozenset({"zone_intrusion", "wrong_way"}),
        "gate": frozenset({"wrong_way"}),
    }
    assert at.active_ids == {1, 2}
    assert at.next_change == T0 + timedelta(hours=2)  # b ends
    late = grants_at([a, b], T0 + timedelta(hours=3))
    assert late.next_change == T0 + timedelta(hours=4)
    assert grants_at([a, b], T0 + timedelta(hours=5)).next_change is None
    revoked = grant(3, ["gate"], ["weapon"], T0 + timedelta(hours=6), 1, revoked=T0)
    assert grants_at([revoked], T0 + timedelta(hours=1)).next_change is None


def test_status_badges() -> None:
    g = grant(1, ["plaza"], ["weapon"], T0, 1)
    assert status_of(g, T0 - timedelta(seconds=1)) == "upcoming"
    assert status_of(g, T0) == "active"
    assert status_of(g, T0 + timedelta(hours=1)) == "ended"
    assert status_of(grant(1, ["p"], ["weapon"], T0, 1, revoked=T0), T0) == "revoked"


# --- the store --------------------------------------------------------------------------------


def entries(s: Session, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (e.actor, e.target, json.loads(e.details))
        for e in reversed(journal.query(s, action=action, limit=100))
    ]


def test_create_renew_revoke_are_journaled_records(db_session: Session) -> None:
    s = db_session
    a = store.create_authorisation(s, AuthorisationInput(**content()), actor="alice")
    assert a.id and a.created_by == "alice" and a.renews_id is None
    assert a.starts_at == T0 and a.starts_at.tzinfo is not None
    (actor, target, details), = entries(s, "authorisation.created")  # fmt: skip
    assert (actor, target) == ("alice", f"authorisation:{a.id}")
    assert details["cameras"] == ["plaza", "gate"]
    assert details["situations"] == ["zone_intrusion", "wrong_way"]
    assert details["ends_at"] == (T0 + timedelta(days=3)).isoformat()

    new_bounds = {"starts_at": T0 + timedelta(days=3), "ends_at": T0 + timedelta(days=30)}
    data = renewal_input(a, {**new_bounds, "reference": "2025-07-PP-0077", "cameras": ["gate"]})
    b = store.renew_authorisation(s, a.id, data, actor="alice")
    assert b.id != a.id and b.renews_id == a.id
    assert b.reference == "2025-07-PP-0077" and b.cameras == ["gate"]
    assert b.issuer == a.issuer and b.situations == a.situations
    assert a.ends_at == T0 + timedelta(days=3)  # the old record is unchanged
    (_, target, details), = entries(s, "authorisation.renewed")  # fmt: skip
    assert target == f"authorisation:{b.id}" and details["renews"] == a.id
    assert [r.id for r in store.renewal_chain(s, a.id)] == [a.id, b.id]
    assert [r.id for r in store.renewal_chain(s, b.id)] == [a.id, b.id]
    with pytest.raises(store.AuthorisationError, match=f"already renewed by authorisation {b.id}"):
        store.renew_authorisation(s, a.id, data, actor="alice")
    early = renewal_input(b, {"starts_at": T0, "ends_at": T0 + timedelta(days=2)})
    with pytest.raises(store.AuthorisationError, match="starts_at: a renewal starts no earlier"):
        store.renew_authorisation(s, b.id, early, actor="alice")

    at = T0 + timedelta(days=4)
    r = store.revoke_authorisation(s, b.id, "  The event was cancelled  ", actor="bob", at=at)
    assert (r.revoked_at, r.revoked_by) == (at, "bob")
    assert r.revocation_reason == "The event was cancelled"
    (actor, _, details), = entries(s, "authorisation.revoked")  # fmt: skip
    assert actor == "bob" and details["reason"] == "The event was cancelled"
    with pytest.raises(store.AuthorisationError, match="already revoked"):
        store.revoke_authorisation(s, b.id, "again", actor="bob")
    with pytest.raises(store.AuthorisationError, match="revoked; a revoked decision"):
        later = renewal_input(b, {"starts_at": T0 + timedelta(days=5)})
        store.renew_authorisation(s, b.id, later, actor="alice")
    with pytest.raises(store.AuthorisationError, match="reason"):
        store.revoke_authorisation(s, a.id, "   ", actor="bob")
    with pytest.raises(LookupError):
        store.revoke_authorisation(s, 999, "no such", actor="bob")
    assert len(entries(s, "authorisation.revoked")) == 1  # refusals journal nothing
    assert journal.verify(s).ok


def test_lists_filter_active_and_current(db_session: Session) -> None:
    s = db_session
    a = store.create_authorisation(s, AuthorisationInput(**content()), actor="alice")
    later = content(starts_at=T0 + timedelta(days=10), ends_at=T0 + timedelta(days=12))
    b = store.create_authorisation(s, AuthorisationInput(**later), actor="alice")
    c = store.create_authorisation(s, AuthorisationInput(**content()), actor="alice")
    store.revoke_authorisation(s, c.id, "superseded", actor="alice")
    assert [r.id for r in store.list_authorisations(s)] == [b.id, c.id, a.id]
    day1 = T0 + timedelta(days=1)
    assert [r.id for r in store.list_authorisations(s, active_at=day1)] == [a.id]
    assert [r.id for r in store.list_authorisations(s, current_from=day1)] == [b.id, a.id]
    assert store.list_authorisations(s, active_at=T0 + timedelta(days=5)) == []
    assert store.get_authorisation(s, a.id) is a and store.get_authorisation(s, 404) is None
