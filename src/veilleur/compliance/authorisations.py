"""Authorisations of live processing (SPEC §4): what a decision must say, and what it allows when.

Live processing of a camera and situation runs only while an authorisation listing both is
active: started (`starts_at <= t`), not ended (`t < ends_at`) and not revoked. An authorisation
lasts at most one calendar month; renewing it means a new record. This module is plain logic:
the store keeps the records, the platform's gate applies `grants_at` to the cameras.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from veilleur.config.common import SITUATION_IDS

ServedKind = Literal["sporting_event", "recreational_event", "cultural_event", "transport_network"]
"""What an authorisation serves (the same values as `veilleur.store.SERVED_KINDS`)."""


def month_after(start: datetime) -> datetime:
    """The same day and time one calendar month after `start`, on the month's last day when it
    has no such day (Jan 31 -> Feb 28 or 29), in `start`'s own time zone."""
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _names(values: list[str], field: str) -> list[str]:
    cleaned = [v.strip() for v in values]
    if any(not v for v in cleaned):
        raise ValueError(f"{field}: an empty name is not allowed")
    # Keep the order given, drop repeats: the record lists each one once.
    return list(dict.fromkeys(cleaned))


class AuthorisationInput(BaseModel):
    """The content of a prefect's decision authorising live processing (SPEC §4)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: str = Field(
        min_length=1, max_length=128,
        description="The decision's reference, e.g. the prefectoral order's number.",
    )  # fmt: skip
    issuer: str = Field(
        min_length=1, max_length=200,
        description="Who decided: the prefect of the département, or the police prefect.",
    )  # fmt: skip
    controller: str = Field(
        min_length=1, max_length=200,
        description="The data controller: the service or body that runs the processing.",
    )  # fmt: skip
    rights_contact: str = Field(
        min_length=1, max_length=300,
        description="Where people exercise their rights (the controller's data protection "
        "officer), printed on the public notice.",
    )  # fmt: skip
    served_kind: ServedKind = Field(
        description="What the processing serves: sporting_event, recreational_event, "
        "cultural_event (a large event) or transport_network.",
    )
    served_name: str = Field(
        min_length=1, max_length=200, description="The event or network served, by name."
    )
    perimeter: str = Field(
        min_length=1, max_length=5000,
        description="The geographic perimeter, in words, as the decision states it.",
    )  # fmt: skip
    cameras: list[str] = Field(
        min_length=1, description="The cameras whose pictures may be processed live."
    )
    situations: list[str] = Field(
        min_length=1,
        description="The situations (of the eight of decree 2023-828) that may be signalled.",
    )
    recipient_services: list[str] = Field(
        min_length=1, description="The user services that receive the signals."
    )
    starts_at: AwareDatetime = Field(
        description="When live processing may start (with its time zone, e.g. "
        "2025-07-01T08:00:00+02:00)."
    )
    ends_at: AwareDatetime = Field(
        description="When it must stop: after the start, at most one calendar month later."
    )

    @field_validator("cameras")
    @classmethod
    def _cameras(cls, v: list[str]) -> list[str]:
        return _names(v, "cameras")

    @field_validator("recipient_services")
    @classmethod
    def _services(cls, v: list[str]) -> list[str]:
        return _names(v, "recipient_services")

    @field_validator("situations")
    @classmethod
    def _situations(cls, v: list[str]) -> list[str]:
        names = _names(v, "situations")
        unknown = [s for s in names if s not in SITUATION_IDS]
        if unknown:
            raise ValueError(
                f"unknown situation {', '.join(repr(s) for s in unknown)}; the eight situations "
                f"are {', '.join(SITUATION_IDS)}"
            )
        return names

    @model_validator(mode="after")
    def _bounds(self) -> AuthorisationInput:
        if self.ends_at <= self.starts_at:
            raise ValueError(
                f"ends_at ({self.ends_at.isoformat()}) must be after starts_at "
                f"({self.starts_at.isoformat()})"
            )
        limit = month_after(self.starts_at)
        if self.ends_at > limit:
            raise ValueError(
                f"ends_at ({self.ends_at.isoformat()}) is more than one month after starts_at; "
                f"an authorisation lasts at most until {limit.isoformat()} (renew it with a new "
                "record for longer)"
            )
        return self


def renewal_input(old: Any, changes: Mapping[str, Any]) -> AuthorisationInput:
    """The content of a renewal of `old` (a stored authorisation): its fields, with `changes`
    (new bounds, and any field the new decision changes) applied, validated again."""
    fields = AuthorisationInput.model_fields
    data = {name: getattr(old, name) for name in fields}
    data.update({k: v for k, v in changes.items() if v is not None})
    return AuthorisationInput.model_validate(data)


class Window(Protocol):
    """What the gate needs of an authorisation (a stored row or a `Grant`)."""

    @property
    def id(self) -> int: ...
    @property
    def cameras(self) -> list[str]: ...
    @property
    def situations(self) -> list[str]: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def revoked_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Grant:
    """An authorisation as plain data, detached from any database session."""

    id: int
    cameras: list[str]
    situations: list[str]
    starts_at: datetime
    ends_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, row: Window) -> Grant:
        return cls(
            row.id, list(row.cameras), list(row.situations), row.starts_at, row.ends_at,
            row.revoked_at,
        )  # fmt: skip


def is_active(window: Window, at: datetime) -> bool:
    """Started, not ended, and not revoked at `at` (a revocation takes effect at its instant)."""
    if window.revoked_at is not None and window.revoked_at <= at:
        return False
    return window.starts_at <= at < window.ends_at


@dataclass(frozen=True)
class GateState:
    """What the authorisations allow at one instant."""

    at: datetime
    situations: dict[str, frozenset[str]]
    """Per camera, the situations live processing may run (cameras without any are absent)."""
    active_ids: frozenset[int]
    """The authorisations active at `at`."""
    next_change: datetime | None
    """The next start or end after `at` at which this may change; None if none is known."""

    def allows(self, camera: str, situation: str) -> bool:
        return situation in self.situations.get(camera, frozenset())


def grants_at(windows: Iterable[Window], at: datetime) -> GateState:
    """The situations authorised per camera at `at`, and when that may change next.

    Revocations are not bounds to wait for: they are applied when they are recorded."""
    allowed: dict[str, set[str]] = {}
    active: set[int] = set()
    upcoming: list[datetime] = []
    for w in windows:
        if w.revoked_at is not None and w.revoked_at <= at:
            continue
        upcoming.extend(b for b in (w.starts_at, w.ends_at) if b > at)
        if not is_active(w, at):
            continue
        active.add(w.id)
        for camera in w.cameras:
            allowed.setdefault(camera, set()).update(w.situations)
    return GateState(
        at=at,
        situations={c: frozenset(s) for c, s in allowed.items()},
        active_ids=frozenset(active),
        next_change=min(upcoming, default=None),
    )


def status_of(window: Window, at: datetime) -> str:
    """'revoked', 'active', 'upcoming' or 'ended' at `at` (the console's badge)."""
    if window.revoked_at is not None:
        return "revoked"
    if window.ends_at <= at:
        return "ended"
    if window.starts_at > at:
        return "upcoming"
    return "active"
