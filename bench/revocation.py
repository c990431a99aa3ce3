"""How fast live processing stops when its authorisation is revoked (SPEC §4: at once; S5: within
a second). Prints figures; asserts nothing.

    python bench/revocation.py                 # 4 cameras, 3 revocations
    python bench/revocation.py -n 8 -r 5

The platform runs as `veilleur serve` runs it (`cli/server.py` `build_server`: database, supervisor
with one process per camera, shared detector pool, authorisation gate), on N cameras looping a
640×360 rendering of PETS 2009 S2L1 in real time under one authorisation. Once signals flow,
the authorisation is revoked through `Platform.revoke_authorisation` (what the API and the
console call), and the bench notes:

- how long the revocation call takes: it returns once every withdrawn situation is switched off
  and every camera process has ended;
- the last signal stored after the revocation began, if any (stored = committed by the
  supervisor's `on_signal`, before any console can see it);
- whether any camera process is still alive afterwards.

Then a new authorisation starts them again, and the cycle repeats.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from live_cameras import live_site, make_clip  # noqa: E402
from signal_latency import authorise  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from veilleur import store  # noqa: E402
from veilleur.cli.server import build_server  # noqa: E402
from veilleur.config.server import ServerSettings  # noqa: E402


def stored_since(sessions: sessionmaker[Session], since: datetime) -> tuple[int, datetime | None]:
    with sessions() as s:
        n, last = s.execute(
            select(func.count(store.SignalRow.id), func.max(store.SignalRow.created_at)).where(
                store.SignalRow.created_at >= since
            )
        ).one()
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return int(n), last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--cameras", type=int, default=4)
    ap.add_argument("-r", "--revocations", type=int, default=3)
    ap.add_argument("--wait", type=float, default=90.0, help="max seconds to wait for signals")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="veilleur-revocation-"))
    clip = make_clip(Path(tempfile.gettempdir()) / "veilleur-bench-pets-640x360.mp4")
    site = live_site(args.cameras, clip)
    url = store.default_url(tmp)
    settings = ServerSettings(data_dir=tmp, database_url=url)
    store.upgrade(url)
    authorise(url, site)
    server = build_server(settings, site, loop_files=True)
    platform = server.app.state.platform
    sessions = server.app.state.sessions
    calls: list[float] = []
    late: list[float] = []
    try:
        for cycle in range(args.revocations):
            if cycle:
                authorise(url, site)
                platform.apply_authorisations()
            began = datetime.now(UTC)
            deadline = time.monotonic() + args.wait
            while stored_since(sessions, began)[0] < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            flowing = stored_since(sessions, began)[0]
            with sessions() as s:
                (active,) = store.list_authorisations(s, active_at=datetime.now(UTC))
                t0 = time.monotonic()
                revoked_at = datetime.now(UTC)
                platform.revoke_authorisation(s, active.id, "bench", actor="bench")
                took = time.monotonic() - t0
            calls.append(took)
            time.sleep(3.0)  # anything still on its way would be stored by now
            n_after, last = stored_since(sessions, revoked_at)
            if last is not None:
                late.append((last - revoked_at).total_seconds())
            alive = [
                name
                for name, cam in server.supervisor._cameras.items()
                if cam.process is not None and cam.process.is_alive()
            ]
            print(
                f"revocation {cycle + 1}: {flowing} signals before; call {took * 1000:.0f} ms; "
                f"{n_after} stored after it"
                + (f" (last +{(last - revoked_at).total_seconds() * 1000:.0f} ms)" if last else "")
                + f"; camera processes alive: {len(alive)}",
                flush=True,
            )
    finally:
        server.close()
    print(
        f"\n{args.cameras} cameras, {len(calls)} revocations: call max {max(calls) * 1000:.0f} ms,"
        f" median {float(np.median(calls)) * 1000:.0f} ms; signals stored after a revocation "
        f"began: {len(late)} (latest +{max(late) * 1000:.0f} ms)"
        if late
        else f"\n{args.cameras} cameras, {len(calls)} revocations: call max "
        f"{max(calls) * 1000:.0f} ms, median {float(np.median(calls)) * 1000:.0f} ms; "
        "no signal stored after a revocation began"
    )


if __name__ == "__main__":
    main()
