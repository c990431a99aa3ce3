"""SQLAlchemy 2 models of the platform's database.

Nothing here records a person: no track, no face, no identity, no per-person row (SPEC S1, S3).
A signal row holds only what `veilleur.types.Signal` says plus where its blurred snapshot and
clip lie in the data directory, and the count and times of the further events of its episode.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

ROLES = ("operator", "supervisor", "administrator", "auditor")
VERDICTS = ("confirmed", "false_alarm", "not_actionable")
SIGNAL_STATES = ("new", "qualified")
SERVED_KINDS = ("sporting_event", "recreational_event", "cultural_event", "transport_network")
"""What an authorisation serves (law 2023-380 art. 10): a large event of one of three kinds,
or a transport network."""
STATISTIC_METRICS = ("zone_entries", "line_crossings", "occupancy_mean", "occupancy_max", "density")
"""The aggregates the statistics mode keeps (per camera, subject and time bucket)."""

# Named constraints so that later migrations (SQLite batch mode included) can address them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database.

    PostgreSQL keeps `timestamptz`; SQLite has no time zone, so the value is stored as naive UTC
    (which also keeps its text ordering right) and read back as aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[float]: JSON(),
        list[str]: JSON(),
    }


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    service: Mapped[str | None] = mapped_column(String(64), index=True)
    """The service the account belongs to; it sees only the cameras of that service (S9).
    None: no service scope (administrators and auditors see every camera)."""
    training_expires_on: Mapped[date | None] = mapped_column(Date)
    """Last day the account's training is valid; past it the account cannot log in (S9)."""
    habilitation_expires_on: Mapped[date | None] = mapped_column(Date)
    """Last day of the account's habilitation; past it the account cannot log in (S9)."""
    may_view_unblurred: Mapped[bool] = mapped_column(Boolean, default=False)
    """The specific privilege to see an unblurred picture, each time with a reason (S6)."""

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r}, role={self.role!r})"


class WebSession(Base):
    """A console login. Only the sha256 of the cookie token is kept, never the token itself."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    user: Mapped[User] = relationship(lazy="joined")


class Camera(Base):
    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    config: Mapped[dict[str, Any]]
    """`CameraConfig.model_dump(mode="json")`, validated on every write and read."""
    processing: Mapped[bool] = mapped_column(Boolean, default=True)
    """Live processing on or off; a stop survives restarts (SPEC S5)."""
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The user services whose accounts see this camera, its pictures and signals (S9)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SignalFields:
    """What a signal says (S3): situation, camera, zone, time, box, confidence, model and
    configuration version, and where its blurred snapshot lies. Shared by stored signals and
    the calibration mode's would-be signals."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    situation: Mapped[str] = mapped_column(String(32), index=True)
    # The camera's name, not a foreign key: signals outlive a camera's removal.
    camera: Mapped[str] = mapped_column(String(64), index=True)
    zone: Mapped[str | None] = mapped_column(String(64))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    frame: Mapped[int] = mapped_column(Integer)
    bbox: Mapped[list[float]]
    confidence: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(200))
    config_version: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    snapshot_path: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    episode: Mapped[str | None] = mapped_column(String(64), index=True)
    """The key of the episode the signal opened (`Signal.episode`, unique to one camera
    process): how further events find it. Names an episode, never an object or a person."""
    further_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many further events were attached to the episode during its cool-down."""
    further_times: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """When they happened, oldest first (the first `MAX_FURTHER_TIMES`): each
    `{"start_s", "end_s", "occurred_at"}`. None when there was none."""


#: Further events whose times a signal row keeps (the count goes on beyond).
MAX_FURTHER_TIMES = 200


class SignalRow(SignalFields, Base):
    """A stored signal: situation, camera, zone, time, confidence, model, config version (S3)."""

    __tablename__ = "signals"
    __table_args__ = (CheckConstraint(_in("state", SIGNAL_STATES), name="state"),)

    known_limits: Mapped[str] = mapped_column(Text)
    clip_path: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="new", index=True)

    review: Mapped[Review | None] = relationship(back_populates="signal", lazy="selectin")

    def __repr__(self) -> str:
        return (
            f"SignalRow(id={self.id!r}, situation={self.situation!r}, camera={self.camera!r}, "
            f"state={self.state!r})"
        )


class Review(Base):
    """An operator's qualification of a signal; at most one per signal, never automatic (S4)."""

    __tablename__ = "reviews"
    __table_args__ = (CheckConstraint(_in("verdict", VERDICTS), name="verdict"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signal_id: Mapped[int] = mapped_column(
        ForeignKey("signals.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    signal: Mapped[SignalRow] = relationship(back_populates="review")
    user: Mapped[User] = relationship(lazy="joined")


class JournalEntry(Base):
    """One entry of the tamper-evident journal (SPEC S7); see `veilleur.store.journal`.

    Entries are only ever added, each one hashing the previous one. `id` is given by the
    appender (last id + 1, under the journal's lock), not by a sequence: a sequence leaves gaps
    on rollback, and a gap must mean a deleted entry.
    """

    __tablename__ = "journal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str] = mapped_column(String(128), index=True)
    details: Mapped[str] = mapped_column(Text)
    """Canonical JSON text (sorted keys, no spaces), exactly as hashed."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def __repr__(self) -> str:
        return (
            f"JournalEntry(id={self.id!r}, action={self.action!r}, actor={self.actor!r}, "
            f"target={self.target!r})"
        )


class Authorisation(Base):
    """A prefect's authorisation of live processing (SPEC §4).

    Never edited in place: renewal is a new record (`renews_id`), revocation fills the
    `revoked_*` columns once. Cameras and situations are the perimeter of live processing.
    """

    __tablename__ = "authorisations"
    __table_args__ = (
        CheckConstraint(_in("served_kind", SERVED_KINDS), name="served_kind"),
        CheckConstraint("ends_at > starts_at", name="bounds"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(128), index=True)
    """The decision's reference (e.g. the prefectoral order's number)."""
    issuer: Mapped[str] = mapped_column(String(200))
    """Who decided (the prefect of ..., the police prefect)."""
    controller: Mapped[str] = mapped_column(String(200))
    """The data controller (the service or body that runs the processing)."""
    rights_contact: Mapped[str] = mapped_column(String(300))
    """Where people exercise their rights (the controller's DPO address), for the notice."""
    served_kind: Mapped[str] = mapped_column(String(32))
    served_name: Mapped[str] = mapped_column(String(200))
    """The event or network served, by name."""
    perimeter: Mapped[str] = mapped_column(Text)
    """The geographic perimeter, in words, as the decision states it."""
    cameras: Mapped[list[str]] = mapped_column(JSON)
    situations: Mapped[list[str]] = mapped_column(JSON)
    recipient_services: Mapped[list[str]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("authorisations.id"))
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revocation_reason: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"Authorisation(id={self.id!r}, reference={self.reference!r})"


class CalibrationRecord(SignalFields, Base):
    """What a camera in calibration mode would have signalled (SPEC §2); never sent to
    operators. Same fields as a signal, without state or review."""

    __tablename__ = "calibration_records"


class Statistic(Base):
    """One anonymous aggregate of the statistics mode (SPEC §2): a count, occupancy or density
    of one camera's zone or line over one time bucket. No image, no track, no person."""

    __tablename__ = "statistics"
    __table_args__ = (
        CheckConstraint(_in("metric", STATISTIC_METRICS), name="metric"),
        UniqueConstraint(
            "camera", "bucket_start", "metric", "subject", "direction", name="uq_statistics_bucket"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    bucket_start: Mapped[datetime] = mapped_column(index=True)
    bucket_s: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64), default="")
    """The zone or line measured; empty for the whole picture."""
    direction: Mapped[str] = mapped_column(String(16), default="")
    """For line crossings: 'forward' or 'backward'; empty otherwise."""
    value: Mapped[float] = mapped_column(Float)


class MissedReport(Base):
    """A situation an operator saw that no signal raised (SPEC §5: missed situations feed the
    accountability figures). Says what and where, never who."""

    __tablename__ = "missed_reports"
    __table_args__ = (CheckConstraint("length(situation) > 0", name="situation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    situation: Mapped[str] = mapped_column(String(32), index=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JournalCheckpoint(Base):
    """Where the journal was cut by a retention purge (SPEC S8): entries up to `upto_id` were
    deleted, and the first kept entry must chain onto `upto_hash`. Append-only, like the
    journal; the purge also journals itself, so a checkpoint has a matching entry."""

    __tablename__ = "journal_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upto_id: Mapped[int] = mapped_column(Integer, unique=True)
    upto_hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    """How many entries the purge deleted."""
    at: Mapped[datetime] = mapped_column(default=utcnow)
