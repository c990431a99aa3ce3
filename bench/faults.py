"""Faults while cameras run: the database away for a while, a camera stream that keeps dropping.
Prints figures; asserts nothing (the tests assert: tests/unit/test_store_outage.py,
tests/browser/test_console_store_outage.py, tests/unit/test_sources.py).

    python bench/faults.py db-outage                  # 2 cameras, PostgreSQL away for 30 s
    python bench/faults.py db-outage -n 4 --seconds 60
    python bench/faults.py flapping                   # one stream dropping every 2-6 s, 10 min
    python bench/faults.py flapping --minutes 2 --period 3

db-outage: the platform as `veilleur serve` runs it (`cli.server.build_server`: supervisor,
camera processes, YOLOX-nano pool, authorisation gate) on a fresh PostgreSQL database
(VEILLEUR_TEST_PG_URL, default the local server) reached through a TCP proxy; cameras loop a
640x360 rendering of PETS 2009 S2L1 with every episode signalled (no cool-down). Once signals
are stored, the proxy is cut for `--seconds` (connections reset, new ones refused), then
restored. Reports signals raised (the runtime's counter) against signals stored, how many
waited, how long the backlog took to drain, and the gate's and recorder's failures.

flapping: one camera reads an HTTP MPEG-TS stream of the same clip served in real time by a
local server that closes the connection after a random 2-6 s (`--period` sets the mean) and
is back at once, for `--minutes`. Reports the source's reconnects, the frames analysed against
the frames the stream carried, process restarts, and the camera process's memory and open
files at the start and at the end (no growth is the goal).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

import av  # noqa: E402
from live_cameras import YOLOX, make_clip  # noqa: E402
from signal_latency import authorise  # noqa: E402
from sqlalchemy import create_engine, func, make_url, select, text  # noqa: E402
from tcp_proxy import TcpProxy  # noqa: E402

from veilleur import store  # noqa: E402
from veilleur.cli.server import build_server  # noqa: E402
from veilleur.config import SITUATION_IDS, SiteConfig, parse_config  # noqa: E402
from veilleur.config.server import ServerSettings  # noqa: E402
from veilleur.evaluation import pets  # noqa: E402
from veilleur.runtime.metrics import REGISTRY  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "VEILLEUR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def site(n: int, source: str, *, fps: float = 5.0) -> SiteConfig:
    """N cameras `cam00`... on `source`, with the PETS zones and every episode signalled."""
    config = pets.site_config(YOLOX)
    camera = dict(config["cameras"]["pets"])
    camera["source"] = source
    camera["analysis_fps"] = fps
    config["cameras"] = {f"cam{i:02d}": dict(camera) for i in range(n)}
    return parse_config(config)


def raised(cameras: list[str]) -> int:
    return int(
        sum(
            REGISTRY.get_sample_value("veilleur_signals_total", {"camera": c, "situation": s})
            or 0.0
            for c in cameras
            for s in SITUATION_IDS
        )
    )


def gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@contextmanager
def pg_database() -> Iterator[str]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"veilleur_faults_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def db_outage(args: argparse.Namespace) -> None:
    clip = make_clip(Path(tempfile.gettempdir()) / "veilleur-bench-pets-640x360.mp4")
    the_site = site(args.cameras, str(clip))
    cameras = sorted(the_site.cameras)
    data_dir = Path(tempfile.mkdtemp(prefix="veilleur-faults-"))
    with pg_database() as url:
        store.upgrade(url)
        authorise(url, the_site)
        parsed = make_url(url)
        proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
        proxied = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        settings = ServerSettings(data_dir=data_dir, database_url=proxied)
        server = build_server(settings, the_site, loop_files=True)
        sessions = server.app.state.sessions
        sup = server.supervisor
        baseline = raised(cameras)

        def stored() -> int:
            with sessions() as s:
                return int(s.scalar(select(func.count(store.SignalRow.id))) or 0)

        try:
            deadline = time.monotonic() + 120
            while stored() < 1 and time.monotonic() < deadline:
                time.sleep(0.5)
            before = raised(cameras) - baseline
            print(f"{len(cameras)} cameras; {before} signals raised and stored before the "
                  f"outage; cutting the database for {args.seconds:.0f} s", flush=True)  # fmt: skip
            proxy.cut()
            cut_at = time.monotonic()
            most_waiting = 0.0
            while time.monotonic() - cut_at < args.seconds:
                most_waiting = max(most_waiting, gauge("veilleur_deliveries_waiting"))
                time.sleep(0.5)
            during = raised(cameras) - baseline - before
            proxy.restore()
            restored_at = time.monotonic()
            while sup.store_unavailable_since is not None or gauge("veilleur_deliveries_waiting"):
                if time.monotonic() - restored_at > 120:
                    break
                time.sleep(0.1)
            drained = time.monotonic() - restored_at
            for name in cameras:
                sup.stop_camera(name)
            time.sleep(2.0)  # the last hand-overs
            total, kept = raised(cameras) - baseline, stored()
            print(
                f"outage {args.seconds:.0f} s: {during} signals raised during it, at most "
                f"{most_waiting:.0f} waiting in the server; backlog stored "
                f"{drained:.1f} s after the database came back\n"
                f"raised {total}, stored {kept}, lost {total - kept}; store retries "
                f"{gauge('veilleur_store_retries_total'):.0f}; events lost at shutdown "
                f"{gauge('veilleur_deliveries_lost_total'):.0f}; cameras restarted "
                f"{sum(st.restarts for st in sup.status().values())}",
                flush=True,
            )
        finally:
            server.close()
            proxy.close()


def ts_bytes(clip: Path) -> tuple[bytes, float]:
    """The clip as MPEG-TS (H.264), and its duration."""
    out = Path(tempfile.gettempdir()) / (clip.stem + ".ts")
    if not out.exists():
        with av.open(str(clip)) as src, av.open(str(out), "w", format="mpegts") as dst:
            vin = src.streams.video[0]
            stream = dst.add_stream("libx264", rate=vin.average_rate or 25)
            stream.width, stream.height, stream.pix_fmt = vin.width, vin.height, "yuv420p"
            # A keyframe a second, as cameras send: a reconnect waits at most that.
            stream.options = {"preset": "veryfast", "g": str(int(vin.average_rate or 10))}
            for frame in src.decode(vin):
                for packet in stream.encode(frame.reformat(format="yuv420p")):
                    dst.mux(packet)
            for packet in stream.encode():
                dst.mux(packet)
    with av.open(str(out)) as probe:
        duration = float(probe.duration or 0) / av.time_base
    return out.read_bytes(), duration


class FlappingStream:
    """Serves `data` (one MPEG-TS clip) at its real-time rate, looping, and closes each
    connection after a random time around `period` s."""

    def __init__(self, data: bytes, duration: float, period: float) -> None:
        self.data, self.rate, self.period = data, len(data) / duration, period
        self.connections = 0
        bench = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                bench.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.end_headers()
                life = random.uniform(bench.period * 2 / 3, bench.period * 2)
                start = time.monotonic()
                chunk, pos, sent = 188 * 64, 0, 0
                try:
                    while time.monotonic() - start < life:
                        end = pos + chunk
                        self.wfile.write(bench.data[pos:end])
                        sent += chunk
                        pos = end % len(bench.data)
                        # Real time: the stream never runs ahead of the clock.
                        wait = sent / bench.rate - (time.monotonic() - start)
                        if wait > 0:
                            time.sleep(wait)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # the drop
                except OSError:
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cam.ts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def process_usage(pid: int) -> tuple[float, int]:
    """Resident memory (MiB) and open files of a process."""
    rss = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def flapping(args: argparse.Namespace) -> None:
    clip = make_clip(Path(tempfile.gettempdir()) / "veilleur-bench-pets-640x360.mp4")
    data, duration = ts_bytes(clip)
    stream = FlappingStream(data, duration, args.period)
    the_site = site(1, stream.url)
    data_dir = Path(tempfile.mkdtemp(prefix="veilleur-flapping-"))
    url = store.default_url(data_dir)
    store.upgrade(url)
    authorise(url, the_site)
    server = build_server(ServerSettings(data_dir=data_dir, database_url=url), the_site)
    sup = server.supervisor
    states: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 120
        while sup.status()["cam00"].state != "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        proc = sup._cameras["cam00"].process
        assert proc is not None and proc.pid is not None
        start_usage = process_usage(proc.pid)
        frames0 = REGISTRY.get_sample_value("veilleur_camera_frames_total", {"camera": "cam00"})
        began = time.monotonic()
        last = None
        while time.monotonic() - began < args.minutes * 60:
            state = sup.status()["cam00"].state
            if state != last:
                states[state] = states.get(state, 0) + 1
                last = state
            time.sleep(0.1)
        seconds = time.monotonic() - began
        frames = (
            REGISTRY.get_sample_value("veilleur_camera_frames_total", {"camera": "cam00"}) or 0
        ) - (frames0 or 0)
        status = sup.status()["cam00"]
        end_proc = sup._cameras["cam00"].process
        end_usage = process_usage(end_proc.pid) if end_proc and end_proc.pid else (0.0, 0)
        print(
            f"{seconds / 60:.1f} min, the stream dropped {stream.connections - 1} times "
            f"(every {seconds / max(1, stream.connections - 1):.1f} s on average)\n"
            f"camera states entered: {states}; process restarts {status.restarts}\n"
            f"frames analysed {frames:.0f} = {frames / seconds:.2f} fps of the 5 asked "
            f"({frames / (seconds * 5) * 100:.0f} %)\n"
            f"camera process: {start_usage[0]:.0f} MiB, {start_usage[1]} open files at the "
            f"start; {end_usage[0]:.0f} MiB, {end_usage[1]} at the end",
            flush=True,
        )
    finally:
        server.close()
        stream.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="fault", required=True)
    db = sub.add_parser("db-outage", help="the database away while cameras run")
    db.add_argument("-n", "--cameras", type=int, default=2)
    db.add_argument("--seconds", type=float, default=30.0)
    fl = sub.add_parser("flapping", help="a camera stream that keeps dropping")
    fl.add_argument("--minutes", type=float, default=10.0)
    fl.add_argument("--period", type=float, default=4.0, help="mean seconds between drops")
    args = ap.parse_args()
    {"db-outage": db_outage, "flapping": flapping}[args.fault](args)


if __name__ == "__main__":
    main()
