"""Signals and further events that waited together are stored together: the hub hands them
over as one batch (in order, split by statistics rows, handed over again whole while the store
is away) and the recorder commits a batch in one transaction, storing each event alone when
one of them is malformed, so that it costs only itself. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from test_runtime_supervisor import site_for, wait_for

from veilleur import store
from veilleur.config import CameraConfig
from veilleur.runtime import AttachedEvent, SignalEvent, Supervisor, hub
from veilleur.runtime.events import StoreUnavailable
from veilleur.scene.statistics import StatisticRow
from veilleur.service.bus import SignalBus
from veilleur.service.platform import SignalRecorder
from veilleur.store import session_factory
from veilleur.types import FurtherEvent, Signal

pytest_plugins = ["db_fixtures"]

JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
WHEN = datetime(2026, 6, 1, 12, tzinfo=UTC)


def signal_event(camera: str = "hall", frame: int = 10, *, episode: str = "") -> SignalEvent:
    sig = Signal(
        situation="zone_intrusion", camera=camera, zone="door", start_s=1.0, end_s=2.0,
        frame=frame, bbox=(0.1, 0.2, 0.3, 0.4), confidence=0.8, model="m", config_version="v",
        episode=episode or f"{camera}-{frame}",
    )  # fmt: skip
    return SignalEvent(sig, JPEG, None, "limits", WHEN)


def further_event(camera: str, episode: str, end_s: float) -> AttachedEvent:
    ev = FurtherEvent(
        situation="zone_intrusion", camera=camera, zone="door", episode=episode,
        start_s=end_s - 1, end_s=end_s, frame=int(end_s * 5), bbox=(0.1, 0.2, 0.3, 0.4),
        confidence=0.8,
    )  # fmt: skip
    return AttachedEvent(ev, WHEN)


class RecordingBus(SignalBus):
    """A bus that keeps what it is told, in order, instead of telling streams (shared by the
    recorder's tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> None:
        self.published.append(event)

    def publish_many(self, events: list[dict[str, Any]]) -> None:
        self.published.extend(events)


# ---------------------------------------------------------------- the hub


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "STORE_RETRY_FIRST_S", 0.02)
    monkeypatch.setattr(hub, "STORE_RETRY_MAX_S", 0.1)


def frames_of(events: list[Any]) -> list[int]:
    return [e.signal.frame if isinstance(e, SignalEvent) else -1 for e in events]


def test_what_waited_together_is_handed_over_together_in_order(
    tmp_path: Path, fast_retries: None
) -> None:
    batches: list[list[int]] = []
    singles: list[int] = []
    rows: list[int] = []
    down = threading.Event()
    down.set()

    def on_batch(events: list[Any]) -> None:
        if down.is_set():
            raise StoreUnavailable("database down")
        batches.append(frames_of(events))

    def on_signal(ev: SignalEvent) -> None:
        if down.is_set():
            raise StoreUnavailable("database down")
        singles.append(ev.signal.frame)

    sup = Supervisor(
        site_for({"cam": tmp_path / "never-started.mp4"}), on_signal=on_signal,
        on_batch=on_batch, on_statistics=lambda r: rows.append(len(r)),
    )  # fmt: skip
    worker = threading.Thread(target=sup._deliver)
    try:
        # Queued before the delivery thread runs: they wait together. The store is away,
        # so the first batch is handed over again and again, whole.
        for frame in range(1, hub.MAX_BATCH + 11):
            sup._deliveries.put(signal_event(frame=frame))
        statistics = StatisticRow("cam", WHEN, 60, "occupancy", "", "", 1.0)
        sup._deliveries.put([statistics])
        sup._deliveries.put(signal_event(frame=999))
        worker.start()
        assert wait_for(lambda: sup.store_unavailable_since is not None, 5)
        down.clear()
        assert wait_for(lambda: singles == [999], 5), (batches, singles)
    finally:
        sup._deliveries.put(None)
        worker.join(5)
        sup.close()
    # At most MAX_BATCH at once, every one once and in order; the statistics rows in between
    # end a batch; what follows them alone is handed over alone.
    assert [len(b) for b in batches] == [hub.MAX_BATCH, 10]
    assert [f for b in batches for f in b] == list(range(1, hub.MAX_BATCH + 11))
    assert rows == [1]


def test_a_batch_failing_otherwise_is_not_retried(tmp_path: Path, fast_retries: None) -> None:
    tries: list[list[int]] = []

    def on_batch(events: list[Any]) -> None:
        tries.append(frames_of(events))
        raise ValueError("a bug, not an outage")

    sup = Supervisor(
        site_for({"cam": tmp_path / "x.mp4"}), on_signal=lambda e: None, on_batch=on_batch
    )
    worker = threading.Thread(target=sup._deliver)
    try:
        for frame in (1, 2, 3):
            sup._deliveries.put(signal_event(frame=frame))
        worker.start()
        assert wait_for(lambda: tries == [[1, 2, 3]], 5), tries
    finally:
        sup._deliveries.put(None)
        worker.join(5)
        sup.close()
    assert sup.store_unavailable_since is None


# ---------------------------------------------------------------- the recorder


@pytest.fixture
def recorder(db_engine: Engine, data_dir: Path) -> tuple[SignalRecorder, RecordingBus]:
    sessions = session_factory(db_engine)
    with sessions() as s:
        for name in ("hall", "gate"):
            store.upsert_camera(s, name, CameraConfig(source="x.mp4"))
        store.upsert_camera(s, "tuning", CameraConfig(source="x.mp4", mode="calibration"))
    bus = RecordingBus()
    return SignalRecorder(sessions, data_dir, bus), bus


def stored_frames(rec: SignalRecorder) -> list[tuple[str, int, int]]:
    with rec.sessions() as s:
        rows = s.scalars(select(store.SignalRow).order_by(store.SignalRow.id)).all()
        return [(r.camera, r.frame, r.further_count or 0) for r in rows]


def journal_count(rec: SignalRecorder, action: str) -> int:
    with rec.sessions() as s:
        q = select(func.count(store.JournalEntry.id)).where(store.JournalEntry.action == action)
        return int(s.scalar(q) or 0)


def test_a_batch_is_stored_and_told_in_order(
    recorder: tuple[SignalRecorder, RecordingBus], data_dir: Path
) -> None:
    rec, bus = recorder
    events: list[Any] = [
        signal_event("hall", 1),
        signal_event("gate", 2),
        further_event("hall", "hall-1", 5.0),  # its signal is in the same batch
        further_event("gate", "nowhere", 6.0),  # no such episode: an orphan
        signal_event("tuning", 3),  # a camera in the calibration mode: never a signal
    ]
    rec.batch(events)
    assert stored_frames(rec) == [("hall", 1, 1), ("gate", 2, 0)]
    assert journal_count(rec, "signal.recorded") == 2
    assert journal_count(rec, "signal.further_event") == 1
    assert [(e["type"], e["signal"]["camera"]) for e in bus.published] == [
        ("signal", "hall"), ("signal", "gate"), ("further_event", "hall"),
    ]  # fmt: skip
    assert bus.published[2]["signal"]["further_count"] == 1
    assert rec.orphans == 1 and rec.failures == 0
    with rec.sessions() as s:
        assert s.scalar(select(func.count(store.CalibrationRecord.id))) == 1
    assert len(list((data_dir / "media").rglob("*.jpg"))) == 3  # two signals, one record
    # Handed over again whole (its acknowledgement lost): stored once, attached once.
    rec.batch(events[:3])
    assert stored_frames(rec) == [("hall", 1, 1), ("gate", 2, 0)]


def test_one_bad_event_costs_only_itself(
    recorder: tuple[SignalRecorder, RecordingBus], data_dir: Path
) -> None:
    rec, bus = recorder
    bad = signal_event("gate", 2)
    object.__setattr__(bad.signal, "bbox", (0.1, float("nan"), 0.3, 0.4))
    rec.batch([signal_event("hall", 1), bad, signal_event("hall", 3)])
    assert stored_frames(rec) == [("hall", 1, 0), ("hall", 3, 0)]
    assert rec.failures == 1
    assert [e["signal"]["frame"] for e in bus.published] == [1, 3]
    # The files the failed transaction wrote are gone: one picture per stored signal.
    with rec.sessions() as s:
        paths = set(s.scalars(select(store.SignalRow.snapshot_path)).all())
    on_disk = {p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*.jpg")}
    assert on_disk == paths and len(paths) == 2


def test_unauthorised_events_of_a_batch_are_dropped(
    recorder: tuple[SignalRecorder, RecordingBus],
) -> None:
    rec, bus = recorder
    rec.authorised = lambda camera, situation, when: camera == "hall"
    rec.batch([signal_event("hall", 1), signal_event("gate", 2),
               further_event("gate", "gate-2", 4.0)])  # fmt: skip
    assert stored_frames(rec) == [("hall", 1, 0)]
    assert rec.refused == 2 and len(bus.published) == 1


def test_an_unreachable_store_keeps_nothing_of_the_batch(
    recorder: tuple[SignalRecorder, RecordingBus], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, bus = recorder
    real_add = store.add_signal
    calls = {"n": 0}

    def add_then_lose_the_database(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            from sqlalchemy.exc import OperationalError

            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        return real_add(*args, **kwargs)

    monkeypatch.setattr(store, "add_signal", add_then_lose_the_database)
    with pytest.raises(StoreUnavailable):
        rec.batch([signal_event("hall", 1), signal_event("hall", 2)])
    assert stored_frames(rec) == [] and bus.published == [] and rec.failures == 0
    assert not list(data_dir.rglob("*.jpg"))  # the first signal's picture went with it
    monkeypatch.setattr(store, "add_signal", real_add)
    rec.batch([signal_event("hall", 1), signal_event("hall", 2)])  # handed over again
    assert stored_frames(rec) == [("hall", 1, 0), ("hall", 2, 0)]
