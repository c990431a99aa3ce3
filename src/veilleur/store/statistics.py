"""The statistics mode's aggregates (SPEC §2): anonymous counts per camera and time bucket.

Rows are upserted by (camera, bucket_start, metric, subject, direction): a bucket sent again
(a camera restarted within it) replaces the earlier figure. No image, track or person here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.store.models import STATISTIC_METRICS, Statistic

MAX_STATISTICS_ROWS = 200_000
DIRECTIONS = ("", "forward", "backward")


class StatisticLike(Protocol):
    """What the store reads of a `veilleur.scene.statistics.StatisticRow`."""

    @property
    def camera(self) -> str: ...
    @property
    def bucket_start(self) -> datetime: ...
    @property
    def bucket_s(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def value(self) -> float: ...


def _check(row: StatisticLike) -> None:
    if row.metric not in STATISTIC_METRICS:
        raise ValueError(f"metric {row.metric!r} is not one of {', '.join(STATISTIC_METRICS)}")
    if row.direction not in DIRECTIONS:
        raise ValueError(f"direction {row.direction!r} is not 'forward', 'backward' or ''")
    if row.bucket_start.tzinfo is None:
        raise ValueError("bucket_start must be an aware (UTC) datetime")
    if row.bucket_s < 1:
        raise ValueError("bucket_s must be at least 1 second")


def record_statistics(s: Session, rows: Iterable[StatisticLike]) -> int:
    """Insert or replace the rows (one transaction, committed); returns how many."""
    items = list(rows)
    for r in items:
        _check(r)
    try:
        for r in items:
            start = r.bucket_start.astimezone(UTC)
            existing = s.scalar(
                select(Statistic).where(
                    Statistic.camera == r.camera,
                    Statistic.bucket_start == start,
                    Statistic.metric == r.metric,
                    Statistic.subject == r.subject,
                    Statistic.direction == r.direction,
                )
            )
            if existing is None:
                s.add(
                    Statistic(
                        camera=r.camera, bucket_start=start, bucket_s=int(r.bucket_s),
                        metric=r.metric, subject=r.subject, direction=r.direction,
                        value=float(r.value),
                    )
                )  # fmt: skip
            else:
                existing.bucket_s = int(r.bucket_s)
                existing.value = float(r.value)
            s.flush()
        s.commit()
    except BaseException:
        s.rollback()
        raise
    return len(items)


def list_statistics(
    s: Session,
    *,
    camera: str | None = None,
    cameras: Collection[str] | None = None,
    metric: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_STATISTICS_ROWS,
) -> list[Statistic]:
    """Oldest bucket first. `since` inclusive and `until` exclusive on the bucket's start;
    `cameras` (a scope) keeps only these camera names."""
    if metric is not None and metric not in STATISTIC_METRICS:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(STATISTIC_METRICS)}")
    if not 1 <= limit <= MAX_STATISTICS_ROWS:
        raise ValueError(f"limit must be between 1 and {MAX_STATISTICS_ROWS}")
    stmt = select(Statistic)
    if camera is not None:
        stmt = stmt.where(Statistic.camera == camera)
    if cameras is not None:
        stmt = stmt.where(Statistic.camera.in_(sorted(cameras)))
    if metric is not None:
        stmt = stmt.where(Statistic.metric == metric)
    if subject is not None:
        stmt = stmt.where(Statistic.subject == subject)
    if since is not None:
        stmt = stmt.where(Statistic.bucket_start >= since)
    if until is not None:
        stmt = stmt.where(Statistic.bucket_start < until)
    order = (Statistic.bucket_start, Statistic.camera, Statistic.metric, Statistic.subject,
             Statistic.direction)  # fmt: skip
    return list(s.scalars(stmt.order_by(*order).limit(limit)))


def statistic_dict(row: Statistic | Mapping[str, Any]) -> dict[str, Any]:
    """A row as plain data (the columns of `veilleur.scene.statistics.COLUMNS`)."""
    if isinstance(row, Mapping):
        return dict(row)
    return {
        "camera": row.camera,
        "bucket_start": row.bucket_start,
        "bucket_s": row.bucket_s,
        "metric": row.metric,
        "subject": row.subject,
        "direction": row.direction,
        "value": row.value,
    }
