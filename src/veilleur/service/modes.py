"""The calibration and statistics modes on the platform's side (SPEC §2): storing the live
aggregates, and the shared shapes of the modes' pages and API."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from veilleur import store
from veilleur.runtime.events import StoreUnavailable
from veilleur.scene.statistics import COLUMNS
from veilleur.service.access import Caller
from veilleur.service.errors import Invalid, NotFound
from veilleur.service.platform import signal_fields
from veilleur.service.scope import sees, visible_camera_names

log = logging.getLogger(__name__)


class StatisticsRecorder:
    """The supervisor's `on_statistics`: store the aggregates of a closed bucket.

    Called from a supervisor thread. Statistics are nobody's signal: nothing is published on
    the live bus."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.failures = 0

    def __call__(self, rows: Sequence[store.statistics.StatisticLike]) -> None:
        try:
            with self.sessions() as s:
                store.record_statistics(s, rows)
        except Exception as exc:
            if store.unreachable(exc):  # the supervisor hands them over again later
                raise StoreUnavailable(str(exc.__class__.__name__)) from exc
            self.failures += 1
            log.exception("could not store %d statistics rows", len(rows))


def calibration_json(row: store.CalibrationRecord) -> dict[str, Any]:
    """A would-be signal as the API sends it (nothing about who)."""
    return {
        **signal_fields(row),
        "snapshot_url": f"/api/calibration/{row.id}/snapshot.jpg" if row.snapshot_path else None,
    }


def statistic_json(row: store.Statistic) -> dict[str, Any]:
    d = store.statistic_dict(row)
    d["bucket_start"] = row.bucket_start.isoformat()
    return d


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def statistics_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    """The rows as CSV, one line per aggregate, columns `COLUMNS`."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(COLUMNS)
    for r in rows:
        out.writerow([_plain(r[c]) for c in COLUMNS])
    return buf.getvalue().encode()


def statistics_parquet(rows: Iterable[dict[str, Any]], path: Path | None = None) -> bytes:
    """The rows as a Parquet table (bucket_start a UTC timestamp), columns `COLUMNS`; written
    to `path` too when given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    items = list(rows)
    schema = pa.schema(
        [
            ("camera", pa.string()),
            ("bucket_start", pa.timestamp("s", tz="UTC")),
            ("bucket_s", pa.int32()),
            ("metric", pa.string()),
            ("subject", pa.string()),
            ("direction", pa.string()),
            ("value", pa.float64()),
        ]
    )
    table = pa.table({c: [r[c] for r in items] for c in COLUMNS}, schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data: bytes = sink.getvalue().to_pybytes()
    if path is not None:
        path.write_bytes(data)
    return data


# --- what the pages and the API show ------------------------------------------------------

MAX_EXPORT_ROWS = store.statistics.MAX_STATISTICS_ROWS


def cameras_in_mode(db: Session, mode: str, visible: set[str] | None) -> list[str]:
    """The visible cameras whose stored configuration is in `mode`."""
    return sorted(
        row.name
        for row in store.list_cameras(db)
        if (row.config or {}).get("mode", "live") == mode
        and (visible is None or row.name in visible)
    )


def in_scope(camera: str | None, visible: set[str] | None) -> bool:
    """Whether a camera (None: no camera named) is in a scope of `visible_camera_names`."""
    return camera is None or sees(visible, camera)


@dataclass(frozen=True)
class Calibration:
    """What the calibration mode shows a caller (SPEC §2): its cameras in that mode, the
    would-be signals (newest first) and their counts per situation, zone and UTC hour."""

    cameras: list[str]
    records: list[store.CalibrationRecord]
    counts: dict[str, list[tuple[Any, int]]]


def calibration(
    db: Session,
    caller: Caller,
    *,
    camera: str | None = None,
    situation: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
) -> Calibration:
    """The calibration records of the caller's cameras, filtered; NotFound for a camera out
    of scope (answered like an unknown one)."""
    visible = visible_camera_names(db, caller)
    if not in_scope(camera, visible):
        raise NotFound(f"no camera named '{camera}'")
    filters: dict[str, Any] = dict(
        camera=camera, cameras=visible, situation=situation, since=since, until=until
    )
    return Calibration(
        cameras=cameras_in_mode(db, "calibration", visible),
        records=store.list_calibration(db, **filters, limit=limit),
        counts=store.calibration_counts(db, **filters),
    )


def statistics(
    db: Session,
    caller: Caller,
    *,
    camera: str | None = None,
    metric: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_EXPORT_ROWS,
) -> list[store.Statistic]:
    """The statistics aggregates of the caller's cameras, oldest bucket first; NotFound for a
    camera out of scope, Invalid for a filter the store refuses."""
    visible = visible_camera_names(db, caller)
    if not in_scope(camera, visible):
        raise NotFound(f"no camera named '{camera}'")
    try:
        return store.list_statistics(
            db, camera=camera, cameras=visible, metric=metric, subject=subject, since=since,
            until=until, limit=limit,
        )  # fmt: skip
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def statistics_cameras(db: Session, caller: Caller) -> list[str]:
    """The caller's cameras in the statistics mode."""
    return cameras_in_mode(db, "statistics", visible_camera_names(db, caller))


def statistics_export(
    db: Session,
    actor: str,
    fmt: str,
    rows: list[dict[str, Any]],
    filters: Mapping[str, Any],
) -> bytes:
    """The rows as CSV or Parquet, journaled `statistics.exported` (format, filters, row
    count) in the same transaction, before the file is handed over."""
    data = statistics_csv(rows) if fmt == "csv" else statistics_parquet(rows)
    details = {"format": fmt, "rows": len(rows)}
    details.update({k: _plain(v) for k, v in filters.items() if v is not None})
    store.journal_append(db, actor, "statistics.exported", "statistics", details)
    db.commit()
    return data
