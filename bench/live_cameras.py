"""How many live cameras one machine holds: N cameras of 640×360 analysed at 5 fps, paced in
real time, through the runtime (one process per camera, one shared YOLOX-nano pool). Prints
figures; asserts nothing.

    python bench/live_cameras.py                      # 8 cameras for 60 s
    python bench/live_cameras.py -n 10 -d 90
    python bench/live_cameras.py --find-max           # from -n upwards until one does not hold

Each camera loops a 640×360 H.264 rendering of PETS 2009 S2L1 (made once, cached beside the
system's temporary files) with its zones and situations (zone intrusion, wrong way; cool-down
30 s, the product default), so the detector, the situations and the signals' blurred
snapshots and clips are real work. After a warm-up, it prints per camera: analysed fps, lag
(mean, p95, and its trend in seconds per minute: a camera that cannot keep up shows a growing
lag or drops), frames dropped, the detector's time per request (queueing in the pool
included); then the pool's inference time and queue depth, the CPU used (whole machine, and the
runtime's processes), and the time from a worker recognising a signal to `on_signal` in the
main process.

A run "holds" when every camera analyses at least 90 % of its frames (no more than 10 %
dropped), its lag's p95 stays under one second, its lag does not grow (its fitted trend adds
less than 0.25 s over the measured time) and nothing restarts.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from veilleur.config import SiteConfig, parse_config
from veilleur.evaluation import pets
from veilleur.runtime import SignalEvent, Supervisor
from veilleur.runtime.metrics import REGISTRY

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VEILLEUR_SHARED", REPO.parent / "shared"))
PETS = SHARED / "data" / "pets2009_s2l1" / "vtest_PETS2009_S2L1_View001.avi"
YOLOX = SHARED / "models" / "yolox-nano" / "yolox_nano_416x416.onnx"
FPS = 5.0
HOLD_DROP_SHARE = 0.10
HOLD_LAG_P95_S = 1.0
HOLD_LAG_GROWTH_S = 0.25
"""Most the lag may grow (its fitted trend) over the measured time."""


def make_clip(dest: Path, size: tuple[int, int] = (640, 360)) -> Path:
    """PETS S2L1 rescaled to `size`, H.264 at its own 10 fps (a camera's sub-stream)."""
    if dest.exists():
        return dest
    tmp = dest.with_suffix(".part.mp4")
    width, height = size
    with av.open(str(PETS)) as inp, av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=10, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in inp.decode(video=0):
            img = frame.to_ndarray(format="rgb24", width=width, height=height)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(dest)
    return dest


def cpu_ticks(pid: int) -> int:
    """User + system clock ticks of one process (and its reaped children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15])


def machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _sample(name: str, camera: str) -> float:
    v = REGISTRY.get_sample_value(name, {"camera": camera})
    return float(v) if v is not None else float("nan")


@dataclass
class CameraFigures:
    fps: list[float] = field(default_factory=list)
    lag: list[tuple[float, float]] = field(default_factory=list)
    detector_ms: list[float] = field(default_factory=list)
    dropped0: int = 0
    dropped1: int = 0
    frames0: float = 0.0
    frames1: float = 0.0
    restarts: int = 0

    def trend_s_per_min(self) -> float:
        if len(self.lag) < 3:
            return 0.0
        t, lag = np.array(self.lag).T
        return float(np.polyfit(t, lag, 1)[0] * 60.0)

    def p95_lag(self) -> float:
        return float(np.percentile([v for _, v in self.lag], 95)) if self.lag else 0.0

    def drop_share(self) -> float:
        analysed = self.frames1 - self.frames0
        dropped = self.dropped1 - self.dropped0
        total = analysed + dropped
        return dropped / total if total else 0.0


def live_site(n: int, clip: Path) -> SiteConfig:
    """N cameras `cam00`… looping `clip` with the PETS zones and situations, as a live site."""
    config = pets.site_config(YOLOX)
    camera = dict(config["cameras"]["pets"])
    camera["source"] = str(clip)
    camera["analysis_fps"] = FPS
    # The evaluation's configuration signals every episode (no cool-down); a live site keeps the
    # default 30 s, so that the operator is not flooded, and so do the benches.
    camera["situations"] = {
        sid: {**sit, "cooldown_s": 30.0} for sid, sit in camera["situations"].items()
    }
    config["cameras"] = {f"cam{i:02d}": dict(camera) for i in range(n)}
    return parse_config(config)


def run(n: int, seconds: float, warmup: float, clip: Path, workers: int) -> bool:
    site = live_site(n, clip)
    latencies: list[float] = []
    lock = threading.Lock()

    def on_signal(event: SignalEvent) -> None:
        with lock:
            latencies.append((datetime.now(UTC) - event.wall_time).total_seconds())

    names = list(site.cameras)
    figs = {name: CameraFigures() for name in names}
    pool_ms: list[float] = []
    depth: list[float] = []
    with Supervisor(site, on_signal=on_signal, loop_files=True, workers=workers) as sup:
        started = time.monotonic()
        sup.start()
        # Start-up (spawning, loading the model) is not what is measured.
        while time.monotonic() - started < 120 and not all(
            s.state == "running" for s in sup.status().values()
        ):
            time.sleep(0.5)
        t_running = time.monotonic() - started
        time.sleep(warmup)
        pool_pids = [p.pid for p in mp.active_children() if p.name.startswith("veilleur-detector")]
        pids = [p.pid for p in mp.active_children() if p.name.startswith("veilleur-")]
        procs0 = sum(cpu_ticks(p) for p in pids if p is not None) + cpu_ticks(os.getpid())
        pool0 = sum(cpu_ticks(p) for p in pool_pids if p is not None)
        busy0, total0 = machine_ticks()
        t0 = time.monotonic()
        status = sup.status()
        for name in names:
            figs[name].dropped0 = status[name].dropped_frames
            figs[name].frames0 = _sample("veilleur_camera_frames_total", name)
        with lock:
            latencies.clear()
        while time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            now = time.monotonic() - t0
            status = sup.status()
            for name in names:
                st, f = status[name], figs[name]
                f.fps.append(st.fps)
                f.lag.append((now, st.lag_s))
                f.detector_ms.append(_sample("veilleur_camera_detector_ms", name))
            for label in ("0",):
                v = REGISTRY.get_sample_value("veilleur_detector_inference_ms", {"pool": label})
                q = REGISTRY.get_sample_value("veilleur_detector_queue_depth", {"pool": label})
                if v is not None:
                    pool_ms.append(v)
                if q is not None:
                    depth.append(q)
        elapsed = time.monotonic() - t0
        procs1 = sum(cpu_ticks(p) for p in pids if p is not None) + cpu_ticks(os.getpid())
        pool1 = sum(cpu_ticks(p) for p in pool_pids if p is not None)
        busy1, total1 = machine_ticks()
        status = sup.status()
        for name in names:
            figs[name].dropped1 = status[name].dropped_frames
            figs[name].frames1 = _sample("veilleur_camera_frames_total", name)
            figs[name].restarts = status[name].restarts

    hz = os.sysconf("SC_CLK_TCK")
    cores = os.cpu_count() or 1
    machine = 100.0 * (busy1 - busy0) / max(total1 - total0, 1) * cores
    runtime_cpu = 100.0 * (procs1 - procs0) / hz / elapsed
    pool_cpu = 100.0 * (pool1 - pool0) / hz / elapsed
    analysed = sum(f.frames1 - f.frames0 for f in figs.values())
    print(f"\n=== {n} cameras, 640x360 at {FPS:g} fps, {elapsed:.0f} s measured ===")
    print(f"all running {t_running:.1f} s after start; warm-up {warmup:.0f} s not measured")
    print(
        f"{'camera':8} {'fps':>5} {'lag ms':>7} {'p95 ms':>7} {'trend s/min':>11} "
        f"{'dropped':>8} {'drop %':>7} {'det ms':>7} {'restarts':>8}"
    )
    holds = True
    for name in names:
        f = figs[name]
        mean_lag = statistics.fmean(v for _, v in f.lag)
        det = [v for v in f.detector_ms if v == v]
        ok = (
            f.drop_share() <= HOLD_DROP_SHARE
            and f.p95_lag() < HOLD_LAG_P95_S
            and f.trend_s_per_min() * elapsed / 60.0 < HOLD_LAG_GROWTH_S
            and f.restarts == 0
        )
        holds &= ok
        print(
            f"{name:8} {statistics.fmean(f.fps):5.2f} {1000 * mean_lag:7.0f} "
            f"{1000 * f.p95_lag():7.0f} {f.trend_s_per_min():+11.3f} "
            f"{f.dropped1 - f.dropped0:8d} {100 * f.drop_share():6.1f}% "
            f"{statistics.fmean(det) if det else float('nan'):7.1f} {f.restarts:8d}"
            + ("" if ok else "  <- does not hold")
        )
    if pool_ms:
        print(f"pool: inference {statistics.fmean(pool_ms):.1f} ms per request", end="")
    if depth:
        print(f", queue depth mean {statistics.fmean(depth):.2f} max {max(depth):.2f}", end="")
    print()
    print(
        f"CPU: machine {machine:.0f} % of {100 * cores} % ({cores} cores); runtime processes "
        f"{runtime_cpu:.0f} % ({runtime_cpu / n:.0f} % per camera)"
    )
    if analysed:
        # CPU per analysed frame, hence per camera-second at full rate: the cost, whatever else
        # the machine was doing; and the cameras its cores, or one pool process, could carry.
        per_frame = 10.0 * runtime_cpu * elapsed / analysed
        pool_per_frame = 10.0 * pool_cpu * elapsed / analysed
        per_camera = per_frame * FPS / 10.0
        print(
            f"cost: {per_frame:.1f} ms CPU per analysed frame ({pool_per_frame:.1f} ms in the "
            f"pool) = {per_camera:.1f} % of a core per camera at {FPS:g} fps; at that cost the "
            f"{cores} cores carry about {100 * cores / per_camera:.0f} cameras and one pool "
            f"process about {1000 / (pool_per_frame * FPS):.0f}"
        )
    if latencies:
        lat = np.array(latencies)
        print(
            f"signals: {len(lat)}; worker → on_signal p50 {1000 * np.median(lat):.0f} ms, "
            f"p95 {1000 * np.percentile(lat, 95):.0f} ms"
        )
    print("HOLDS" if holds else "DOES NOT HOLD")
    sys.stdout.flush()
    return holds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--cameras", type=int, default=8)
    parser.add_argument("-d", "--seconds", type=float, default=60.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="detector pool processes")
    parser.add_argument("--find-max", action="store_true", help="add cameras until one fails")
    parser.add_argument("--step", type=int, default=2)
    args = parser.parse_args()
    if not PETS.exists() or not YOLOX.exists():
        sys.exit(f"needs {PETS} and {YOLOX} (set VEILLEUR_SHARED)")
    clip = make_clip(Path(tempfile.gettempdir()) / "veilleur-bench-pets-640x360.mp4")
    n = args.cameras
    held = run(n, args.seconds, args.warmup, clip, args.workers)
    if not args.find_max:
        return
    best = n if held else None
    while held:
        n += args.step
        held = run(n, args.seconds, args.warmup, clip, args.workers)
        if held:
            best = n
    if best is None:
        print(f"\nlargest number of cameras that holds: fewer than {args.cameras}")
    else:
        print(f"\nlargest number of cameras that holds: {best} (tested in steps of {args.step})")


if __name__ == "__main__":
    main()
