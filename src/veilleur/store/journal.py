"""Appending to the tamper-evident journal (SPEC S7).

Each entry's `hash` is the sha256 of a canonical encoding of (id, at, actor, action, target,
details, prev_hash), and `prev_hash` is the previous entry's hash (`GENESIS` for the first), so
changing, deleting or reordering an entry breaks the chain (`veilleur.compliance.journal.verify`
says where).

`append` adds an entry in the caller's transaction, so that a change and its entry commit
together or not at all; it takes the journal's lock first, so two writers cannot both chain
onto the same last entry: on PostgreSQL a transaction-scoped advisory lock, on SQLite the
database's write lock (taken by a no-op write). The lock is held until the caller commits or
rolls back: append last, just before the commit.

Details say what changed, never who was filmed: keys naming tracks, faces, identities or
persons are refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from veilleur.store.models import JournalEntry, utcnow

GENESIS = "0" * 64
"""The `prev_hash` of the first entry."""
FORMAT = "veilleur-journal-1"
"""Names the hash's encoding; part of every hash, so a new encoding cannot pass for this one."""
SYSTEM = "system"
"""The actor of what the platform does by itself (a signal recognised, a start-up import)."""
ANONYMOUS = "anonymous"
"""The actor of a failed login: the name typed is not proven, and is not stored if unknown."""

ACTIONS: tuple[str, ...] = (
    "signal.recorded",
    "signal.further_event",
    "signal.qualified",
    "media.viewed",
    "camera.created",
    "camera.updated",
    "camera.deleted",
    "zones.changed",
    "situation.changed",
    "processing.started",
    "processing.stopped",
    "session.login",
    "session.login_failed",
    "session.logout",
    "user.created",
    "user.updated",
    "session.login_refused",
    "media.viewed_unblurred",
    "authorisation.created",
    "authorisation.renewed",
    "authorisation.revoked",
    "retention.purged",
    "missed.reported",
    "document.generated",
    "statistics.exported",
    "session.login_locked",
    "delivery.dead_lettered",
    "delivery.retried",
)
"""The actions journaled today (the console's filter lists them)."""

# Arbitrary but fixed: every Veilleur process takes the same PostgreSQL advisory lock.
PG_LOCK_KEY = 0x5665_696C_4A6E_6C31 & 0x7FFF_FFFF_FFFF_FFFF
_ACTION = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
_FORBIDDEN_KEY = re.compile(r"track|face|identit|person|biometr|embedding|reid", re.I)


def canonical_details(details: Mapping[str, Any] | None) -> str:
    """The canonical JSON text of `details`: sorted keys, no spaces, UTF-8, no NaN."""
    _check_keys(details or {})
    return json.dumps(
        dict(details or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False,
    )  # fmt: skip


def _check_keys(value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"journal detail keys are strings, got {key!r}")
            if _FORBIDDEN_KEY.search(key):
                raise ValueError(f"journal details never describe a person or a track: {key!r}")
            _check_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_keys(item)


def format_at(at: datetime) -> str:
    """The time as hashed and exported: UTC, microseconds, 'Z' (2025-01-31T08:00:00.000000Z)."""
    if at.tzinfo is None:
        raise ValueError("journal times are aware (UTC) datetimes")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    entry_id: int, at: str, actor: str, action: str, target: str, details: str, prev_hash: str
) -> str:
    """sha256 (hex) of the JSON array [FORMAT, id, at, actor, action, target, details,
    prev_hash], compact and UTF-8; `at` as `format_at` writes it, `details` the canonical text.
    """
    payload = json.dumps(
        [FORMAT, entry_id, at, actor, action, target, details, prev_hash],
        ensure_ascii=False, separators=(",", ":"),
    )  # fmt: skip
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def hash_of(entry: JournalEntry) -> str:
    """The hash `entry` should have, from its stored fields."""
    return entry_hash(
        entry.id, format_at(entry.at), entry.actor, entry.action, entry.target, entry.details,
        entry.prev_hash,
    )  # fmt: skip


def _lock(s: Session) -> None:
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    elif dialect == "sqlite":
        # A write that changes nothing still takes SQLite's single write lock (a second writer
        # waits on the busy timeout) and makes the reads that follow see the latest commit.
        s.execute(text("UPDATE journal SET id = id WHERE 0"))
    else:
        raise RuntimeError(f"the journal does not know how to lock on {dialect}")


def head(s: Session) -> tuple[int, str]:
    """(id, hash) of the last entry, or (0, GENESIS) for an empty journal."""
    last = s.execute(
        select(JournalEntry.id, JournalEntry.hash).order_by(JournalEntry.id.desc()).limit(1)
    ).first()
    return (0, GENESIS) if last is None else (int(last[0]), str(last[1]))


def append(
    s: Session,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any] | None = None,
) -> JournalEntry:
    """Add an entry chained to the last one, in `s`'s transaction; the caller commits.

    `actor` is a username or `SYSTEM`; `action` e.g. "camera.updated"; `target` what it acts
    on ("signal:12", "camera:plaza"). ValueError on a malformed field.
    """
    if not 1 <= len(actor) <= 64:
        raise ValueError(f"journal actor {actor!r}: 1 to 64 characters")
    if len(action) > 48 or not _ACTION.match(action):
        raise ValueError(f"journal action {action!r} is not 'noun.verb'")
    if not 1 <= len(target) <= 128:
        raise ValueError(f"journal target {target!r}: 1 to 128 characters")
    details_text = canonical_details(details)
    # Pending changes go in first: a constraint they break fails here, before the lock.
    s.flush()
    _lock(s)
    last_id, last_hash = head(s)
    at = utcnow()
    entry_id = last_id + 1
    entry = JournalEntry(
        id=entry_id,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=details_text,
        prev_hash=last_hash,
        hash=entry_hash(entry_id, format_at(at), actor, action, target, details_text, last_hash),
    )
    s.add(entry)
    s.flush()
    return entry
