"""A rehearsal of a large site: N simulated cameras feed the real central server on PostgreSQL,
with K operators' live signal streams open and a webhook recipient. Prints figures; asserts
nothing.

    python bench/rehearsal.py -n 1000 -d 60                 # 1,000 cameras, 200 operators
    python bench/rehearsal.py --ramp 100,1000,10000 -d 60   # one fresh run per size, a table
    python bench/rehearsal.py -n 1000 --rate 60 --wave-every 20

What is real: the server as `veilleur serve` builds it (`cli.server.build_server`: the cameras
imported into a fresh PostgreSQL database, the authorisation gate starting them, the
supervisor's dispatcher and delivery threads, `SignalRecorder` committing each signal with its
media, journal entry and outbox row, the bus, the delivery worker POSTing to a webhook, FastAPI
under uvicorn) and the operators' streams (`GET /api/signals/stream`, one HTTP connection each,
in a process of their own).

What is simulated: the cameras. `SimulatedSupervisor` is the real `Supervisor` whose camera
and pool processes are never spawned; instead `--nodes` simulator processes (standing for the
machines that would analyse the video) write, each on one pipe that the supervisor's own
dispatcher reads, what camera processes send: a figures report twice a second per camera, a
blurred preview JPEG once a second, signals (a blurred 640x360 JPEG snapshot and a 4 s H.264
clip) at `--rate` per camera per hour, further events of their episodes, and incident waves in
which `--wave` of the cameras (5 %) raise a signal at once, every `--wave-every` seconds.

Measured: signal-to-screen latency (an operator's stream receiving the signal − the moment the
simulated camera raised it, `occurred_at`; both clocks are this machine's), to the webhook
likewise, signals per second stored and delivered, the main process's CPU (user+sys, which is
the central server alone: simulators and operators are other processes), the database's size
and connections, journal entries per signal, and database bytes per signal (to extrapolate a
day). What the server does not keep up with shows as a growing backlog (signals raised but not
yet stored, streams behind).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402

SERVICE = "police"
#: Per-signal figures (CPU, database bytes) are computed from at least this many signals.
MIN_SIGNALS = 30
SITUATIONS = ("zone_intrusion", "wrong_way")
ZONES = ["quay", "platform"]


# --------------------------------------------------------------------------- site and media


def site_config(n: int) -> Any:
    """N cameras `c00000`… with a zone, intrusion and wrong way (the sources are never opened)."""
    from veilleur.config import parse_config

    camera = {
        "source": "rtsp://simulated.invalid/stream",
        "analysis_fps": 5,
        "zones": {
            "quay": {"polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]],
                     "direction": [1.0, 0.0]},
            # Where the incident waves happen: their signals are told apart by this zone.
            "platform": {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.45], [0.1, 0.45]],
                         "direction": [1.0, 0.0]},
        },
        "situations": {
            "zone_intrusion": {"enabled": True, "zones": ZONES, "classes": ["person"]},
            "wrong_way": {"enabled": True, "zones": ZONES, "classes": ["person"]},
        },
    }  # fmt: skip
    return parse_config({"cameras": {f"c{i:05d}": dict(camera) for i in range(n)}}, "<bench>")


def frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """A plausible 640x360 scene: textured background, a few moving blobs, then blurred as a
    camera's masker blurs persons and motion (so the JPEG compresses as a real one does)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(60, 200, (45, 80, 3), dtype=np.uint8)
    base: Any = cv2.GaussianBlur(
        cv2.resize(small, (640, 360), interpolation=cv2.INTER_CUBIC), (0, 0), 3
    )
    cv2.rectangle(base, (0, 200), (640, 360), (90, 90, 95), -1)
    cv2.line(base, (0, 260), (640, 240), (230, 230, 230), 3)
    out = []
    for k in range(count):
        img = base.copy()
        for b in range(4):
            x = int(80 + 120 * b + 6 * k) % 600
            cv2.rectangle(img, (x, 180 + 10 * b), (x + 30, 260 + 10 * b), (40 + 30 * b, 60, 90), -1)
            roi = img[170 + 10 * b : 270 + 10 * b, max(0, x - 10) : x + 40]
            img[170 + 10 * b : 270 + 10 * b, max(0, x - 10) : x + 40] = cv2.GaussianBlur(
                roi, (0, 0), 8
            )
        noise = rng.normal(0, 4, img.shape)
        out.append(np.clip(img + noise, 0, 255).astype(np.uint8))
    return out


def media() -> tuple[bytes, bytes, bytes]:
    """(snapshot JPEG with a box drawn, preview JPEG, 4 s H.264 MP4 at 5 fps) as a camera makes."""
    import av
    import cv2

    imgs = frames(20)
    snap = imgs[-1].copy()
    cv2.rectangle(snap, (300, 180), (360, 280), (0, 0, 255), 2)
    ok1, snapshot = cv2.imencode(".jpg", snap, [cv2.IMWRITE_JPEG_QUALITY, 85])
    ok2, preview = cv2.imencode(".jpg", imgs[0], [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok1 and ok2
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"crf": "28", "preset": "veryfast"}
        for img in imgs:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return snapshot.tobytes(), preview.tobytes(), buf.getvalue()


# --------------------------------------------------------------------------- simulated runtime


def simulated_supervisor_class(one_by_one: bool = False) -> Any:
    """The real `Supervisor`, less its processes: cameras are 'running' at once and what they
    would send arrives on the simulator nodes' pipes, read by the supervisor's own dispatcher.
    `one_by_one`: signals are handed to the recorder one at a time, as before batches (the
    baseline of docs/scaling.md's fix 3)."""
    from veilleur.runtime.supervisor import Supervisor

    class SimulatedSupervisor(Supervisor):
        def __init__(self, *a: Any, **kw: Any) -> None:
            if one_by_one:
                kw.pop("on_batch", None)
            super().__init__(*a, **kw)

        def _spawn_pool(self, pool: Any) -> None:
            pool.process = None
            pool.restart_at = None

        def _spawn(self, cam: Any) -> None:
            cam.generation += 1
            cam.report = {}
            cam.frames_seen.clear()
            cam.restart_at = None
            cam.started_at = cam.last_message = time.monotonic()
            cam.heard = True
            self._set_state(cam, "running")

        def _handle(self, msg: tuple[Any, ...]) -> None:
            # A node does not know the generation the supervisor gave its camera: the current
            # one (a stopped camera's messages are still dropped: `wanted` is checked).
            kind, name, _gen, payload = msg
            cam = self._cameras.get(name)
            super()._handle((kind, name, cam.generation if cam else -1, payload))

        def attach(self, reader: Any) -> None:
            with self._lock:
                self._readers.add(reader)

    return SimulatedSupervisor


def node_main(
    index: int,
    nodes: int,
    n: int,
    writer: Any,
    started: Any,
    stop: Any,
    rate_per_h: float,
    wave: float,
    wave_every: float,
    further_p: float,
    report_hz: float,
    preview_hz: float,
    quiet_s: float,
    counts: Any,
) -> None:
    """One simulator node: cameras index, index+nodes, … of the site."""
    from veilleur.runtime.events import AttachedEvent, SignalEvent
    from veilleur.types import FurtherEvent, Signal

    os.nice(10)
    snapshot, preview, clip = media()
    names = [f"c{i:05d}" for i in range(index, n, nodes)]
    rng = random.Random(index)
    episode = 0
    furthers: list[tuple[float, str, str, str]] = []
    sent = {
        "signals": 0,
        "further": 0,
        "reports": 0,
        "previews": 0,
        "wave_signals": 0,
        "late_ticks": 0,
        "ticks": 0,
    }
    started.wait()
    t0 = time.monotonic()
    # The first `quiet_s` seconds carry figures and previews only: the cost of a camera
    # that raises nothing, to tell apart from the cost of its signals.
    loud = t0 + quiet_s
    next_wave = loud + wave_every
    tick = 0.1
    report_acc = preview_acc = 0.0
    r_cursor = p_cursor = 0
    frame = 0

    def signal(name: str, zone: str = "quay") -> None:
        nonlocal episode
        episode += 1
        situation = rng.choice(SITUATIONS)
        key = f"n{index}:{situation}:{episode}"
        sig = Signal(
            situation=situation, camera=name, zone=zone, start_s=float(frame) / 5 - 1.0,
            end_s=float(frame) / 5, frame=frame, bbox=(0.45, 0.5, 0.55, 0.78),
            confidence=round(rng.uniform(0.5, 0.95), 3), model="yolox-nano",
            config_version="bench", episode=key,
        )  # fmt: skip
        event = SignalEvent(
            signal=sig, snapshot_jpeg=snapshot, clip_mp4=clip,
            known_limits="simulated camera", wall_time=datetime.now(UTC),
        )  # fmt: skip
        writer.send(("signal", name, 0, event))
        sent["signals"] += 1
        if rng.random() < further_p:
            for _ in range(rng.randint(1, 3)):
                furthers.append((time.monotonic() + rng.uniform(2, 20), name, key, zone))

    try:
        while not stop.is_set():
            now = time.monotonic()
            frame = int((now - t0) * 5)
            # Figures and previews, spread evenly over the cameras (a camera's reporter ticks
            # on its own clock, they are not synchronised).
            report_acc += len(names) * report_hz * tick
            preview_acc += len(names) * preview_hz * tick
            for _ in range(int(report_acc)):
                name = names[r_cursor % len(names)]
                r_cursor += 1
                writer.send(("report", name, 0, {
                    "frames": frame, "dropped": frame // 50, "requests": frame // 2,
                    "request_s": frame * 0.006, "inference_s": frame * 0.005,
                    "lag_s": rng.uniform(0.02, 0.2), "beat_age_s": 0.1, "errors": 0,
                    "signals": 0, "active": list(SITUATIONS),
                }))  # fmt: skip
                sent["reports"] += 1
            report_acc -= int(report_acc)
            for _ in range(int(preview_acc)):
                name = names[p_cursor % len(names)]
                p_cursor += 1
                writer.send(("jpeg", name, 0, preview))
                sent["previews"] += 1
            preview_acc -= int(preview_acc)
            # Signals: a Poisson process per camera, summed over the node's cameras.
            expected = len(names) * rate_per_h / 3600 * tick if now >= loud else 0.0
            for _ in range(np.random.poisson(expected)):
                signal(rng.choice(names))
            if wave > 0 and now >= next_wave:
                next_wave += wave_every
                for name in rng.sample(names, max(1, round(wave * len(names)))):
                    signal(name, "platform")
                    sent["wave_signals"] += 1
            due = [f for f in furthers if f[0] <= now]
            furthers[:] = [f for f in furthers if f[0] > now]
            for _, name, key, zone in due:
                situation = key.split(":")[1]
                ev = FurtherEvent(
                    situation=situation, camera=name, zone=zone, episode=key,
                    start_s=frame / 5 - 1.0, end_s=frame / 5, frame=frame,
                    bbox=(0.4, 0.5, 0.5, 0.8), confidence=0.7,
                )  # fmt: skip
                writer.send(("further", name, 0, AttachedEvent(ev, datetime.now(UTC))))
                sent["further"] += 1
            spent = time.monotonic() - now
            sent["ticks"] += 1
            if spent < tick:
                stop.wait(tick - spent)
            else:  # the node cannot send at the asked rates (its CPU, or a full pipe)
                sent["late_ticks"] += 1
    finally:
        for k, v in sent.items():
            counts[f"{index}:{k}"] = v
        writer.close()


# --------------------------------------------------------------------------- operators


def operators_main(
    base: str, tokens: list[str], hook_port: int, stop: Any, ready: Any, results: Any
) -> None:
    """K operators' live streams (asyncio, one connection each) and the webhook receiver."""
    import httpx

    os.nice(5)
    screen: list[float] = []  # every (operator, signal) arrival: its latency
    steady: list[float] = []  # the same, for the signals outside the incident waves
    first: dict[int, float] = {}  # each signal's first arrival on any screen
    occurred: dict[int, float] = {}
    hook: dict[int, float] = {}
    errors: list[str] = []
    lock = threading.Lock()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            at = time.time()
            if body.get("event") == "signal.recorded":
                sig = body["signal"]
                with lock:
                    hook.setdefault(sig["id"], at - _ts(sig["occurred_at"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_a: Any) -> None:
            return None

    receiver = ThreadingHTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()

    async def operator(token: str, opened: list[int]) -> None:
        async with httpx.AsyncClient(
            base_url=base, cookies={"veilleur_session": token},
            timeout=httpx.Timeout(30, read=None),
        ) as client:  # fmt: skip
            try:
                async with client.stream("GET", "/api/signals/stream") as r:
                    if r.status_code != 200:
                        errors.append(f"stream answered {r.status_code}")
                        return
                    opened[0] += 1
                    kind = ""
                    async for line in r.aiter_lines():
                        if line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: ") and kind == "signal":
                            at = time.time()
                            sig = json.loads(line[6:])
                            t = _ts(sig["occurred_at"])
                            screen.append(at - t)
                            if sig["zone"] != "platform":
                                steady.append(at - t)
                            first.setdefault(sig["id"], at - t)
                            occurred.setdefault(sig["id"], t)
            except (httpx.HTTPError, asyncio.CancelledError) as exc:
                if not stop.is_set():
                    errors.append(f"{type(exc).__name__}: {exc}")

    async def run() -> None:
        opened = [0]
        tasks = [asyncio.create_task(operator(t, opened)) for t in tokens]
        while opened[0] < len(tokens) and len(errors) < len(tokens):
            await asyncio.sleep(0.1)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    receiver.shutdown()
    results.put(
        {"screen": screen, "steady": steady, "first": list(first.values()),
         "hook": list(hook.values()),
         "received": len(screen), "signals_seen": len(first), "errors": errors[:20],
         "error_count": len(errors)}
    )  # fmt: skip


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# --------------------------------------------------------------------------- one run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(values, 100 * q, method="nearest")), 3)


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn
    from faults import pg_database
    from signal_latency import authorise
    from sqlalchemy import func, select, text, update

    import veilleur.runtime
    from veilleur import store
    from veilleur.cli.server import build_server
    from veilleur.config.delivery import DeliverySettings
    from veilleur.config.server import ServerSettings

    ctx = mp.get_context("spawn")
    site = site_config(args.cameras)
    data_dir = Path(tempfile.mkdtemp(prefix="veilleur-rehearsal-"))
    hook_port, port = free_port(), free_port()
    out: dict[str, Any] = {
        "cameras": args.cameras, "operators": args.operators, "seconds": args.seconds,
        "rate_per_camera_h": args.rate, "wave": args.wave, "wave_every_s": args.wave_every,
    }  # fmt: skip
    with pg_database() as url:
        store.upgrade(url)
        authorise(url, site)
        delivery = DeliverySettings.model_validate({"recipients": [
            {"name": "control-room", "kind": "webhook", "service": SERVICE,
             "url": f"http://127.0.0.1:{hook_port}/hook", "secret": "rehearsal-secret-0123",
             "timeout_s": 5},
        ]})  # fmt: skip
        settings = ServerSettings(data_dir=data_dir, database_url=url, port=port, delivery=delivery)
        real = veilleur.runtime.Supervisor
        veilleur.runtime.Supervisor = simulated_supervisor_class(args.one_by_one)  # type: ignore[misc]
        t = time.perf_counter()
        cpu0 = _cpu()
        try:
            server = build_server(settings, site)
        finally:
            veilleur.runtime.Supervisor = real  # type: ignore[misc]
        out["startup_s"] = round(time.perf_counter() - t, 1)
        out["startup_cpu_s"] = round(_cpu() - cpu0, 1)
        sessions = server.app.state.sessions
        with sessions() as s:
            # Every camera in the operators' service (one statement, not 10,000 journaled edits).
            s.execute(update(store.Camera).values(services=[SERVICE]))
            s.commit()
            user = store.create_user(s, "operator", "rehearsal-password", "operator",
                                     service=SERVICE)  # fmt: skip
            tokens = [store.open_session(s, user)[0] for _ in range(args.operators)]
        web = uvicorn.Server(
            uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=web.run, daemon=True).start()
        while not web.started:
            time.sleep(0.1)
        stop, ready, started = ctx.Event(), ctx.Event(), ctx.Event()
        # The operators stay until what was raised is stored and has had time to arrive.
        ops_stop = ctx.Event()
        results = ctx.Queue()
        manager = ctx.Manager()
        counts = manager.dict()
        ops = ctx.Process(
            target=operators_main,
            args=(f"http://127.0.0.1:{port}", tokens, hook_port, ops_stop, ready, results),
        )
        ops.start()
        if not ready.wait(120):
            raise RuntimeError("the operators' streams did not open")
        nodes = []
        for i in range(args.nodes):
            reader, writer = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=node_main,
                args=(i, args.nodes, args.cameras, writer, started, stop, args.rate, args.wave,
                      args.wave_every, args.further, args.report_hz, args.preview_hz, args.quiet,
                      counts),
            )  # fmt: skip
            p.start()
            writer.close()
            cast(Any, server.supervisor).attach(reader)
            nodes.append(p)

        def db_figures() -> dict[str, float]:
            size = text("SELECT pg_database_size(current_database())")
            conns = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            with sessions() as s:
                return {
                    "db_bytes": float(s.scalar(size)),
                    "signals": float(s.scalar(select(func.count(store.SignalRow.id))) or 0),
                    "journal": float(s.scalar(select(func.count(store.JournalEntry.id))) or 0),
                    "connections": float(s.scalar(conns)),
                }

        time.sleep(3.0)  # nodes start (spawn, imports, media)
        cpu0 = _cpu()
        started.set()
        time.sleep(args.quiet)
        cpu_quiet = _cpu() - cpu0
        out["quiet_cpu_pct"] = round(100 * cpu_quiet / args.quiet, 1)
        out["quiet_cpu_ms_per_camera_s"] = round(1000 * cpu_quiet / args.quiet / args.cameras, 3)
        print(
            f"  quiet {args.quiet:.0f} s (figures and previews only): main CPU "
            f"{out['quiet_cpu_pct']} %",
            flush=True,
        )
        before = db_figures()
        media_before = _folder_bytes(data_dir / "media")
        cpu0 = _cpu()
        t0 = time.monotonic()
        last = (cpu0, t0)
        samples = []
        while time.monotonic() - t0 < args.seconds:
            time.sleep(5.0)
            f = db_figures()
            f["t"] = round(time.monotonic() - t0, 1)
            c = _cpu()
            f["cpu_pct"] = round(100 * (c - last[0]) / (time.monotonic() - last[1]), 1)
            last = (c, time.monotonic())
            f["waiting"] = server.supervisor._deliveries.qsize()
            f["streams"] = server.app.state.platform.bus.subscribers
            samples.append(f)
            print(f"  {f['t']:5.0f} s  stored {f['signals'] - before['signals']:6.0f}  "
                  f"waiting {f['waiting']:5d}  streams {f['streams']:4d}  "
                  f"db conns {f['connections']:3.0f}  main CPU {f['cpu_pct']:5.1f} %",
                  flush=True)  # fmt: skip
        stop.set()
        wall = time.monotonic() - t0
        for p in nodes:
            p.join(30)
        # What was raised is stored and shown: give the backlog its time, bounded.
        drain_t = time.monotonic()
        while server.supervisor._deliveries.qsize() and time.monotonic() - drain_t < 60:
            time.sleep(0.5)
        out["drain_s"] = round(time.monotonic() - drain_t, 1)
        after = db_figures()
        media_after = _folder_bytes(data_dir / "media")
        time.sleep(5.0)  # the last signals reach the screens and the webhook
        cpu = _cpu() - cpu0  # signals' whole cost: stored, fanned out, delivered
        elapsed = time.monotonic() - t0
        ops_stop.set()
        ops.join(60)
        got = results.get(timeout=30)
        sent: dict[str, int] = {}
        for key, v in dict(counts).items():
            sent[key.split(":", 1)[1]] = sent.get(key.split(":", 1)[1], 0) + v
        web.should_exit = True
        server.close()
        manager.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)  # the media written (66 KB a signal)
    stored = after["signals"] - before["signals"]
    out.update({
        "raised": sent.get("signals", 0), "wave_signals": sent.get("wave_signals", 0),
        "further_sent": sent.get("further", 0), "reports_sent": sent.get("reports", 0),
        "previews_sent": sent.get("previews", 0),
        "node_late_tick_share": round(sent.get("late_ticks", 0) / max(sent.get("ticks", 1), 1), 3),
        "stored": int(stored), "stored_per_s": round(stored / wall, 2),
        "delivered_webhook": len(got["hook"]),
        "delivered_per_s": round(len(got["hook"]) / wall, 2),
        "stream_arrivals": got["received"], "stream_signals": got["signals_seen"],
        "stream_errors": got["error_count"], "stream_error_examples": got["errors"][:3],
        "screen_p50_s": pct(got["screen"], 0.5), "screen_p95_s": pct(got["screen"], 0.95),
        "screen_max_s": pct(got["screen"], 1.0),
        "steady_screen_p50_s": pct(got["steady"], 0.5),
        "steady_screen_p95_s": pct(got["steady"], 0.95),
        "first_screen_p95_s": pct(got["first"], 0.95),
        "webhook_p50_s": pct(got["hook"], 0.5), "webhook_p95_s": pct(got["hook"], 0.95),
        "main_cpu_s": round(cpu, 1), "main_cpu_pct": round(100 * cpu / elapsed, 1),
        "main_cpu_ms_per_signal": round(1000 * cpu / max(stored, 1), 1),
        # Less what the same cameras cost without signals (figures, previews, streams idle).
        "signal_cpu_ms_per_signal": round(
            1000 * (cpu - cpu_quiet / args.quiet * elapsed) / max(stored, 1), 1
        ),
        "db_connections_max": max((s["connections"] for s in samples), default=0),
        "waiting_max": max((s["waiting"] for s in samples), default=0),
        "journal_per_signal": round((after["journal"] - before["journal"]) / max(stored, 1), 2),
        "db_bytes_per_signal": round((after["db_bytes"] - before["db_bytes"]) / max(stored, 1)),
        "media_bytes_per_signal": round((media_after - media_before) / max(stored, 1)),
        "machine_load_1m": round(os.getloadavg()[0], 2),
    })  # fmt: skip
    if stored < MIN_SIGNALS:
        # Too few to divide by: a handful of signals against the fixed cost of the server and
        # of the database's page allocation gives noise (even a negative CPU per signal).
        for key in (
            "main_cpu_ms_per_signal",
            "signal_cpu_ms_per_signal",
            "db_bytes_per_signal",
            "journal_per_signal",
        ):
            out[key] = None
        out["per_signal_figures"] = f"fewer than {MIN_SIGNALS} signals stored: not computed"
        return out
    per_day = args.cameras * args.rate * 24
    out["signals_per_day_at_rate"] = round(per_day)
    out["db_gib_per_day_at_rate"] = round(per_day * out["db_bytes_per_signal"] / 2**30, 2)
    out["media_gib_per_day_at_rate"] = round(per_day * out["media_bytes_per_signal"] / 2**30, 2)
    return out


def _cpu() -> float:
    """CPU seconds (user + system) of this process, every thread: the central server."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--cameras", type=int, default=1000, help="simulated cameras")
    ap.add_argument("--ramp", help="comma-separated camera counts, one fresh run each")
    ap.add_argument("-d", "--seconds", type=float, default=60.0, help="measured seconds")
    ap.add_argument("-k", "--operators", type=int, default=200, help="live streams open")
    ap.add_argument("--rate", type=float, default=2.0, help="signals per camera per hour")
    ap.add_argument(
        "--further",
        type=float,
        default=0.5,
        help="share of signals with 1-3 further events in their cool-down",
    )
    ap.add_argument("--wave", type=float, default=0.05, help="share of cameras in a wave")
    ap.add_argument("--wave-every", type=float, default=30.0, help="seconds between waves")
    ap.add_argument("--report-hz", type=float, default=2.0, help="figure reports per camera")
    ap.add_argument("--preview-hz", type=float, default=1.0, help="previews per camera")
    ap.add_argument("--nodes", type=int, default=2, help="simulator processes")
    ap.add_argument(
        "--quiet",
        type=float,
        default=10.0,
        help="seconds of figures and previews only, before the signals",
    )
    ap.add_argument(
        "--one-by-one",
        action="store_true",
        help="hand signals to the recorder one at a time (the baseline before batches)",
    )
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    if args.ramp:
        rows = []
        for n in [int(x) for x in args.ramp.split(",")]:
            print(f"--- {n} cameras", flush=True)
            cmd = [sys.executable, __file__, *_without_ramp(sys.argv[1:]), "-n", str(n)]
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                subprocess.run([*cmd, "--json", f.name], check=True)
                rows.append(json.loads(Path(f.name).read_text()))
        _table(rows)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
        return
    print(f"{args.cameras} cameras, {args.operators} operators, {args.seconds:.0f} s ...",
          flush=True)  # fmt: skip
    result = run_one(args)
    print(json.dumps(result, indent=2))
    _table([result])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def _without_ramp(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--ramp", "--json"):
            skip = True
            continue
        if a.startswith(("--ramp=", "--json=")):
            continue
        out.append(a)
    return out


def _table(rows: list[dict[str, Any]]) -> None:
    cols = [
        ("cameras", "cameras"), ("raised", "raised"), ("stored/s", "stored_per_s"),
        ("webhook/s", "delivered_per_s"), ("screen p50", "screen_p50_s"),
        ("screen p95", "screen_p95_s"),
        ("steady p95", "steady_screen_p95_s"), ("webhook p95", "webhook_p95_s"),
        ("quiet CPU %", "quiet_cpu_pct"), ("CPU %", "main_cpu_pct"),
        ("ms CPU/signal", "signal_cpu_ms_per_signal"),
        ("db conns", "db_connections_max"), ("backlog max", "waiting_max"),
        ("B db/signal", "db_bytes_per_signal"),
    ]  # fmt: skip
    print("\n" + " | ".join(c for c, _ in cols))
    for r in rows:
        print(" | ".join(str(r.get(k)) for _, k in cols))


if __name__ == "__main__":
    main()
