"""Delivery through real receivers that go down and come back: a Mosquitto broker started by
the test on a free port (persistence on, as docs/delivery.md advises) and a local HTTP receiver
checking each webhook's signature. Signals recorded before, during and after the outage, with
the server's worker stopped and a new one started meanwhile: every signal reaches both, and a
signal that arrives twice arrives with the same idempotency key. On SQLite and PostgreSQL.

Skipped when `mosquitto` is not installed, except under CI (CI=true), where it must run
(`make test` installs Debian's mosquitto).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from veilleur import store
from veilleur.config.delivery import DeliverySettings
from veilleur.delivery import metrics as delivery_metrics
from veilleur.delivery.webhook import IDEMPOTENCY, verify
from veilleur.delivery.worker import DeliveryWorker
from veilleur.runtime.events import SignalEvent
from veilleur.service.bus import SignalBus
from veilleur.service.platform import SignalRecorder
from veilleur.store import outbox
from veilleur.store.scopes import set_camera_services
from veilleur.types import Signal

pytest_plugins = ["db_fixtures"]

SECRET = "integration-test-secret-0123"
TOPIC = "veilleur/test"


def _need_mosquitto() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("mosquitto is not installed; CI must have it (make test installs it)")
    pytest.skip("mosquitto is not installed (apt-get install mosquitto)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Broker:
    """A Mosquitto of the test's own, stopped (SIGTERM: it saves its persistence) and started
    again on the same port and files."""

    def __init__(self, exe: str, folder: Path) -> None:
        self.exe = exe
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nlog_dest file {folder}/mosquitto.log\n"
            # Started as root, mosquitto would become user `mosquitto`, who cannot write here.
            f"user {getpass.getuser()}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)])

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_for(listening, 10, "mosquitto to listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None


@dataclass
class Received:
    """What a receiver got: (idempotency key, signal id) per arrival, in order."""

    arrivals: list[tuple[str, int]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, signal_id: int) -> None:
        with self.lock:
            self.arrivals.append((key, signal_id))

    def signal_ids(self) -> set[int]:
        with self.lock:
            return {sid for _k, sid in self.arrivals}


class Subscriber:
    """A control room's MQTT client: persistent session (clean_session false), QoS 1, so the
    broker keeps its messages while it reconnects."""

    def __init__(self, port: int, received: Received) -> None:
        self.received = received
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="control-room-test",
            protocol=mqtt.MQTTv311, clean_session=False,
        )  # fmt: skip
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the subscriber did not subscribe"

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(f"{TOPIC}/#", qos=1)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        body = json.loads(message.payload)
        if not message.topic.startswith(f"{TOPIC}/north/"):
            self.received.bad.append(message.topic)
        self.received.add(body["idempotency_key"], body["signal"]["id"])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Receiver:
    """A webhook receiver on a fixed port, stopped and started again; it checks signatures.
    `slow` arrivals are taken, then answered too late (as if the acknowledgement were lost)."""

    def __init__(self, received: Received, status: int = 200) -> None:
        self.port = free_port()
        self.received = received
        self.status = status
        self.slow = 0
        self.hits = 0
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.hits += 1
                if not verify(SECRET.encode(), dict(self.headers.items()), body):
                    outer.received.bad.append("bad signature")
                    self.send_response(401)
                    self.end_headers()
                    return
                data = json.loads(body)
                if data["idempotency_key"] != self.headers[IDEMPOTENCY]:
                    outer.received.bad.append("key header differs from body")
                if outer.status == 200:
                    outer.received.add(data["idempotency_key"], data["signal"]["id"])
                if outer.slow > 0:
                    outer.slow -= 1
                    time.sleep(1.5)  # beyond the sender's timeout: it will try again
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            assert self.thread is not None
            self.thread.join(5)
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/veilleur"


def event(n: int) -> SignalEvent:
    return SignalEvent(
        signal=Signal(
            situation="zone_intrusion", camera="north", zone="quay", start_s=float(n),
            end_s=n + 1.0, frame=n, bbox=(0.1, 0.2, 0.3, 0.4), confidence=0.8,
            model="yolox-nano", config_version="v1", episode=f"ep-{n}",
        ),
        snapshot_jpeg=b"", clip_mp4=None, known_limits="none", wall_time=datetime.now(UTC),
    )  # fmt: skip


def delivery_settings(broker_port: int, hook_url: str, **overrides: Any) -> DeliverySettings:
    return DeliverySettings.model_validate(
        {
            "recipients": [
                {
                    "name": "room",
                    "kind": "webhook",
                    "service": "police",
                    "url": hook_url,
                    "secret": SECRET,
                    "timeout_s": 1.0,
                },
                {
                    "name": "bus",
                    "kind": "mqtt",
                    "service": "police",
                    "host": "127.0.0.1",
                    "port": broker_port,
                    "topic": TOPIC,
                    "timeout_s": 1.0,
                },
            ],
            "backoff_initial_s": 0.1,
            "backoff_max_s": 0.5,
            "poll_s": 0.1,
            "max_attempts": 1000,
            **overrides,
        }
    )


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = store.make_engine(db_url)
    factory = store.session_factory(engine)
    with factory() as s:
        store.upsert_camera(s, "north", {"source": "/videos/north.mp4"})
        set_camera_services(s, "north", ["police"])
    yield factory
    engine.dispose()


def states(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    with sessions() as s:
        rows = s.scalars(select(outbox.OutboxRow).order_by(outbox.OutboxRow.id))
        out: dict[str, list[str]] = {}
        for row in rows:
            out.setdefault(row.recipient, []).append(row.state)
        return out


def counter(metric: Any, name: str) -> float:
    return float(metric.labels(name)._value.get())


def test_mqtt_and_webhooks_survive_the_receivers_outage(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    broker = Broker(_need_mosquitto(), tmp_path)
    broker.start()
    hook_got, mqtt_got = Received(), Received()
    receiver = Receiver(hook_got)
    receiver.start()
    subscriber = Subscriber(broker.port, mqtt_got)
    settings = delivery_settings(broker.port, receiver.url)
    recorder = SignalRecorder(sessions, tmp_path, SignalBus())
    worker = DeliveryWorker(sessions, settings)
    recorder.delivery = worker
    worker.start()
    before = {n: counter(delivery_metrics.DELIVERED, n) for n in ("room", "bus")}
    failed_before = {n: counter(delivery_metrics.FAILED, n) for n in ("room", "bus")}
    try:
        for n in range(10):  # both up
            recorder(event(n))
        wait_for(lambda: len(hook_got.signal_ids()) == 10 and len(mqtt_got.signal_ids()) == 10,
                 20, "the first signals")  # fmt: skip

        receiver.stop()  # both go down
        broker.stop()
        for n in range(10, 25):
            recorder(event(n))
        wait_for(lambda: counter(delivery_metrics.FAILED, "room") > failed_before["room"]
                 and counter(delivery_metrics.FAILED, "bus") > failed_before["bus"],
                 20, "failed attempts during the outage")  # fmt: skip
        time.sleep(1.0)
        # The server restarts during the outage: what is queued is in the database.
        worker.stop()
        assert set(states(sessions)["room"][10:]) == {"pending"}
        assert set(states(sessions)["bus"][10:]) == {"pending"}
        worker = DeliveryWorker(sessions, settings)
        recorder.delivery = worker
        worker.start()
        for n in range(25, 30):
            recorder(event(n))
        gauges = worker.refresh_metrics()
        assert gauges["room"]["pending"] == 20 and gauges["bus"]["pending"] == 20

        receiver.slow = 2  # the first two after the outage: taken, but acknowledged too late
        receiver.start()
        broker.start()
        everything = set(range(1, 31))
        wait_for(lambda: hook_got.signal_ids() == everything
                 and mqtt_got.signal_ids() == everything, 60, "every signal")  # fmt: skip
        wait_for(lambda: states(sessions) == {"room": ["delivered"] * 30,
                                              "bus": ["delivered"] * 30},
                 20, "every delivery marked")  # fmt: skip
    finally:
        worker.stop()
        subscriber.close()
        receiver.stop()
        broker.stop()

    assert hook_got.bad == [] and mqtt_got.bad == []
    with sessions() as s:
        keys = {(r.recipient, r.key): r.signal_id for r in s.scalars(select(outbox.OutboxRow))}
    for name, got in (("room", hook_got), ("bus", mqtt_got)):
        # Nothing lost; a duplicate only ever repeats a key, and a key is one signal.
        assert {sid for _k, sid in got.arrivals} == everything
        assert all(keys[(name, key)] == sid for key, sid in got.arrivals)
        assert len({key for key, _sid in got.arrivals}) == 30
        assert counter(delivery_metrics.DELIVERED, name) - before[name] == 30
    # The two answered too late came twice, with their key.
    assert len(hook_got.arrivals) >= 32
    gauges = worker.refresh_metrics()
    assert gauges["room"]["pending"] == 0 and gauges["bus"]["pending"] == 0
    assert counter(delivery_metrics.PENDING, "room") == 0


def test_a_receiver_that_keeps_failing_is_dead_lettered_at_the_bound(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    failing = Receiver(Received(), status=503)
    refusing = Receiver(Received(), status=400)
    failing.start()
    refusing.start()
    settings = DeliverySettings.model_validate(
        {
            "recipients": [
                {
                    "name": "failing",
                    "kind": "webhook",
                    "service": "police",
                    "url": failing.url,
                    "secret": SECRET,
                    "timeout_s": 1.0,
                },
                {
                    "name": "refusing",
                    "kind": "webhook",
                    "service": "police",
                    "url": refusing.url,
                    "secret": SECRET,
                    "timeout_s": 1.0,
                },
            ],
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.1,
            "poll_s": 0.05,
            "max_attempts": 4,
        }
    )
    recorder = SignalRecorder(sessions, tmp_path, SignalBus())
    worker = DeliveryWorker(sessions, settings)
    recorder.delivery = worker
    worker.start()
    try:
        recorder(event(1))
        wait_for(lambda: states(sessions) == {"failing": ["dead"], "refusing": ["dead"]}, 20,
                 "both dead-lettered")  # fmt: skip
    finally:
        worker.stop()
        failing.stop()
        refusing.stop()
    assert (failing.hits, refusing.hits) == (4, 1)  # 503: retried to the bound; 400: once
    with sessions() as s:
        dead = {r.recipient: r for r in outbox.list_rows(s, state="dead")}
    assert dead["failing"].attempts == 4 and "HTTP 503" in (dead["failing"].last_error or "")
    assert dead["refusing"].attempts == 1 and "HTTP 400" in (dead["refusing"].last_error or "")
