"""Delivery latency and throughput, through a real Mosquitto and a local webhook receiver.

Signals are recorded as the server records them (`SignalRecorder`, outbox row in the signal's
transaction, worker woken at the commit) on SQLite; each receiver notes when a signal arrives.

- steady: one signal every `--interval` seconds; latency = from the call that records it to
  its arrival (webhook, MQTT): median, p95, max.
- backlog: `--backlog` signals recorded while both receivers are down, then both come back;
  drain = signals per second from the restart to the last arrival.

    python bench/delivery.py                       # 200 steady, 2000 in the backlog
    python bench/delivery.py --steady 50 --backlog 500 --json out.json
    python bench/delivery.py --database postgresql+psycopg://postgres@127.0.0.1/bench_delivery

Needs `mosquitto` (Debian's package); starts its own on a free port.
"""

from __future__ import annotations

import argparse
import getpass
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from veilleur import store
from veilleur.config.delivery import DeliverySettings
from veilleur.delivery.worker import DeliveryWorker
from veilleur.runtime.events import SignalEvent
from veilleur.service.bus import SignalBus
from veilleur.service.platform import SignalRecorder
from veilleur.store.scopes import set_camera_services
from veilleur.types import Signal

SECRET = "bench-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.count = 0
        self.lock = threading.Lock()

    def add(self, signal_id: int) -> None:
        with self.lock:
            self.count += 1
            self.at.setdefault(signal_id, time.perf_counter())


def start_broker(exe: str, folder: Path, port: int) -> subprocess.Popen[bytes]:
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {folder}/\nlog_dest none\nuser {getpass.getuser()}\n"
        # Mosquitto drops QoS 1 messages beyond 1000 queued for a disconnected persistent
        # subscriber by default; a backlog drained before it reconnects would exceed that.
        "max_queued_messages 0\n"
    )
    proc = subprocess.Popen([exe, "-c", str(conf)])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def start_receiver(port: int, got: Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.add(json.loads(body)["signal"]["id"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def event(n: int) -> SignalEvent:
    return SignalEvent(
        signal=Signal(
            situation="zone_intrusion", camera="north", zone="quay", start_s=float(n),
            end_s=n + 1.0, frame=n, bbox=(0.1, 0.2, 0.3, 0.4), confidence=0.8,
            model="yolox-nano", config_version="v1", episode=f"ep-{n}",
        ),
        snapshot_jpeg=b"", clip_mp4=None, known_limits="none", wall_time=datetime.now(UTC),
    )  # fmt: skip


def wait(check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.002)


def ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "median_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(values[int(0.95 * (len(values) - 1))] * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steady", type=int, default=200, help="signals, one at a time")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between them")
    parser.add_argument("--backlog", type=int, default=2000, help="signals queued in an outage")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--database", help="an empty database's URL (default: SQLite in a temporary folder)"
    )
    args = parser.parse_args()
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        print("mosquitto is not installed (apt-get install mosquitto)", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="veilleur-bench-delivery-"))
    url = args.database or f"sqlite:///{folder / 'veilleur.db'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    sessions = store.session_factory(engine)
    with sessions() as s:
        store.upsert_camera(s, "north", {"source": "/videos/north.mp4"})
        set_camera_services(s, "north", ["police"])
    broker_port, hook_port = free_port(), free_port()
    broker = start_broker(exe, folder, broker_port)
    hook_got, mqtt_got = Arrivals(), Arrivals()
    receiver = start_receiver(hook_port, hook_got)
    sub = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-room",
        clean_session=False, protocol=mqtt.MQTTv311,
    )  # fmt: skip
    subscribed = threading.Event()
    sub.on_connect = lambda c, *_a: c.subscribe("bench/#", qos=1)
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.on_message = lambda _c, _u, m: mqtt_got.add(json.loads(m.payload)["signal"]["id"])
    sub.reconnect_delay_set(1, 1)
    sub.connect("127.0.0.1", broker_port)
    sub.loop_start()
    subscribed.wait(10)
    settings = DeliverySettings.model_validate(
        {
            "recipients": [
                {"name": "room", "kind": "webhook", "service": "police", "secret": SECRET,
                 "url": f"http://127.0.0.1:{hook_port}/hook", "timeout_s": 2},
                {"name": "bus", "kind": "mqtt", "service": "police", "host": "127.0.0.1",
                 "port": broker_port, "topic": "bench", "timeout_s": 2},
            ],
            "backoff_initial_s": 0.2, "backoff_max_s": 1.0, "poll_s": 1.0, "batch": 200,
        }
    )  # fmt: skip
    recorder = SignalRecorder(sessions, folder, SignalBus())
    worker = DeliveryWorker(sessions, settings)
    recorder.delivery = worker
    worker.start()
    out: dict[str, Any] = {}
    try:
        recorded_at: dict[int, float] = {}
        record_s: list[float] = []
        for n in range(1, args.steady + 1):
            t0 = time.perf_counter()
            recorder(event(n))
            record_s.append(time.perf_counter() - t0)
            recorded_at[n] = t0
            wait(lambda n=n: n in hook_got.at and n in mqtt_got.at, 30)
            time.sleep(args.interval)
        out["steady"] = {
            "signals": args.steady,
            "record_signal_with_outbox": ms(record_s),
            "webhook": ms([hook_got.at[n] - recorded_at[n] for n in recorded_at]),
            "mqtt": ms([mqtt_got.at[n] - recorded_at[n] for n in recorded_at]),
        }
        receiver.shutdown()
        receiver.server_close()
        broker.send_signal(signal.SIGTERM)
        broker.wait(10)
        first = args.steady + 1
        last = args.steady + args.backlog
        t0 = time.perf_counter()
        for n in range(first, last + 1):
            recorder(event(n))
        queued_s = time.perf_counter() - t0
        time.sleep(2.0)  # both receivers down: attempts fail and back off
        broker = start_broker(exe, folder, broker_port)
        receiver = start_receiver(hook_port, hook_got)
        back = time.perf_counter()
        for name, got in (("webhook", hook_got), ("mqtt", mqtt_got)):
            try:
                wait(lambda got=got: all(n in got.at for n in range(first, last + 1)), 120)
            except RuntimeError:
                missing = [n for n in range(first, last + 1) if n not in got.at]
                with sessions() as s:
                    rows = store.outbox.list_rows(s, limit=100000)
                states = {(r.recipient, r.signal_id): (r.state, r.attempts) for r in rows}
                name_of = {"webhook": "room", "mqtt": "bus"}[name]
                shown = [(n, states.get((name_of, n))) for n in missing[:10]]
                raise RuntimeError(f"{name}: {len(missing)} never arrived: {shown}") from None
        hook_done = max(hook_got.at[n] for n in range(first, last + 1))
        mqtt_done = max(mqtt_got.at[n] for n in range(first, last + 1))
        out["backlog"] = {
            "signals": args.backlog,
            "recorded_per_s": round(args.backlog / queued_s, 1),
            "webhook_drain_per_s": round(args.backlog / (hook_done - back), 1),
            "mqtt_drain_per_s": round(args.backlog / (mqtt_done - back), 1),
            "webhook_arrivals": hook_got.count,
            "mqtt_arrivals": mqtt_got.count,
            "lost": sum(
                1 for n in range(1, last + 1) if n not in hook_got.at or n not in mqtt_got.at
            ),
        }
    finally:
        worker.stop()
        sub.disconnect()
        sub.loop_stop()
        receiver.shutdown()
        receiver.server_close()
        if broker.poll() is None:
            broker.send_signal(signal.SIGTERM)
            broker.wait(10)
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    out["database"] = engine.dialect.name
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
