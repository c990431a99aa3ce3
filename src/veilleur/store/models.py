"""SQLAlchemy 2 models of the platform's database.

Nothing here records a person: no track, no face, no identity, no per-person row (SPEC S1, S3).
A signal row holds only what `veilleur.types.Signal` says plus where its blurred snapshot and
clip lie in the data directory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

ROLES = ("operator", "supervisor", "administrator", "auditor")
VERDICTS = ("confirmed", "false_alarm", "not_actionable")
SIGNAL_STATES = ("new", "qualified")

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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SignalRow(Base):
    """A stored signal: situation, camera, zone, time, confidence, model, config version (S3)."""

    __tablename__ = "signals"
    __table_args__ = (CheckConstraint(_in("state", SIGNAL_STATES), name="state"),)

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
    known_limits: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    snapshot_path: Mapped[str | None] = mapped_column(String(255))
    clip_path: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="new", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

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
