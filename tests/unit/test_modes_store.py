"""Statistics and calibration records in the store, and the calibration routing of the
platform's signal recorder, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from test_signal_batches import RecordingBus

from veilleur import store
from veilleur.config import CameraConfig
from veilleur.scene.statistics import StatisticRow
from veilleur.service.modes import StatisticsRecorder, statistics_csv, statistics_parquet
from veilleur.service.platform import SignalRecorder
from veilleur.store import session_factory
from veilleur.types import Signal

pytest_plugins = ["db_fixtures"]

JPEG = bytes(cv2.imencode(".jpg", np.full((36, 64, 3), 90, np.uint8))[1])
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    signal: Signal
    snapshot_jpeg: bytes
    clip_mp4: bytes | None
    known_limits: str
    wall_time: datetime
    mode: str = "live"


def event(camera: str = "hall", mode: str = "live", when: datetime = T0,
          situation: str = "zone_intrusion", zone: str | None = "door") -> Event:  # fmt: skip
    sig = Signal(
        situation=situation, camera=camera, zone=zone, start_s=1.0, end_s=2.0, frame=10,
        bbox=(0.1, 0.2, 0.3, 0.4), confidence=0.8, model="m", config_version="v",
    )  # fmt: skip
    return Event(sig, JPEG, None, "limits", when, mode)


def row(metric: str = "zone_entries", value: float = 3, *, camera: str = "hall",
        at: datetime = T0, subject: str = "door", direction: str = "") -> StatisticRow:  # fmt: skip
    return StatisticRow(camera, at, 60, metric, subject, direction, value)


def test_statistics_upsert_and_query(db_session: Session) -> None:
    store.record_statistics(db_session, [
        row(), row("line_crossings", 2, subject="gate", direction="forward"),
        row("line_crossings", 1, subject="gate", direction="backward"),
        row(at=T0 + timedelta(minutes=1), value=5), row(camera="yard", value=7),
    ])  # fmt: skip
    # The same bucket sent again replaces its figure.
    store.record_statistics(db_session, [row(value=4)])
    got = store.list_statistics(db_session, camera="hall", metric="zone_entries")
    assert [(r.bucket_start, r.value) for r in got] == [(T0, 4), (T0 + timedelta(minutes=1), 5)]
    assert got[0].bucket_start.tzinfo is not None
    assert len(store.list_statistics(db_session, cameras={"yard"})) == 1
    assert store.list_statistics(db_session, cameras=set()) == []
    period = store.list_statistics(db_session, since=T0 + timedelta(seconds=30))
    assert [r.value for r in period] == [5]
    dirs = store.list_statistics(db_session, metric="line_crossings")
    assert {(r.direction, r.value) for r in dirs} == {("forward", 2), ("backward", 1)}


def test_statistics_refuse_bad_rows(db_session: Session) -> None:
    with pytest.raises(ValueError, match="metric"):
        store.record_statistics(db_session, [row("faces")])
    with pytest.raises(ValueError, match="direction"):
        store.record_statistics(db_session, [row(direction="up")])
    with pytest.raises(ValueError, match="aware"):
        store.record_statistics(db_session, [row(at=datetime(2026, 1, 1))])
    with pytest.raises(ValueError, match="metric"):
        store.list_statistics(db_session, metric="nope")
    assert store.list_statistics(db_session) == []


def test_exports_hold_the_rows(db_session: Session) -> None:
    store.record_statistics(db_session, [row(), row("occupancy_mean", 1.5, subject="")])
    rows = [store.statistic_dict(r) for r in store.list_statistics(db_session)]
    text = statistics_csv(rows).decode().splitlines()
    assert text[0] == "camera,bucket_start,bucket_s,metric,subject,direction,value"
    assert len(text) == 3 and "2026-03-02T09:00:00+00:00" in text[1]
    table = pq.read_table(io.BytesIO(statistics_parquet(rows)))
    assert table.num_rows == 2 and table.column_names == text[0].split(",")
    assert sorted(table.column("value").to_pylist()) == [1.5, 3.0]


def test_statistics_recorder_stores_and_survives_failures(db_engine: Engine) -> None:
    sessions = session_factory(db_engine)
    rec = StatisticsRecorder(sessions)
    rec([row(), row("occupancy_max", 2, subject="")])
    rec([row("not_a_metric")])  # refused, counted, the recorder carries on
    assert rec.failures == 1
    with sessions() as s:
        assert len(store.list_statistics(s)) == 2


def test_calibration_records_and_counts(db_session: Session, data_dir: Path) -> None:
    for i, (sit, zone) in enumerate([("zone_intrusion", "door"), ("zone_intrusion", "door"),
                                     ("wrong_way", None)]):  # fmt: skip
        store.record_calibration(
            db_session, event(situation=sit, zone=zone, when=T0 + timedelta(hours=i)), data_dir
        )
    rows = store.list_calibration(db_session, camera="hall")
    assert [r.situation for r in rows] == ["wrong_way", "zone_intrusion", "zone_intrusion"]
    snap = data_dir / rows[0].snapshot_path
    assert snap.read_bytes() == JPEG and "media/calibration" in rows[0].snapshot_path
    counts = store.calibration_counts(db_session)
    assert counts["situation"] == [("zone_intrusion", 2), ("wrong_way", 1)]
    assert counts["zone"] == [("door", 2), ("", 1)]
    assert counts["hour"] == [("09", 1), ("10", 1), ("11", 1)]
    assert store.list_calibration(db_session, situation="wrong_way", cameras={"hall"})
    assert store.list_calibration(db_session, cameras={"yard"}) == []
    assert store.list_calibration(db_session, since=T0 + timedelta(minutes=30),
                                  until=T0 + timedelta(minutes=90))[0].zone == "door"  # fmt: skip


def test_signal_recorder_routes_calibration(db_engine: Engine, data_dir: Path) -> None:
    sessions = session_factory(db_engine)
    with sessions() as s:
        store.upsert_camera(s, "calib", CameraConfig(source="x.mp4", mode="calibration"))
        store.upsert_camera(s, "live", CameraConfig(source="y.mp4"))
    bus = RecordingBus()
    rec = SignalRecorder(sessions, data_dir, bus)
    rec(event("live", mode="calibration"))  # its process ran it in calibration
    rec(event("calib"))  # its configuration says calibration now
    assert bus.published == [] and rec.failures == 0
    with sessions() as s:
        assert s.scalar(select(func.count(store.SignalRow.id))) == 0
        assert len(store.list_calibration(s)) == 2
        assert not s.scalar(
            select(func.count(store.JournalEntry.id)).where(
                store.JournalEntry.action == "signal.recorded"
            )
        )
    rec(event("live"))
    assert [e["type"] for e in bus.published] == ["signal"]
    with sessions() as s:
        assert s.scalar(select(func.count(store.SignalRow.id))) == 1
    # Only calibration snapshots were written, under the calibration folder, plus the signal's.
    snaps = sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*.jpg"))
    assert sum("media/calibration/" in p for p in snaps) == 2 and len(snaps) == 3
