"""REST routes of the calibration and statistics modes (SPEC §2); see docs/modes.md.

GET /api/calibration: would-be signals of cameras in calibration mode, with counts per
situation, zone and hour (supervisors, administrators). GET /api/statistics (.csv, .parquet):
the anonymous aggregates (every role). Everything is limited to the caller's cameras (S9).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response

from veilleur import store
from veilleur.config import SITUATION_IDS
from veilleur.http.auth import Db, allow
from veilleur.service.access import CONTROL, READ, Caller
from veilleur.service.inputs import Id, UtcDateTime
from veilleur.service.modes import (
    MAX_EXPORT_ROWS,
    calibration,
    calibration_json,
    in_scope,
    statistic_json,
    statistics,
    statistics_cameras,
    statistics_export,
)
from veilleur.service.scope import visible_camera_names
from veilleur.store.calibration import MAX_CALIBRATION_LIST

router = APIRouter(prefix="/api", tags=["modes"])

Tuner = Annotated[Caller, Depends(allow(*CONTROL))]
Reader = Annotated[Caller, Depends(allow(*READ))]


def utc(at: datetime | None) -> datetime | None:
    """A query's time as aware UTC (a time without zone is read as UTC)."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _check_period(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise HTTPException(422, detail="'since' must be before 'until'")


@router.get("/calibration")
def get_calibration(
    caller: Tuner,
    db: Db,
    camera: str | None = None,
    situation: str | None = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CALIBRATION_LIST)] = 100,
) -> dict[str, Any]:
    """What cameras in calibration mode would have signalled (newest first), and how many per
    situation, zone and UTC hour, for the filters given."""
    if situation is not None and situation not in SITUATION_IDS:
        raise HTTPException(422, detail=f"unknown situation '{situation}'; one of "
                            f"{', '.join(SITUATION_IDS)}")  # fmt: skip
    since, until = utc(since), utc(until)
    _check_period(since, until)
    view = calibration(
        db, caller, camera=camera, situation=situation, since=since, until=until, limit=limit
    )
    return {
        "cameras": view.cameras,
        "records": [calibration_json(r) for r in view.records],
        "counts": {k: [{"key": key, "count": n} for key, n in v] for k, v in view.counts.items()},
    }


@router.get("/calibration/{record_id}/snapshot.jpg", response_class=FileResponse)
def calibration_snapshot(record_id: Id, caller: Tuner, db: Db, request: Request) -> FileResponse:
    """The blurred snapshot of a would-be signal; each view is journaled (`media.viewed`)."""
    row = db.get(store.CalibrationRecord, record_id)
    if row is None or not in_scope(row.camera, visible_camera_names(db, caller)):
        raise HTTPException(404, detail=f"no calibration record {record_id}")
    path = request.app.state.platform.media_path(row.snapshot_path)
    if path is None:
        raise HTTPException(404, detail=f"calibration record {record_id} has no snapshot")
    store.journal_append(db, caller.username, "media.viewed", f"calibration:{record_id}",
                         {"kind": "snapshot"})  # fmt: skip
    db.commit()
    return FileResponse(path, media_type="image/jpeg")


def _rows(
    db: Db,
    caller: Caller,
    camera: str | None,
    metric: str | None,
    subject: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[store.Statistic]:
    since, until = utc(since), utc(until)
    _check_period(since, until)
    return statistics(
        db, caller, camera=camera, metric=metric, subject=subject, since=since, until=until,
        limit=limit,
    )  # fmt: skip


@router.get("/statistics")
def get_statistics(
    caller: Reader,
    db: Db,
    camera: str | None = None,
    metric: str | None = None,
    subject: str | None = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT_ROWS)] = 10_000,
) -> dict[str, Any]:
    """Aggregates of cameras in statistics mode, oldest bucket first: metric (zone_entries,
    line_crossings, occupancy_mean, occupancy_max, density), subject (zone or line; '' for the
    whole picture), direction (line crossings: forward, backward) and value per bucket."""
    rows = _rows(db, caller, camera, metric, subject, since, until, limit)
    return {
        "cameras": statistics_cameras(db, caller),
        "rows": [statistic_json(r) for r in rows],
        "truncated": len(rows) == limit,
    }


def _export(fmt: str, caller: Caller, db: Db, **filters: Any) -> Response:
    rows = _rows(db, caller, limit=MAX_EXPORT_ROWS, **filters)
    plain = [store.statistic_dict(r) for r in rows]
    data = statistics_export(db, caller.username, fmt, plain, filters)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/vnd.apache.parquet"
    return Response(
        data, media_type=media,
        headers={"Content-Disposition": f'attachment; filename="statistics.{fmt}"'},
    )  # fmt: skip


@router.get("/statistics.csv", response_class=Response)
def statistics_csv(
    caller: Reader, db: Db, camera: str | None = None, metric: str | None = None,
    subject: str | None = None, since: UtcDateTime | None = None, until: UtcDateTime | None = None,
) -> Response:  # fmt: skip
    """The aggregates as CSV (same filters); journaled `statistics.exported`."""
    return _export("csv", caller, db, camera=camera, metric=metric, subject=subject,
                   since=since, until=until)  # fmt: skip


@router.get("/statistics.parquet", response_class=Response)
def statistics_parquet(
    caller: Reader, db: Db, camera: str | None = None, metric: str | None = None,
    subject: str | None = None, since: UtcDateTime | None = None, until: UtcDateTime | None = None,
) -> Response:  # fmt: skip
    """The aggregates as Parquet (same filters); journaled `statistics.exported`."""
    return _export("parquet", caller, db, camera=camera, metric=metric, subject=subject,
                   since=since, until=until)  # fmt: skip
