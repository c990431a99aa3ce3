"""Where one live camera's CPU goes: CPU seconds per second of video, by stage.

Runs one camera of `live_cameras.py --mix` (busy: PETS; car: the car park; hall: the lab
hall) as the runtime does, paced in real time: the camera's worker code (`CameraWorker`)
in this process, the detector in a pool process of its own, and prints the CPU time
(not wall time: the figure holds on a shared machine) of each of the camera process's
threads and, inside the analysis thread, of each stage, per second of video:

    python bench/camera_profile.py --camera busy -d 60
    python bench/camera_profile.py --camera car -d 60

Stages of the analysis thread: motion, detection (the camera's side of a request: copying the
frame or crop into shared memory and the socket round trip; the inference itself is the
pool's line), tracking, scene, situations (the pipeline's own clock, switched to this thread's
CPU time), privacy (the mask), preview (blurring and JPEG of the live picture), signals
(snapshot, clip), IPC (pickling and writing messages to the supervisor), and the rest of the
loop. The decoding thread (FFmpeg decode, pacing, BGR conversion) and the reporter thread
(figures and heartbeat) are measured as threads. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_cameras import FPS, cpu_ticks, mix_clips, mix_site

from veilleur.pipeline import camera as pipeline_camera
from veilleur.runtime import worker as worker_module
from veilleur.runtime.pool import Outbox, pool_main
from veilleur.runtime.worker import CameraWorker, WorkerSpec

PICK = {"busy": "busy00", "car": "car01", "hall": "hall02"}


class NoControl:
    """Nobody sends the camera anything."""

    def get_nowait(self) -> Any:
        raise Empty


def thread_cpu(thread: threading.Thread) -> float:
    ident = thread.ident
    if ident is None or not thread.is_alive():
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(ident))


class Stages:
    """CPU time of the calling thread spent in wrapped functions, by stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._inside = threading.local()

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._inside, "on", False):  # nested: the outer stage counts it
                return fn(*args, **kwargs)
            self._inside.on = True
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._inside.on = False
                self.seconds[f"{threading.current_thread().name}:{stage}"] += (
                    time.thread_time() - t0
                )

        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--camera", choices=sorted(PICK), default="busy")
    parser.add_argument("-d", "--seconds", type=float, default=60.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument(
        "--watched",
        action="store_true",
        help="someone looks at the live picture (one a second), as on a video wall",
    )
    args = parser.parse_args()
    clips = mix_clips(Path(tempfile.gettempdir()))
    site, _ = mix_site(4, clips)
    name = PICK[args.camera]

    ctx = mp.get_context("spawn")
    folder = tempfile.mkdtemp(prefix="veilleur-profile-")
    address = os.path.join(folder, "pool.sock")
    authkey = os.urandom(16)
    pool_stop = ctx.Event()
    pool_reader, pool_writer = ctx.Pipe(duplex=False)
    pool = ctx.Process(
        target=pool_main,
        args=(0, address, authkey, pool_writer, pool_stop, None, os.getpid()),
        daemon=True,
    )
    pool.start()
    pool_writer.close()

    # The camera's messages go through a real pipe, as to the supervisor; a thread here drains
    # it (its CPU is the supervisor's, not counted).
    reader, writer = ctx.Pipe(duplex=False)

    def drain() -> None:
        while True:
            try:
                reader.recv()
            except (EOFError, OSError):
                return

    def drain_pool() -> None:
        while True:
            try:
                pool_reader.recv()
            except (EOFError, OSError):
                return

    threading.Thread(target=drain, name="drain", daemon=True).start()
    threading.Thread(target=drain_pool, name="pool-drain", daemon=True).start()

    import cv2

    cv2.setNumThreads(1)  # as camera_main does
    stages = Stages()
    # The pipeline's stage clock, on this thread's CPU time instead of wall time.
    pipeline_camera.time = types.SimpleNamespace(  # type: ignore[assignment]
        perf_counter=time.thread_time
    )
    for fn, stage in (
        ("jpeg", "jpeg"),
        ("apply_privacy", "blur"),
        ("clip_mp4", "signals"),
        ("draw_signal", "signals"),
    ):
        setattr(worker_module, fn, stages.wrap(stage, getattr(worker_module, fn)))

    spec = WorkerSpec(
        camera=name,
        site=site,
        generation=1,
        inactive=frozenset(),
        pool_address=address,
        authkey=authkey,
        realtime=True,
        loop=True,
        watched=args.watched,
    )
    stop = threading.Event()
    outbox = Outbox(writer)
    events = types.SimpleNamespace(put=stages.wrap("ipc", outbox.put))
    worker = CameraWorker(spec, NoControl(), events, stop)  # type: ignore[arg-type]
    worker.privacy_mask = stages.wrap("privacy", worker.privacy_mask)  # type: ignore[method-assign]
    worker.emit = stages.wrap("signals", worker.emit)  # type: ignore[method-assign]
    done: list[int] = []
    analysis = threading.Thread(target=lambda: done.append(worker.run()), name="analysis")
    analysis.start()
    while worker.state != "running":
        time.sleep(0.1)
    time.sleep(args.warmup)

    def threads() -> dict[str, threading.Thread]:
        return {t.name: t for t in threading.enumerate() if t.name in ("decode", "report")} | {
            "analysis": analysis
        }

    def snapshot() -> dict[str, float]:
        snap = {f"thread:{n}": thread_cpu(t) for n, t in threads().items()}
        snap |= {f"analysis:{k}": v for k, v in worker.pipeline.clock.seconds.items()}
        snap |= dict(stages.seconds)
        snap["process"] = time.process_time()
        snap["pool"] = cpu_ticks(pool.pid or 0) / os.sysconf("SC_CLK_TCK")
        snap["frames"] = worker.frames
        snap["signals"] = worker.signals
        snap["dropped"] = worker.slot.dropped
        snap["runs"] = worker.pipeline.clock.detector_runs
        snap["skipped"] = worker.pipeline.clock.detector_skipped
        snap["cropped"] = worker.pipeline.clock.detector_cropped
        snap["tasks"] = len(os.listdir("/proc/self/task"))
        return snap

    s0, t0 = snapshot(), time.monotonic()
    time.sleep(args.seconds)
    s1, elapsed = snapshot(), time.monotonic() - t0
    stop.set()
    analysis.join(5)
    pool_stop.set()
    pool.join(5)

    d = {k: s1.get(k, 0.0) - s0.get(k, 0.0) for k in s1}
    frames = d["frames"]
    looked = "watched" if args.watched else "nobody watching"
    print(
        f"\n=== {name} ({args.camera}, {looked}), {elapsed:.0f} s of video at {FPS:g} fps "
        "analysed ==="
    )
    print(
        f"frames analysed {frames:.0f}, dropped {d['dropped']:.0f}; detector runs {d['runs']:.0f} "
        f"(on a crop {d['cropped']:.0f}), skipped {d['skipped']:.0f} (no motion); "
        f"signals {d['signals']:.0f}; threads in the process {s1['tasks']:.0f}"
    )

    def line(label: str, seconds: float) -> None:
        print(
            f"  {label:34} {1000 * seconds / elapsed:7.1f} ms/s "
            f"{1000 * seconds / max(frames, 1):7.2f} ms/frame"
        )

    print("CPU per second of video (and per analysed frame):")
    line("thread decode", d.get("thread:decode", 0.0))
    line("thread report (figures, heartbeat)", d.get("thread:report", 0.0))
    analysis_cpu = d["thread:analysis"]
    line("thread analysis", analysis_cpu)
    known = 0.0
    for stage in ("motion", "detection", "pose", "tracking", "scene", "situations"):
        v = d.get(f"analysis:{stage}", 0.0)
        known += v
        line(f"  {stage}", v)
    for stage in ("privacy", "blur", "jpeg", "signals", "ipc"):
        v = d.get(f"analysis:{stage}", 0.0)
        known += v
        line(f"  {stage}", v)
    line("  rest of the loop", analysis_cpu - known)
    counted = d.get("thread:decode", 0.0) + d.get("thread:report", 0.0) + analysis_cpu
    line("camera process, these threads", counted)
    line("detector pool (inference)", d["pool"])
    line("camera + pool", counted + d["pool"])
    print(f"  report thread's IPC: {1000 * d.get('report:ipc', 0.0) / elapsed:.1f} ms/s")


if __name__ == "__main__":
    main()
