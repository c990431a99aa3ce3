"""What cameras in the calibration mode would have signalled (SPEC §2), kept for tuning.

A record is a signal that nobody is told about: same fields, its blurred snapshot written under
`data_dir/media/` like a signal's (no clip), never on the live stream nor among the signals.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from veilleur.store.models import CalibrationRecord
from veilleur.store.signals import (
    MEDIA_DIR,
    SignalEventLike,
    _check_event,
    _write_atomic,
    filter_signal_like,
    signal_columns,
)

MAX_CALIBRATION_LIST = 1000


def record_calibration(s: Session, event: SignalEventLike, data_dir: Path) -> CalibrationRecord:
    """Write the blurred snapshot, then commit the record; the file is removed if the commit
    fails."""
    _check_event(event)
    signal = event.signal
    occurred_at = event.wall_time.astimezone(UTC)
    written: Path | None = None
    try:
        snapshot_path = None
        if event.snapshot_jpeg:
            relative = Path(
                MEDIA_DIR, "calibration", f"{occurred_at:%Y}", f"{occurred_at:%m}",
                f"{occurred_at:%d}", f"{uuid.uuid4().hex}.jpg",
            )  # fmt: skip
            target = Path(data_dir) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(target, event.snapshot_jpeg)
            written = target
            snapshot_path = relative.as_posix()
        row = CalibrationRecord(**signal_columns(signal, occurred_at, snapshot_path))
        s.add(row)
        s.commit()
    except BaseException:
        s.rollback()
        if written is not None:
            written.unlink(missing_ok=True)
        raise
    return row


def _filtered(
    stmt: Any,
    camera: str | None,
    cameras: Collection[str] | None,
    situation: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Any:
    return filter_signal_like(
        stmt, CalibrationRecord, camera=camera, cameras=cameras, situation=situation,
        since=since, until=until,
    )  # fmt: skip


def list_calibration(
    s: Session,
    *,
    camera: str | None = None,
    cameras: Collection[str] | None = None,
    situation: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[CalibrationRecord]:
    """Newest first; `since` inclusive, `until` exclusive; `cameras` (a scope) keeps only these
    camera names."""
    if not 1 <= limit <= MAX_CALIBRATION_LIST:
        raise ValueError(f"limit must be between 1 and {MAX_CALIBRATION_LIST}")
    stmt = _filtered(select(CalibrationRecord), camera, cameras, situation, since, until)
    return list(s.scalars(stmt.order_by(CalibrationRecord.id.desc()).limit(limit)))


def calibration_counts(
    s: Session,
    *,
    camera: str | None = None,
    cameras: Collection[str] | None = None,
    situation: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, list[tuple[str, int]]]:
    """How many would-be signals per situation, per zone ('' for none) and per UTC hour of the
    day ('00'..'23'), the most frequent first (hours in order): what thresholds and zones to
    tune."""
    out: dict[str, list[tuple[str, int]]] = {}
    for key, column in (
        ("situation", CalibrationRecord.situation),
        ("zone", func.coalesce(CalibrationRecord.zone, "")),
    ):
        stmt = _filtered(
            select(column, func.count()).group_by(column), camera, cameras, situation, since,
            until,
        )  # fmt: skip
        out[key] = sorted(((str(k), int(n)) for k, n in s.execute(stmt)), key=lambda x: -x[1])
    times = _filtered(select(CalibrationRecord.occurred_at), camera, cameras, situation, since,
                      until)  # fmt: skip
    hours: dict[str, int] = {}
    for (at,) in s.execute(times):
        h = f"{at.astimezone(UTC).hour:02d}"
        hours[h] = hours.get(h, 0) + 1
    out["hour"] = sorted(hours.items())
    return out
