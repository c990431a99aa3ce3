"""Console pages of the calibration and statistics modes (SPEC §2); see docs/modes.md.

/calibration (supervisors, administrators): what cameras in calibration mode would have
signalled, with counts per situation, zone and hour to tune thresholds and zones.
/statistics (every role): charts of the anonymous aggregates, CSV and Parquet downloads.
Both show only the caller's cameras (S9).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from veilleur import store
from veilleur.config import SITUATION_IDS
from veilleur.http.auth import Db, allow
from veilleur.service.access import CONTROL, READ, Caller
from veilleur.service.errors import NotFound
from veilleur.service.modes import calibration, statistics, statistics_cameras
from veilleur.web.pages import render
from veilleur.web.stats_charts import charts_by_metric

router = APIRouter(include_in_schema=False)

Tuner = Annotated[Caller, Depends(allow(*CONTROL))]
Reader = Annotated[Caller, Depends(allow(*READ))]

DEFAULT_DAYS = 7
CALIBRATION_SHOWN = 100


def _period(since: str | None, until: str | None) -> tuple[datetime, datetime, str | None]:
    """The days asked (YYYY-MM-DD, UTC; `until` inclusive); the last 7 days by default."""
    today = datetime.now(UTC).date()
    error = None
    try:
        first = date.fromisoformat(since) if since else today - timedelta(days=DEFAULT_DAYS - 1)
        last = date.fromisoformat(until) if until else today
    except ValueError:
        error = "dates are YYYY-MM-DD; the last 7 days are shown instead"
        first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    if last < first:
        error = "the period ends before it starts; the last 7 days are shown instead"
        first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    start = datetime.combine(first, time(), UTC)
    return start, datetime.combine(last + timedelta(days=1), time(), UTC), error


@router.get("/calibration", response_class=HTMLResponse)
def calibration_page(
    request: Request,
    caller: Tuner,
    db: Db,
    camera: str | None = None,
    situation: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> HTMLResponse:
    camera = camera or None
    situation = situation if situation in SITUATION_IDS else None
    start, end, error = _period(since, until)
    period: dict[str, Any] = dict(situation=situation, since=start, until=end)
    try:
        view = calibration(db, caller, camera=camera, **period, limit=CALIBRATION_SHOWN)
    except NotFound:
        camera, error = None, "no such camera among yours; all are shown"
        view = calibration(db, caller, **period, limit=CALIBRATION_SHOWN)
    return render(
        request,
        "calibration.html",
        caller,
        {
            "cameras": view.cameras,
            "camera": camera,
            "situation": situation,
            "since": start.date().isoformat(),
            "until": (end - timedelta(days=1)).date().isoformat(),
            "records": view.records,
            "shown": CALIBRATION_SHOWN,
            "counts": view.counts,
            "error": error,
        },
    )


@router.get("/statistics", response_class=HTMLResponse)
def statistics_page(
    request: Request,
    caller: Reader,
    db: Db,
    camera: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> HTMLResponse:
    camera = camera or None
    start, end, error = _period(since, until)
    try:
        rows = statistics(db, caller, camera=camera, since=start, until=end)
    except NotFound:
        camera, error = None, "no such camera among yours; all are shown"
        rows = statistics(db, caller, since=start, until=end)
    query = {"since": start.isoformat(), "until": end.isoformat()}
    if camera:
        query["camera"] = camera
    return render(
        request,
        "statistics.html",
        caller,
        {
            "cameras": statistics_cameras(db, caller),
            "camera": camera,
            "since": start.date().isoformat(),
            "until": (end - timedelta(days=1)).date().isoformat(),
            "charts": charts_by_metric(store.statistic_dict(r) for r in rows),
            "count": len(rows),
            "download": urlencode(query),
            "error": error,
        },
    )
