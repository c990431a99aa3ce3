"""The delivery outbox: what must still reach other systems (MQTT brokers, webhooks).

A row is added in the same transaction as the signal it carries (`enqueue`, before the
signal's commit), so a signal is never committed without its deliveries nor the reverse. A
worker then `claim`s due rows under a lease, sends them, and marks each one `delivered` or
`fail`ed; a failure waits an exponential back-off, and after `max_attempts` the row is `dead`
(dead-lettered) until an administrator `retry`s it. Delivery is at least once: a row is only
marked delivered after the receiver acknowledged it, so a crash in between sends it again,
with the same `key` (the idempotency key the receiver deduplicates on).

Rows carry what a signal says (what, where, when, how sure), never who: no operator and no
person. See docs/delivery.md.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CheckConstraint, Integer, String, Text, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from veilleur.store.journal import SYSTEM
from veilleur.store.journal import append as journal_append
from veilleur.store.models import Base, SignalRow, utcnow

OUTBOX_STATES = ("pending", "delivered", "dead")
MAX_ERROR_LENGTH = 500


class OutboxRow(Base):
    """One delivery of one signal event to one recipient."""

    __tablename__ = "delivery_outbox"
    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in OUTBOX_STATES)})", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(36), unique=True)
    """The idempotency key: the same on every attempt of this delivery, unique otherwise."""
    recipient: Mapped[str] = mapped_column(String(64), index=True)
    event: Mapped[str] = mapped_column(String(48))
    signal_id: Mapped[int] = mapped_column(Integer, index=True)
    """The signal's id; not a foreign key, so that a delivery outlives the signal's purge."""
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(index=True)
    """When the row may next be tried (its back-off)."""
    lease_until: Mapped[datetime | None] = mapped_column()
    """Set while a worker holds it; past it, another worker may claim it."""
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return (
            f"OutboxRow(id={self.id!r}, recipient={self.recipient!r}, state={self.state!r}, "
            f"attempts={self.attempts!r})"
        )


def enqueue(
    s: Session,
    *,
    recipient: str,
    event: str,
    signal_id: int,
    payload: dict[str, Any],
    now: datetime | None = None,
) -> OutboxRow:
    """Add a pending delivery to the session's transaction (flushed, not committed: it
    commits with the signal it carries)."""
    now = now or utcnow()
    row = OutboxRow(
        key=uuid.uuid4().hex,
        recipient=recipient,
        event=event,
        signal_id=signal_id,
        payload=payload,
        state="pending",
        attempts=0,
        next_at=now,
        created_at=now,
    )
    s.add(row)
    s.flush()
    return row


def claim(
    s: Session,
    recipients: Collection[str],
    *,
    now: datetime,
    lease_s: float,
    limit: int,
) -> list[OutboxRow]:
    """Take up to `limit` due pending rows of these recipients, oldest first, under a lease of
    `lease_s`; committed, so another worker does not take them meanwhile."""
    if not recipients:
        return []
    stmt = (
        select(OutboxRow)
        .where(
            OutboxRow.state == "pending",
            OutboxRow.recipient.in_(sorted(recipients)),
            OutboxRow.next_at <= now,
            (OutboxRow.lease_until.is_(None)) | (OutboxRow.lease_until <= now),
        )
        .order_by(OutboxRow.id)
        .limit(limit)
        # PostgreSQL: two workers skip each other's rows; SQLite locks the whole database.
        .with_for_update(skip_locked=True)
    )
    try:
        rows = list(s.scalars(stmt))
        until = now + timedelta(seconds=lease_s)
        for row in rows:
            row.lease_until = until
        s.commit()
    except BaseException:
        s.rollback()
        raise
    return rows


def backoff_s(attempts: int, initial_s: float, max_s: float, jitter: float = 0.2) -> float:
    """The wait after the `attempts`-th failure: `initial_s` doubling, at most `max_s`, less up
    to `jitter` of it at random so that many failed rows do not all return at once."""
    base = min(max_s, initial_s * 2.0 ** max(0, min(attempts - 1, 60)))
    return base * (1.0 - jitter * random.random())


def _pending(s: Session, row_id: int) -> OutboxRow | None:
    row = s.get(OutboxRow, row_id, with_for_update=True, populate_existing=True)
    return row if row is not None and row.state == "pending" else None


def mark_delivered(s: Session, row_id: int, *, now: datetime) -> bool:
    """The receiver acknowledged the row: delivered. False if it was no longer pending
    (an administrator's action, or another worker after this one's lease ran out)."""
    try:
        row = _pending(s, row_id)
        if row is None:
            s.rollback()
            return False
        row.state = "delivered"
        row.attempts += 1
        row.delivered_at = now
        row.lease_until = None
        row.last_error = None
        s.commit()
    except BaseException:
        s.rollback()
        raise
    return True


def mark_failed(
    s: Session,
    row_id: int,
    error: str,
    *,
    now: datetime,
    max_attempts: int,
    initial_s: float,
    max_s: float,
    permanent: bool = False,
) -> str | None:
    """A failed attempt: back to pending after its back-off, or dead once `max_attempts` are
    spent (or at once when `permanent`: the receiver refused the content). Returns the new
    state, None if the row was no longer pending. A dead-lettering is journaled."""
    try:
        row = _pending(s, row_id)
        if row is None:
            s.rollback()
            return None
        row.attempts += 1
        row.last_error = error[:MAX_ERROR_LENGTH]
        row.lease_until = None
        if permanent or row.attempts >= max_attempts:
            row.state = "dead"
            journal_append(
                s, SYSTEM, "delivery.dead_lettered", f"delivery:{row.id}",
                {"recipient": row.recipient, "signal": row.signal_id, "attempts": row.attempts,
                 "permanent": permanent},
            )  # fmt: skip
        else:
            row.next_at = now + timedelta(seconds=backoff_s(row.attempts, initial_s, max_s))
        s.commit()
        return row.state
    except BaseException:
        s.rollback()
        raise


def release(s: Session, row_ids: Sequence[int]) -> None:
    """Give back rows claimed but not tried (their recipient is down): no attempt counted."""
    if not row_ids:
        return
    try:
        s.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(list(row_ids)), OutboxRow.state == "pending")
            .values(lease_until=None)
        )
        s.commit()
    except BaseException:
        s.rollback()
        raise


def retry(s: Session, row_id: int, actor: str, *, now: datetime | None = None) -> OutboxRow:
    """An administrator sends a dead-lettered row again (attempts start over), journaled.
    LookupError for an unknown row; ValueError when it is not dead."""
    now = now or utcnow()
    row = s.get(OutboxRow, row_id, with_for_update=True, populate_existing=True)
    if row is None:
        s.rollback()
        raise LookupError(f"no delivery {row_id}")
    if row.state != "dead":
        s.rollback()
        raise ValueError(f"delivery {row_id} is {row.state}, not dead-lettered")
    row.state = "pending"
    row.attempts = 0
    row.next_at = now
    row.lease_until = None
    try:
        journal_append(
            s, actor, "delivery.retried", f"delivery:{row.id}",
            {"recipient": row.recipient, "signal": row.signal_id},
        )  # fmt: skip
        s.commit()
    except BaseException:
        s.rollback()
        raise
    return row


def summary(s: Session, *, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Per recipient: rows by state and the age of the oldest pending one (seconds)."""
    now = now or utcnow()
    out: dict[str, dict[str, Any]] = {}
    counts = s.execute(
        select(OutboxRow.recipient, OutboxRow.state, func.count(OutboxRow.id)).group_by(
            OutboxRow.recipient, OutboxRow.state
        )
    )
    for recipient, state, count in counts:
        entry = out.setdefault(
            recipient, {**{k: 0 for k in OUTBOX_STATES}, "oldest_pending_s": None}
        )
        entry[state] = int(count)
    oldest = s.execute(
        select(OutboxRow.recipient, func.min(OutboxRow.created_at))
        .where(OutboxRow.state == "pending")
        .group_by(OutboxRow.recipient)
    )
    for recipient, created in oldest:
        if created is not None:
            if created.tzinfo is None:  # a raw aggregate from SQLite: naive UTC text
                created = datetime.fromisoformat(str(created)).replace(tzinfo=now.tzinfo)
            out[recipient]["oldest_pending_s"] = max(0.0, (now - created).total_seconds())
    return out


def list_rows(
    s: Session, *, state: str | None = None, recipient: str | None = None, limit: int = 100
) -> list[OutboxRow]:
    """Newest first."""
    if state is not None and state not in OUTBOX_STATES:
        raise ValueError(f"state {state!r} is not one of {', '.join(OUTBOX_STATES)}")
    stmt = select(OutboxRow)
    if state is not None:
        stmt = stmt.where(OutboxRow.state == state)
    if recipient is not None:
        stmt = stmt.where(OutboxRow.recipient == recipient)
    return list(s.scalars(stmt.order_by(OutboxRow.id.desc()).limit(limit)))


def prune_delivered(s: Session, before: datetime) -> int:
    """Delete delivered rows delivered before `before`; committed. Returns how many."""
    try:
        result = s.execute(
            delete(OutboxRow).where(OutboxRow.state == "delivered", OutboxRow.delivered_at < before)
        )
        s.commit()
    except BaseException:
        s.rollback()
        raise
    return int(getattr(result, "rowcount", 0) or 0)


def prune_orphans(s: Session) -> int:
    """Delete the rows whose signal is gone (the retention purge deleted it), whatever their
    state: a delivery never keeps a signal's content beyond the signal's period. Committed."""
    try:
        result = s.execute(
            delete(OutboxRow).where(OutboxRow.signal_id.not_in(select(SignalRow.id)))
        )
        s.commit()
    except BaseException:
        s.rollback()
        raise
    return int(getattr(result, "rowcount", 0) or 0)
