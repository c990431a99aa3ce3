"""The authorisation gate's pass over every camera (it runs every 30 s and at every bound of an
authorisation, in the central server's process): the CPU of reading N cameras the way the gate
reads them, whole ORM rows each validated twice (as before) against `store.camera_states`
(three columns, a configuration unchanged since the last pass not validated again). On SQLite
(or `--url`). Prints figures; asserts nothing.

    python bench/gate_pass.py -n 10000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def cpu() -> float:
    return time.process_time()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--cameras", type=int, default=10000)
    ap.add_argument("--url", help="a database URL (default: a new SQLite file)")
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    from rehearsal import site_config
    from sqlalchemy import insert

    from veilleur import store

    folder = Path(tempfile.mkdtemp(prefix="veilleur-gate-"))
    url = args.url or f"sqlite:///{folder / 'veilleur.db'}"
    try:
        store.upgrade(url)
        engine = store.make_engine(url)
        sessions = store.session_factory(engine)
        site = site_config(args.cameras)
        with sessions() as s:
            s.execute(insert(store.Camera), [
                {"name": name, "config": cfg.model_dump(mode="json"), "processing": True,
                 "services": []}
                for name, cfg in site.cameras.items()
            ])  # fmt: skip
            s.commit()

        def rows_validated_twice() -> int:
            with sessions() as s:
                rows = store.list_cameras(s)
                return sum(1 for r in rows if store.camera_config(r) is not None)

        def states() -> int:
            with sessions() as s:
                return len(store.camera_states(s))

        for label, fn in (("ORM rows, validated twice (before)", rows_validated_twice),
                          ("camera_states (after)", states)):  # fmt: skip
            times = []
            for _ in range(args.passes):
                c0 = cpu()
                assert fn() == args.cameras
                times.append(cpu() - c0)
            print(f"{label:<38} first pass {times[0]:6.2f} s CPU, then "
                  f"{min(times[1:] or times):6.2f} s  ({args.cameras} cameras)")  # fmt: skip
        engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
