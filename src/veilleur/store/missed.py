"""Missed situations reported by operators (SPEC §5): a situation a person saw on a camera that
no signal raised. They feed the accountability figures. A report says what, where and when,
and which account reported it; never anything about who was filmed. Mutating functions commit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.config.common import SITUATION_IDS
from veilleur.store.journal import append as journal_append
from veilleur.store.models import Camera, MissedReport, User, utcnow
from veilleur.store.signals import filter_signal_like

MAX_COMMENT_LENGTH = 2000
MAX_LIST_LIMIT = 1000
FUTURE_TOLERANCE = timedelta(minutes=5)
"""A report may be a few minutes ahead of the server's clock (the operator's watch), no more."""


def report_missed(
    s: Session,
    user: User,
    camera: str,
    situation: str,
    occurred_at: datetime,
    comment: str | None = None,
) -> MissedReport:
    """Record and journal (`missed.reported`) a missed situation; returns the committed row.

    ValueError for an unknown situation or camera, a naive or future time, a too long comment.
    """
    if situation not in SITUATION_IDS:
        raise ValueError(f"situation {situation!r} is not one of {', '.join(SITUATION_IDS)}")
    if s.scalar(select(Camera.id).where(Camera.name == camera)) is None:
        raise ValueError(f"no camera named {camera!r}")
    if occurred_at.tzinfo is None:
        raise ValueError("the time of the missed situation needs a time zone (UTC)")
    occurred_at = occurred_at.astimezone(UTC)
    if occurred_at > utcnow() + FUTURE_TOLERANCE:
        raise ValueError("the missed situation cannot be in the future")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT_LENGTH:
        raise ValueError(f"a comment has at most {MAX_COMMENT_LENGTH} characters")
    row = MissedReport(
        situation=situation, camera=camera, occurred_at=occurred_at, user_id=user.id,
        comment=comment,
    )  # fmt: skip
    try:
        s.add(row)
        s.flush()
        # The comment is free text: the journal keeps only whether there was one.
        journal_append(
            s, user.username, "missed.reported", f"missed:{row.id}",
            {"situation": situation, "camera": camera, "occurred_at": occurred_at.isoformat(),
             "comment": comment is not None},
        )  # fmt: skip
        s.commit()
    except BaseException:
        s.rollback()
        raise
    return row


def list_missed(
    s: Session,
    *,
    camera: str | None = None,
    situation: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[MissedReport]:
    """Newest first (by when the situation happened); `since` inclusive, `until` exclusive."""
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    stmt = filter_signal_like(
        select(MissedReport), MissedReport, camera=camera, situation=situation, since=since,
        until=until,
    )  # fmt: skip
    order = (MissedReport.occurred_at.desc(), MissedReport.id.desc())
    return list(s.scalars(stmt.order_by(*order).limit(limit)))
