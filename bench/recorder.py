"""How many signals a second the central server's recorder stores: `SignalRecorder` one signal
per transaction (`__call__`, as before) against batches of what waited together (`batch`, as
`veilleur serve` hands them over), on a fresh PostgreSQL database (or SQLite), with media of
the real size (a blurred 640x360 snapshot and a 4 s clip, as bench/rehearsal.py makes them),
a journal entry, the delivery outbox and a further event for every fourth signal. Prints
figures; asserts nothing.

    python bench/recorder.py                      # 400 signals, batches of 1, 16 and 64
    python bench/recorder.py -n 1000 --batch 64 --sqlite
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


@contextmanager
def database(sqlite: bool) -> Iterator[str]:
    """A fresh database: a SQLite file, or a PostgreSQL database (`faults.pg_database`, on
    VEILLEUR_TEST_PG_URL, default the local server), removed afterwards."""
    if not sqlite:
        from faults import pg_database

        with pg_database() as url:
            yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="veilleur-recorder-db-"))
    try:
        yield f"sqlite:///{folder / 'veilleur.db'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def events(n: int, snapshot: bytes, clip: bytes, cameras: int, run: int) -> list[Any]:
    """`n` signals spread over the cameras, a further event after every fourth."""
    from veilleur.runtime import AttachedEvent, SignalEvent
    from veilleur.types import FurtherEvent, Signal

    out: list[Any] = []
    when = datetime.now(UTC)
    for i in range(n):
        camera = f"c{i % cameras:05d}"
        episode = f"r{run}-e{i}"
        sig = Signal(
            situation="zone_intrusion", camera=camera, zone="quay", start_s=float(i),
            end_s=i + 0.5, frame=i * 5, bbox=(0.3, 0.4, 0.5, 0.9), confidence=0.8,
            model="yolox-nano", config_version="v1", episode=episode,
        )  # fmt: skip
        out.append(SignalEvent(sig, snapshot, clip, "limits", when))
        if i % 4 == 3:
            further = FurtherEvent(
                situation="zone_intrusion", camera=camera, zone="quay", episode=episode,
                start_s=i + 1.0, end_s=i + 1.5, frame=i * 5 + 5, bbox=(0.3, 0.4, 0.5, 0.9),
                confidence=0.8,
            )  # fmt: skip
            out.append(AttachedEvent(further, when))
    return out


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(
    url: str, batch: int, n: int, cameras: int, run: int, media: tuple[bytes, bytes]
) -> dict[str, float]:
    from sqlalchemy import update

    from veilleur import store
    from veilleur.config import CameraConfig
    from veilleur.config.delivery import DeliverySettings
    from veilleur.delivery import DeliveryWorker
    from veilleur.service.bus import SignalBus
    from veilleur.service.platform import SignalRecorder
    from veilleur.store import make_engine, session_factory, upgrade

    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    data_dir = Path(tempfile.mkdtemp(prefix="veilleur-recorder-"))
    try:
        with sessions() as s:
            for i in range(cameras):
                name = f"c{i:05d}"
                if store.get_camera(s, name) is None:
                    store.upsert_camera(s, name, CameraConfig(source="rtsp://x.invalid/s"))
            s.execute(update(store.Camera).values(services=["police"]))
            s.commit()
        recorder = SignalRecorder(sessions, data_dir, SignalBus())
        # The outbox rows are written in each signal's transaction, as in the server; the
        # worker's thread is not started (what it sends is measured in bench/delivery.py).
        recorder.delivery = DeliveryWorker(sessions, DeliverySettings.model_validate({
            "recipients": [{"name": "control-room", "kind": "webhook", "service": "police",
                            "url": "http://127.0.0.1:9/hook", "secret": "bench-secret-0123456"}],
        }))  # fmt: skip
        todo = events(n, media[0], media[1], cameras, run)
        began, cpu0 = time.perf_counter(), cpu_s()
        if batch <= 1:
            for e in todo:
                if hasattr(e, "signal"):
                    recorder(e)
                else:
                    recorder.further(e)
        else:
            for k in range(0, len(todo), batch):
                recorder.batch(todo[k : k + batch])
        wall, cpu = time.perf_counter() - began, cpu_s() - cpu0
        with sessions() as s:
            from sqlalchemy import func, select

            stored = int(s.scalar(select(func.count(store.SignalRow.id))) or 0)
            queued = int(s.scalar(select(func.count(store.OutboxRow.id))) or 0)
        assert recorder.failures == 0 and recorder.orphans == 0, vars(recorder)
        return {"signals": n, "stored": stored, "outbox": queued, "per_s": n / wall,
                "wall_ms": 1000 * wall / n, "cpu_ms": 1000 * cpu / n}  # fmt: skip
    finally:
        engine.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--signals", type=int, default=400, help="signals per run")
    ap.add_argument(
        "--batch", default="1,16,64", help="comma-separated batch sizes (1: one by one)"
    )
    ap.add_argument("--cameras", type=int, default=100, help="cameras the signals come from")
    ap.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    args = ap.parse_args()
    from rehearsal import media

    snapshot, _preview, clip = media()
    print(
        f"media per signal: snapshot {len(snapshot) / 1024:.0f} KB, clip {len(clip) / 1024:.0f} KB"
    )
    print(f"{'batch':>6} {'signals':>8} {'stored':>7} {'outbox':>7} {'signals/s':>10} "
          f"{'wall ms':>8} {'CPU ms':>7}")  # fmt: skip
    for run, size in enumerate(int(b) for b in args.batch.split(",")):
        with database(args.sqlite) as url:
            r = measure(url, size, args.signals, args.cameras, run, (snapshot, clip))
        print(f"{size:>6} {r['signals']:>8} {r['stored']:>7} {r['outbox']:>7} {r['per_s']:>10.1f} "
              f"{r['wall_ms']:>8.1f} {r['cpu_ms']:>7.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
