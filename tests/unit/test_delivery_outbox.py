"""The delivery outbox's state machine and the worker's rounds, on SQLite and PostgreSQL, with
transports that stand for a receiver (the real broker and HTTP receiver are in
tests/integration/test_delivery_outage.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from veilleur import store
from veilleur.config.delivery import DeliverySettings
from veilleur.delivery import PermanentError, TransientError
from veilleur.delivery import metrics as delivery_metrics
from veilleur.delivery.worker import DeliveryWorker
from veilleur.store import outbox
from veilleur.store.models import JournalEntry, SignalRow
from veilleur.store.scopes import set_camera_services
from veilleur.types import Signal

pytest_plugins = ["db_fixtures"]

SECRET = "0123456789abcdef-secret"
T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    """Stands for veilleur.runtime.SignalEvent (same attributes)."""

    signal: Signal
    snapshot_jpeg: bytes
    clip_mp4: bytes | None
    known_limits: str
    wall_time: datetime


def event(camera: str = "north", situation: str = "zone_intrusion", episode: str = "ep-1") -> Event:
    signal = Signal(
        situation=situation, camera=camera, zone="quay", start_s=1.0, end_s=2.0, frame=10,
        bbox=(0.1, 0.2, 0.3, 0.4), confidence=0.9, model="yolox-nano", config_version="v1",
        episode=episode,
    )  # fmt: skip
    return Event(signal, b"", None, "none", T0)


def settings(**overrides: Any) -> DeliverySettings:
    data: dict[str, Any] = {
        "recipients": [
            {"name": "room", "kind": "webhook", "service": "police",
             "url": "http://127.0.0.1:9/hook", "secret": SECRET},
            {"name": "bus", "kind": "mqtt", "service": "transport", "host": "127.0.0.1"},
        ],
        "backoff_initial_s": 1.0,
        "backoff_max_s": 8.0,
        "max_attempts": 4,
        **overrides,
    }  # fmt: skip
    return DeliverySettings.model_validate(data)


@dataclass
class FakeTransport:
    """A receiver that fails `fail` times (transiently, or refuses when `refuse`), then
    acknowledges; keeps what it acknowledged."""

    fail: int = 0
    refuse: bool = False
    got: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    tries: int = 0

    def send(self, key: str, event: str, payload: dict[str, Any]) -> None:
        self.tries += 1
        if self.refuse:
            raise PermanentError("answered HTTP 400")
        if self.fail > 0:
            self.fail -= 1
            raise TransientError("connection refused")
        self.got.append((key, event, payload))

    def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def sessions(db_engine: Engine) -> sessionmaker[Session]:
    factory = store.session_factory(db_engine)
    with factory() as s:
        # Camera "north" belongs to service police, "east" to transport, "west" to none.
        for name, services in (("north", ["police"]), ("east", ["transport"]), ("west", [])):
            store.upsert_camera(s, name, {"source": f"/videos/{name}.mp4"})
            set_camera_services(s, name, services)
    return factory


@pytest.fixture
def env(sessions: sessionmaker[Session]) -> Iterator[tuple[DeliveryWorker, dict[str, Any], Clock]]:
    clock = Clock()
    transports = {"room": FakeTransport(), "bus": FakeTransport()}
    worker = DeliveryWorker(sessions, settings(), transports=transports, clock=clock)
    yield worker, transports, clock
    worker.stop()


def record(sessions: sessionmaker[Session], worker: DeliveryWorker, data_dir: Path,
           camera: str = "north", episode: str | None = None) -> int:  # fmt: skip
    # Each signal its own episode: a store may keep one signal per episode (a signal handed
    # over again after a lost acknowledgement is stored once).
    ev = event(camera, episode=episode or uuid.uuid4().hex)
    with sessions() as s:
        return store.record_signal(s, ev, data_dir, before_commit=worker.enqueue).id


def rows(sessions: sessionmaker[Session]) -> list[outbox.OutboxRow]:
    with sessions() as s:
        return list(s.scalars(select(outbox.OutboxRow).order_by(outbox.OutboxRow.id)))


def test_a_signal_is_queued_for_its_services_recipients_only(
    env: Any, sessions: Any, data_dir: Path
) -> None:
    worker, _t, _c = env
    north = record(sessions, worker, data_dir, "north", episode="ep-1")
    east = record(sessions, worker, data_dir, "east")
    record(sessions, worker, data_dir, "west")  # no service: no delivery
    found = [(r.recipient, r.signal_id, r.state, r.attempts) for r in rows(sessions)]
    assert found == [("room", north, "pending", 0), ("bus", east, "pending", 0)]
    payload = rows(sessions)[0].payload
    assert payload["situation"] == "zone_intrusion" and payload["camera"] == "north"
    assert payload["episode"] == "ep-1" and payload["bbox"] == [0.1, 0.2, 0.3, 0.4]
    # What, where, when and how sure: nothing about who (no user, no review, no track).
    assert set(payload) == {
        "id", "situation", "camera", "zone", "occurred_at", "start_s", "end_s", "confidence",
        "bbox", "episode", "model", "config_version", "further_count",
    }  # fmt: skip
    assert len({r.key for r in rows(sessions)}) == 2


def test_the_outbox_row_and_the_signal_commit_together(
    env: Any, sessions: Any, data_dir: Path
) -> None:
    worker, _t, _c = env

    def enqueue_then_fail(s: Session, row: SignalRow) -> None:
        worker.enqueue(s, row)
        raise RuntimeError("the database went away")

    with sessions() as s, pytest.raises(RuntimeError):
        store.record_signal(s, event(), data_dir, before_commit=enqueue_then_fail)
    with sessions() as s:
        assert s.scalar(select(func.count(SignalRow.id))) == 0
    assert rows(sessions) == []


def test_claim_leases_rows_and_a_dead_worker_s_lease_runs_out(
    sessions: Any, data_dir: Path, env: Any
) -> None:
    worker, _t, _c = env
    for _ in range(3):
        record(sessions, worker, data_dir)
    now = datetime.now(UTC) + timedelta(seconds=1)
    with sessions() as s:
        first = outbox.claim(s, ["room"], now=now, lease_s=30, limit=2)
        assert [r.signal_id for r in first] == [1, 2] or len(first) == 2
        second = outbox.claim(s, ["room"], now=now, lease_s=30, limit=10)
        assert len(second) == 1  # the two leased rows are not taken again
        assert outbox.claim(s, ["room"], now=now, lease_s=30, limit=10) == []
        # The claiming worker died: after the lease, the rows are due again.
        again = outbox.claim(s, ["room"], now=now + timedelta(seconds=31), lease_s=30, limit=10)
        assert len(again) == 3
        assert outbox.claim(s, ["bus"], now=now, lease_s=30, limit=10) == []


def test_failures_back_off_then_dead_letter_at_the_bound(
    sessions: Any, data_dir: Path, env: Any
) -> None:
    worker, _t, _c = env
    record(sessions, worker, data_dir)
    row_id = rows(sessions)[0].id
    now = T0
    waits = []
    with sessions() as s:
        for attempt in range(1, 4):
            state = outbox.mark_failed(s, row_id, "down", now=now, max_attempts=4,
                                       initial_s=1.0, max_s=3.0)  # fmt: skip
            assert state == "pending"
            row = s.get(outbox.OutboxRow, row_id)
            assert row is not None and row.attempts == attempt
            waits.append((row.next_at - now).total_seconds())
        assert 0.8 <= waits[0] <= 1.0 and 1.6 <= waits[1] <= 2.0 and 2.4 <= waits[2] <= 3.0
        assert outbox.mark_failed(s, row_id, "down", now=now, max_attempts=4, initial_s=1.0,
                                  max_s=3.0) == "dead"  # fmt: skip
        # Not pending any more: a late acknowledgement or failure changes nothing.
        assert outbox.mark_delivered(s, row_id, now=now) is False
        assert outbox.mark_failed(s, row_id, "x", now=now, max_attempts=4, initial_s=1.0,
                                  max_s=3.0) is None  # fmt: skip
        entry = s.scalar(
            select(JournalEntry).where(JournalEntry.action == "delivery.dead_lettered")
        )
        assert entry is not None and entry.target == f"delivery:{row_id}"
        assert '"recipient":"room"' in entry.details


def test_backoff_doubles_up_to_its_bound() -> None:
    for attempts, low, high in ((1, 0.8, 1.0), (2, 1.6, 2.0), (5, 12.8, 16.0), (40, 240, 300)):
        for _ in range(20):
            assert low <= outbox.backoff_s(attempts, 1.0, 300.0) <= high


def test_an_administrator_retries_a_dead_letter(sessions: Any, data_dir: Path, env: Any) -> None:
    worker, _t, _c = env
    record(sessions, worker, data_dir)
    row_id = rows(sessions)[0].id
    with sessions() as s:
        with pytest.raises(ValueError, match="pending, not dead"):
            outbox.retry(s, row_id, "administrator")
        outbox.mark_failed(s, row_id, "HTTP 400", now=T0, max_attempts=9, initial_s=1,
                           max_s=2, permanent=True)  # fmt: skip
        row = outbox.retry(s, row_id, "administrator", now=T0)
        assert (row.state, row.attempts, row.next_at) == ("pending", 0, T0)
        with pytest.raises(LookupError):
            outbox.retry(s, 999_999, "administrator")
        entry = s.scalar(select(JournalEntry).where(JournalEntry.action == "delivery.retried"))
        assert entry is not None and entry.actor == "administrator"


def test_the_worker_delivers_each_row_once_with_its_key(
    env: Any, sessions: Any, data_dir: Path
) -> None:
    worker, transports, clock = env
    ids = [record(sessions, worker, data_dir) for _ in range(3)]
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    before = delivery_metrics.DELIVERED.labels("room")._value.get()
    assert worker.run_once("room") == 3
    assert worker.run_once("room") == 0
    got = transports["room"].got
    assert [p["id"] for _k, _e, p in got] == ids
    assert [k for k, _e, _p in got] == [r.key for r in rows(sessions)]
    assert {e for _k, e, _p in got} == {"signal.recorded"}
    assert all(r.state == "delivered" and r.attempts == 1 for r in rows(sessions))
    assert delivery_metrics.DELIVERED.labels("room")._value.get() == before + 3


def test_a_down_recipient_is_held_and_its_other_rows_wait_untried(
    env: Any, sessions: Any, data_dir: Path
) -> None:
    worker, transports, clock = env
    transports["room"].fail = 3
    for _ in range(5):
        record(sessions, worker, data_dir)
    record(sessions, worker, data_dir, "east")
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    assert worker.run_once("room") == 1  # the first fails; the other four go back untried
    assert worker.run_once("room") == 0  # held for its back-off
    assert [r.attempts for r in rows(sessions) if r.recipient == "room"] == [1, 0, 0, 0, 0]
    assert worker.run_once("bus") == 1  # another recipient is not held up
    for _ in range(3):
        clock.advance(10)
        worker.run_once("room")
    assert [r.state for r in rows(sessions)] == ["delivered"] * 6
    assert [r.attempts for r in rows(sessions) if r.recipient == "room"] == [4, 1, 1, 1, 1]
    assert len(transports["room"].got) == 5 and transports["room"].tries == 8
    assert worker.lanes["room"].held_until is None


def test_dead_letter_after_max_attempts_and_at_once_on_refusal(
    env: Any, sessions: Any, data_dir: Path
) -> None:
    worker, transports, clock = env
    transports["room"].fail = 100
    record(sessions, worker, data_dir)
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    dead_before = delivery_metrics.DEAD.labels("room")._value.get()
    for _ in range(10):
        worker.run_once("room")
        clock.advance(60)
    (row,) = rows(sessions)
    assert (row.state, row.attempts, row.last_error) == ("dead", 4, "connection refused")
    assert transports["bus"].tries == 0
    transports["bus"].refuse = True
    record(sessions, worker, data_dir, "east")
    worker.run_once("bus")
    assert [(r.state, r.attempts) for r in rows(sessions)] == [("dead", 4), ("dead", 1)]
    assert delivery_metrics.DEAD.labels("room")._value.get() == dead_before + 1
    gauges = worker.refresh_metrics()
    assert gauges["room"]["dead"] == 1 and gauges["bus"]["dead"] == 1
    assert delivery_metrics.DEAD_NOW.labels("room")._value.get() == 1


def test_prune_removes_old_deliveries_and_those_of_purged_signals(
    env: Any, sessions: Any, data_dir: Path
) -> None:
    worker, _transports, clock = env
    kept = record(sessions, worker, data_dir)
    purged = record(sessions, worker, data_dir)
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    worker.run_once("room")
    assert worker.prune() == 0
    with sessions() as s:  # as the retention purge deletes a signal
        row = s.get(SignalRow, purged)
        assert row is not None
        s.delete(row)
        s.commit()
    assert worker.prune() == 1
    assert [r.signal_id for r in rows(sessions)] == [kept]
    clock.advance(7 * 86400 + 10)
    assert worker.prune() == 1
    assert rows(sessions) == []


def test_the_worker_thread_delivers_soon_after_a_wake(sessions: Any, data_dir: Path) -> None:
    transport = FakeTransport()
    worker = DeliveryWorker(sessions, settings(poll_s=30), transports={"room": transport})
    worker.start()
    try:
        assert worker.running
        record(sessions, worker, data_dir)
        worker.wake()
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not transport.got and datetime.now(UTC) < deadline:
            worker._stop.wait(0.02)
        assert len(transport.got) == 1
    finally:
        worker.stop()
    assert not worker.running


@dataclass(frozen=True)
class Further:
    situation: str
    camera: str
    episode: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Attached:
    event: Further
    wall_time: datetime


def test_a_further_event_is_queued_as_its_own_delivery(env: Any, sessions: Any,
                                                       data_dir: Path) -> None:  # fmt: skip
    worker, transports, clock = env
    signal_id = record(sessions, worker, data_dir, episode="ep-1")
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    further = Attached(Further("zone_intrusion", "north", "ep-1", 5.0, 6.5), T0)
    with sessions() as s:
        row = store.attach_further(s, further, before_commit=worker.enqueue_further)
        assert row is not None and row.further_count == 1
    queued = rows(sessions)
    assert [(r.event, r.signal_id) for r in queued] == [
        ("signal.recorded", signal_id), ("signal.further_event", signal_id),
    ]  # fmt: skip
    assert queued[1].key != queued[0].key
    assert queued[1].payload["further_count"] == 1
    assert queued[1].payload["further"]["start_s"] == 5.0
    assert worker.run_once("room") == 2
    assert [e for _k, e, _p in transports["room"].got] == ["signal.recorded",
                                                          "signal.further_event"]  # fmt: skip
