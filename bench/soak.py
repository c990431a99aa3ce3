"""A soak: live cameras for hours with operators' streams open and the purge running; every
minute, each process's memory and open files, the database's and media's size, the cameras'
lag. Prints figures and writes a CSV and a plot; asserts nothing.

    python bench/soak.py                          # 8 cameras, 2 hours, PostgreSQL
    python bench/soak.py -n 4 --minutes 30 --database sqlite
    python bench/soak.py --out out/soak

The platform runs as `veilleur serve` runs it (`cli.server.build_server`: supervisor, one
process per camera, the YOLOX-nano pool, the authorisation gate, the delivery worker, the
retention scheduler), served over HTTP by uvicorn, on a fresh database (PostgreSQL at
VEILLEUR_TEST_PG_URL, default the local server; or SQLite). Cameras loop a 640x360 rendering of
PETS 2009 S2L1 in real time with the product's default cool-down (30 s). `--streams` operators
(default 4) hold the live signal stream open the whole time, as consoles do.

Retention is counted in days, so a run of hours would purge nothing: the bench runs the real
purge every minute on a clock moved forward so that a day of retention is `--keep` minutes of
the run (default 10): media older than that are deleted, and so are the signals. What the
retention allows to grow, grows; nothing else should. At the end: each series' growth per hour
over the second half of the run (a leak shows as a steady slope there), and the files.
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
from faults import pg_database  # noqa: E402
from live_cameras import live_site, make_clip  # noqa: E402
from signal_latency import authorise  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from veilleur import store  # noqa: E402
from veilleur.cli.server import DEMO_PASSWORD, build_server, ensure_demo_accounts  # noqa: E402
from veilleur.compliance.retention import purge  # noqa: E402
from veilleur.config.server import RetentionSettings, ServerSettings  # noqa: E402


@dataclass
class Sample:
    minute: float
    values: dict[str, float] = field(default_factory=dict)


def proc_usage(pid: int) -> tuple[float, int]:
    """Resident memory (MiB) and open files of a process; (nan, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return float("nan"), 0


def folder_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database(kind: str, data_dir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield store.default_url(data_dir)
    else:
        with pg_database() as url:
            yield url


def operator_stream(base: str, stop: threading.Event, received: list[int]) -> None:
    """One console's live stream, reconnecting like a browser, counting the signals."""
    while not stop.is_set():
        try:
            with httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=60)) as c:
                r = c.post("/api/session", json={"username": "operator", "password": DEMO_PASSWORD})
                r.raise_for_status()
                with c.stream("GET", "/api/signals/stream") as stream:
                    for line in stream.iter_lines():
                        if stop.is_set():
                            return
                        if line.startswith("event: signal"):
                            received[0] += 1
        except httpx.HTTPError:
            time.sleep(2.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--cameras", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--keep", type=float, default=10.0, help="minutes of the run a day stands for")
    ap.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "soak")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    clip = make_clip(Path(tempfile.gettempdir()) / "veilleur-bench-pets-640x360.mp4")
    site = live_site(args.cameras, clip)
    data_dir = Path(tempfile.mkdtemp(prefix="veilleur-soak-"))
    samples: list[Sample] = []
    with database(args.database, data_dir) as url:
        store.upgrade(url)
        authorise(url, site, hours=args.minutes / 60 + 0.5)  # outlasts the run
        port = free_port()
        settings = ServerSettings(data_dir=data_dir, database_url=url, port=port)
        server = build_server(settings, site, loop_files=True)
        ensure_demo_accounts(settings)
        web = uvicorn.Server(uvicorn.Config(server.app, port=port, log_level="warning"))
        threading.Thread(target=web.run, daemon=True).start()
        while not web.started:
            time.sleep(0.1)
        stop = threading.Event()
        received = [0]
        streams = [
            threading.Thread(
                target=operator_stream, args=(f"http://127.0.0.1:{port}", stop, received),
                daemon=True,
            )
            for _ in range(args.streams)
        ]  # fmt: skip
        for t in streams:
            t.start()
        sessions = server.app.state.sessions
        retention = RetentionSettings(images_days=1, signals_days=1)
        shift = timedelta(days=1) - timedelta(minutes=args.keep)
        began = time.monotonic()
        purged = {"signals": 0, "images": 0}

        def sample() -> Sample:
            s = Sample((time.monotonic() - began) / 60)
            rss, fds = proc_usage(os.getpid())
            s.values["main_mib"], s.values["main_fds"] = rss, fds
            cams = [c.process.pid for c in server.supervisor._cameras.values() if c.process]
            pools = [p.process.pid for p in server.supervisor._pools if p.process]
            usage = [proc_usage(p) for p in cams if p is not None]
            s.values["camera_mib_max"] = max((u[0] for u in usage), default=float("nan"))
            s.values["camera_fds_max"] = max((u[1] for u in usage), default=0)
            usage = [proc_usage(p) for p in pools if p is not None]
            s.values["pool_mib"] = sum(u[0] for u in usage)
            s.values["pool_fds"] = sum(u[1] for u in usage)
            with sessions() as db:
                s.values["signals"] = float(db.scalar(select(func.count(store.SignalRow.id))) or 0)
                s.values["journal"] = float(
                    db.scalar(select(func.count(store.JournalEntry.id))) or 0
                )
                if args.database == "postgresql":
                    size = db.scalar(text("SELECT pg_database_size(current_database())"))
                    s.values["database_mib"] = float(size or 0) / 2**20
                else:
                    s.values["database_mib"] = sum(
                        p.stat().st_size for p in data_dir.glob("veilleur.db*")
                    ) / 2**20  # fmt: skip
            s.values["media_mib"] = folder_mib(data_dir / "media") if (
                data_dir / "media").exists() else 0.0  # fmt: skip
            status = server.supervisor.status().values()
            s.values["lag_max_s"] = max((st.lag_s for st in status), default=0.0)
            s.values["restarts"] = float(sum(st.restarts for st in status))
            s.values["stream_signals"] = float(received[0])
            return s

        try:
            next_sample = began
            while time.monotonic() - began < args.minutes * 60:
                if time.monotonic() >= next_sample:
                    report = purge(sessions, data_dir, retention, datetime.now(UTC) + shift)
                    purged["signals"] += int(report.counts.get("signals", 0))
                    purged["images"] += int(report.counts.get("images", 0))
                    samples.append(sample())
                    v = samples[-1].values
                    print(f"{samples[-1].minute:6.1f} min  main {v['main_mib']:.0f} MiB "
                          f"{v['main_fds']:.0f} fds  camera ≤{v['camera_mib_max']:.0f} MiB  "
                          f"pool {v['pool_mib']:.0f} MiB  db {v['database_mib']:.1f} MiB  "
                          f"media {v['media_mib']:.1f} MiB  signals {v['signals']:.0f}  "
                          f"lag ≤{v['lag_max_s']:.2f} s  restarts {v['restarts']:.0f}",
                          flush=True)  # fmt: skip
                    next_sample += 60
                time.sleep(1.0)
        finally:
            stop.set()
            web.should_exit = True
            server.close()

    keys = list(samples[0].values) if samples else []
    with open(args.out / "soak.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["minute", *keys])
        for s in samples:
            w.writerow([round(s.minute, 2), *(round(s.values[k], 3) for k in keys)])
    half = [s for s in samples if s.minute >= samples[-1].minute / 2] if samples else []
    print(f"\n{args.cameras} cameras, {args.streams} operator streams, "
          f"{samples[-1].minute if samples else 0:.0f} min on {args.database}; purged "
          f"{purged['signals']} signals and {purged['images']} media files")  # fmt: skip
    for k in keys:
        xs = np.array([s.minute for s in half])
        ys = np.array([s.values[k] for s in half])
        ok = np.isfinite(ys)
        if ok.sum() >= 3:
            slope = float(np.polyfit(xs[ok], ys[ok], 1)[0]) * 60
            first, last = samples[0].values[k], samples[-1].values[k]
            print(f"  {k:16s} first {first:10.2f}  last {last:10.2f}  "
                  f"second half {slope:+10.2f} per hour")  # fmt: skip
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        shown = [k for k in keys if k not in ("signals", "journal", "stream_signals")]
        fig, axes = plt.subplots(len(shown), 1, figsize=(8, 1.6 * len(shown)), sharex=True)
        for ax, k in zip(np.atleast_1d(axes), shown, strict=True):
            ax.plot([s.minute for s in samples], [s.values[k] for s in samples])
            ax.set_ylabel(k, rotation=0, ha="right", fontsize=8)
        np.atleast_1d(axes)[-1].set_xlabel("minutes")
        fig.tight_layout()
        fig.savefig(args.out / "soak.png", dpi=90)
        print(f"plot: {args.out / 'soak.png'}; samples: {args.out / 'soak.csv'}")
    except ImportError:
        print(f"samples: {args.out / 'soak.csv'} (matplotlib absent: no plot)")


if __name__ == "__main__":
    main()
