"""The cluster runtime's failure and stop figures on a Ray cluster of several nodes on this
machine (`ray.cluster_utils.Cluster`). Prints figures; asserts nothing.

    python bench/cluster.py                    # head + 3 workers, 4 demo cameras, 2 node kills
    python bench/cluster.py --workers 2 --cameras 3 --kills 1

Each node offers `--units` cameras (the `veilleur_camera` resource; one CPU each as far as Ray
is told). The cameras are the demo's (`veilleur demo`: the PETS plaza with its zones, zone
intrusion and wrong way, 5 fps, looping) with YOLOX-nano (VEILLEUR_MODELS_DIR, else the
shared models). It prints:

- start: the cluster up, then every camera running (actor placement, imports, model loading);
- per killed worker node (`remove_node`, not graceful: its processes die at once): the time
  until the runtime noticed (the camera marked failed), and until each of its cameras analyses
  again on another node, with the restarts and lost frames counted;
- the stop of every camera (`stop_cameras`, what a revocation does): the call's duration, and
  per camera the time from the request to its last analysed frame, and to its actor's kill;
- the CPU time of this process (the server's side: polls, delivery) over the run.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from veilleur.cli.server import demo_camera, demo_clip
from veilleur.cluster import CAMERA_RESOURCE, ClusterRuntime
from veilleur.config import parse_config
from veilleur.runtime import SignalEvent

MB = 2**20


def model_path() -> Path:
    base = os.environ.get("VEILLEUR_MODELS_DIR") or str(
        Path(os.environ.get("VEILLEUR_SHARED", "../shared")) / "models"
    )
    return Path(base) / "yolox-nano" / "yolox_nano_416x416.onnx"


def wait_for(predicate: object, timeout: float, step: float = 0.05) -> float | None:
    """Seconds until `predicate()` held, or None after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - t0
        time.sleep(step)
    return None


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=3, help="worker nodes beside the head")
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--units", type=int, default=2, help="cameras each node takes")
    ap.add_argument("--kills", type=int, default=2, help="worker nodes to kill, one by one")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds between steps")
    args = ap.parse_args()
    clip = demo_clip()
    if clip is None or not model_path().is_file():
        print("needs the demo clip (opencv-doc or VEILLEUR_SHARED) and YOLOX-nano", file=sys.stderr)
        return 2
    node = {"num_cpus": 1, "resources": {CAMERA_RESOURCE: args.units}}
    node["object_store_memory"] = 100 * MB
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry (SPEC S10)
    t0 = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    workers = [cluster.add_node(**node) for _ in range(args.workers)]
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    cluster.wait_for_nodes()
    print(f"cluster of {1 + args.workers} nodes up in {time.monotonic() - t0:.1f} s")

    names = [f"plaza-{i + 1}" for i in range(args.cameras)]
    site = parse_config(
        {
            "perception": {"detector": "yolox-nano", "model_path": str(model_path())},
            "cameras": {n: demo_camera(str(clip)) for n in names},
        }
    )
    signals: list[SignalEvent] = []
    rt = ClusterRuntime(site, on_signal=signals.append, loop_files=True)
    cpu0 = cpu_s()
    t1 = time.monotonic()
    rt.start()
    took = wait_for(lambda: all(s.state == "running" for s in rt.status().values()), 180)
    print(f"{args.cameras} cameras running {took:.1f} s after start()" if took else "not started")
    spread = {k[:8]: v for k, v in rt.nodes().items()}
    print(f"placement: {spread}")
    try:
        for k in range(args.kills):
            time.sleep(args.settle)
            victim = next((w for w in workers if w.node_id in rt.nodes()), None)
            if victim is None:
                print("no worker node runs a camera: nothing to kill")
                break
            moved = rt.nodes()[victim.node_id]
            before = {n: rt.status()[n].restarts for n in moved}
            killed = time.monotonic()
            cluster.remove_node(victim, allow_graceful=False)
            workers.remove(victim)
            noticed = wait_for(
                lambda m=moved, b=before: all(rt.status()[n].restarts > b[n] for n in m), 30, 0.01
            )
            back = {}
            for n in moved:
                t = wait_for(
                    lambda n=n, gone=victim.node_id: (
                        (s := rt.status()[n]).state == "running"
                        and s.node not in (None, gone)
                        and s.fps > 0
                    ),
                    max(0.0, 30 - (time.monotonic() - killed)),
                    0.01,
                )
                back[n] = None if t is None else time.monotonic() - killed
            wait_for(lambda m=moved: all(rt.status()[n].lost_frames > 0 for n in m), 5)
            st = rt.status()
            print(f"kill {k + 1}: node {victim.node_id[:8]} with {moved}; noticed after "
                  f"{noticed:.2f} s" if noticed is not None else "never noticed")  # fmt: skip
            for n in moved:
                where = (st[n].node or "-")[:8]
                b = f"{back[n]:.2f} s" if back[n] is not None else "NOT within 30 s"
                print(f"  {n}: analysing again on {where} {b} after the kill; restarts "
                      f"{st[n].restarts}, lost frames {st[n].lost_frames}")  # fmt: skip
        time.sleep(args.settle)
        running = [n for n, s in rt.status().items() if s.state == "running"]
        t = time.monotonic()
        rt.stop_cameras(running)
        call = time.monotonic() - t
        print(f"stop of {len(running)} cameras: stop_cameras returned in {call:.3f} s")
        for n in running:
            s = rt.last_stops.get(n)
            if s is None:
                continue
            last = s["last_analysed_at"]
            to_last = max(0.0, last - s["requested_at"]) if last is not None else float("nan")
            kill = s["killed_at"] - s["requested_at"]
            print(f"  {n}: last frame {to_last:.3f} s after the request, ended by itself: "
                  f"{s['ended']}, actor killed after {kill:.3f} s")  # fmt: skip
        print(f"signals delivered to the server: {len(signals)}; server process CPU "
              f"{cpu_s() - cpu0:.1f} s over {time.monotonic() - t1:.0f} s")  # fmt: skip
    finally:
        rt.close()
        ray.shutdown()
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
