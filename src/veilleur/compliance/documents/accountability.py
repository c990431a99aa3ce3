"""The accountability report (SPEC §5): what the operators' qualifications say about the
signals, per period, situation and camera.

For each (period, situation, camera): signals, confirmed, false alarms, not actionable, pending
(not yet qualified), missed situations reported by operators, and two delays: recognition to
storage (a signal's `created_at` − `occurred_at`: how long the platform took to record it) and
time to qualification (its review's `created_at` − `occurred_at`: how long a person took to
look). Delays are given as median and 95th percentile (nearest rank) in seconds.

Periods are UTC days (YYYY-MM-DD), ISO weeks (YYYY-Www) or months (YYYY-MM), by when the
signal was recognised or the missed situation happened.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.compliance.documents.common import (
    DocumentError,
    Sources,
    render_html,
    situation_label,
    software,
    when,
)
from veilleur.store.models import MissedReport, SignalRow

Bucket = Literal["day", "week", "month"]
BUCKETS: tuple[str, ...] = ("day", "week", "month")
COUNTS = ("signals", "confirmed", "false_alarm", "not_actionable", "pending", "missed")
CSV_HEADER = [
    "period", "situation", "camera", *COUNTS,
    "stored_delay_median_s", "stored_delay_p95_s",
    "qualification_delay_median_s", "qualification_delay_p95_s",
]  # fmt: skip


def bucket_of(at: datetime, by: str) -> str:
    at = at.astimezone(UTC)
    if by == "day":
        return at.strftime("%Y-%m-%d")
    if by == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    if by == "month":
        return at.strftime("%Y-%m")
    raise DocumentError(f"period {by!r} is not one of {', '.join(BUCKETS)}")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class Cell:
    """The figures of one (period, situation, camera), or of a total."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    stored_delays: list[float] = field(default_factory=list)
    qualification_delays: list[float] = field(default_factory=list)

    def add(self, other: Cell) -> None:
        for k in COUNTS:
            self.counts[k] += other.counts[k]
        self.stored_delays += other.stored_delays
        self.qualification_delays += other.qualification_delays

    def figures(self) -> dict[str, Any]:
        return {
            **self.counts,
            "stored_delay_median_s": median(self.stored_delays),
            "stored_delay_p95_s": percentile(self.stored_delays, 95),
            "qualification_delay_median_s": median(self.qualification_delays),
            "qualification_delay_p95_s": percentile(self.qualification_delays, 95),
        }


def _in_range(stmt: Any, column: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        stmt = stmt.where(column >= since)
    if until is not None:
        stmt = stmt.where(column < until)
    return stmt


def _scoped(names: Iterable[str], cameras: set[str] | None) -> bool:
    return cameras is None or all(n in cameras for n in names)


def accountability_data(
    db: Session,
    sources: Sources,
    *,
    by: str = "day",
    since: datetime | None = None,
    until: datetime | None = None,
    cameras: set[str] | None = None,
) -> dict[str, Any]:
    """Figures for signals recognised (and missed situations that happened) in [since, until).

    `cameras`: only these cameras (a caller's scope); None: all.
    """
    bucket_of(sources.now, by)  # checks `by`
    if since is not None and until is not None and until <= since:
        raise DocumentError("the end of the period must be after its start")
    cells: dict[tuple[str, str, str], Cell] = defaultdict(Cell)
    stmt = _in_range(select(SignalRow), SignalRow.occurred_at, since, until)
    for sig in db.scalars(stmt.order_by(SignalRow.id)):
        if not _scoped([sig.camera], cameras):
            continue
        cell = cells[(bucket_of(sig.occurred_at, by), sig.situation, sig.camera)]
        cell.counts["signals"] += 1
        cell.stored_delays.append((sig.created_at - sig.occurred_at).total_seconds())
        if sig.review is None:
            cell.counts["pending"] += 1
        else:
            cell.counts[sig.review.verdict] += 1
            cell.qualification_delays.append(
                (sig.review.created_at - sig.occurred_at).total_seconds()
            )
    mstmt = _in_range(select(MissedReport), MissedReport.occurred_at, since, until)
    for missed in db.scalars(mstmt.order_by(MissedReport.id)):
        if not _scoped([missed.camera], cameras):
            continue
        cells[(bucket_of(missed.occurred_at, by), missed.situation, missed.camera)].counts[
            "missed"
        ] += 1
    rows = []
    per_situation: dict[str, Cell] = defaultdict(Cell)
    per_camera: dict[str, Cell] = defaultdict(Cell)
    total = Cell()
    for (period, situation, camera), cell in sorted(cells.items()):
        rows.append({"period": period, "situation": situation, "camera": camera,
                     **cell.figures()})  # fmt: skip
        per_situation[situation].add(cell)
        per_camera[camera].add(cell)
        total.add(cell)
    return {
        "by": by,
        "since": when(since) if since else "the first record",
        "until": when(until) if until else "now",
        "rows": rows,
        "per_situation": [
            {"situation": k, "label": situation_label(k), **v.figures()}
            for k, v in sorted(per_situation.items())
        ],
        "per_camera": [{"camera": k, **v.figures()} for k, v in sorted(per_camera.items())],
        "total": total.figures(),
        "generated": when(sources.now),
        "software": software(),
    }


def accountability_csv(db: Session, sources: Sources, **kwargs: Any) -> str:
    d = accountability_data(db, sources, **kwargs)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in d["rows"]:
        writer.writerow(["" if r[k] is None else _csv_value(r[k]) for k in CSV_HEADER])
    return buffer.getvalue()


def _csv_value(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def accountability_html(db: Session, sources: Sources, **kwargs: Any) -> str:
    return render_html("document_accountability.html", accountability_data(db, sources, **kwargs))
