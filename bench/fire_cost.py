"""Cost of `fire_start` per analysed frame, and the signals it raises. Prints; asserts nothing.

    python bench/fire_cost.py                    # house6, PETS S2L1, car park at 640×360, 5 fps
                                                 # (and, with VEILLEUR_EXTRA, the car fire
                                                 # filmed by a hand-held camera)
    python bench/fire_cost.py --video FILE [--video FILE ...] [--size 640x360] [--fps 5]
    python bench/fire_cost.py --scenarios DIR    # also every clip of a `veilleur evaluate
                                                 # --scenarios DIR --only fire` folder

For each clip the frames are decoded once (resized to --size, sampled at --fps) and then fed
to the flame cue alone, the smoke cue alone, and the whole situation (through CameraPipeline
with a detector that sees nothing, so only the fire logic is timed). Figures: milliseconds of
CPU (process time, all threads) per analysed frame, and per second of video; the per-camera
budget of the whole pipeline is 100 ms of CPU per second of 640×360 video at 5 fps.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from veilleur.config import parse_config
from veilleur.perception.fire import FlameCue, SmokeCue
from veilleur.pipeline import CameraPipeline
from veilleur.sources import open_source
from veilleur.types import Detections, Frame, Signal

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VEILLEUR_SHARED", REPO.parent / "shared")) / "data"
DEFAULT = [
    SHARED / "furg_fire" / "house6.mp4",
    SHARED / "pets2009_s2l1" / "vtest_PETS2009_S2L1_View001.avi",
    SHARED / "intel_cars" / "car-detection.mp4",
]


class NoDetector:
    name = "none"

    def detect(self, image: np.ndarray) -> Detections:
        return Detections.empty()


def decode(video: Path, fps: float, size: tuple[int, int] | None) -> list[Frame]:
    with open_source(str(video), analysis_fps=fps, size=size) as src:
        return list(src.frames())


def cpu_ms(frames: list[Frame], step: Callable[[Frame], object], repeat: int) -> float:
    """Best of `repeat` passes, CPU milliseconds per frame (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for f in frames:
            step(f)
        best = min(best, time.process_time() - t0)
    return 1000.0 * best / max(len(frames), 1)


def situation(video: Path, fps: float) -> tuple[CameraPipeline, list[Signal]]:
    site = parse_config(
        {
            "perception": {"motion_gating": False},
            "cameras": {
                "cam": {
                    "source": str(video),
                    "analysis_fps": fps,
                    "situations": {"fire_start": {"enabled": True}},
                }
            },
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CameraPipeline("cam", site, detector=NoDetector()), []


def measure(video: Path, fps: float, size: tuple[int, int] | None, repeat: int) -> None:
    frames = decode(video, fps, size)
    if not frames:
        print(f"{video.name}: no frame decoded")
        return
    h, w = frames[0].image.shape[:2]
    video_s = frames[-1].t + 1.0 / fps

    def flame_pass() -> Callable[[Frame], object]:
        cue = FlameCue()
        return lambda f: cue.update(f.image, f.t)

    def smoke_pass() -> Callable[[Frame], object]:
        cue = SmokeCue()
        return lambda f: cue.update(f.image, f.t)

    flame = min(cpu_ms(frames, flame_pass(), 1) for _ in range(repeat))
    smoke = min(cpu_ms(frames, smoke_pass(), 1) for _ in range(repeat))
    best_total = float("inf")
    signals: list[Signal] = []
    for _ in range(repeat):
        pipe, signals = situation(video, fps)
        t0 = time.process_time()
        for f in frames:
            signals += pipe.process(f)
        best_total = min(best_total, 1000.0 * (time.process_time() - t0) / len(frames))
    print(f"\n{video.name}: {len(frames)} frames of {w}×{h} at {fps:g} fps ({video_s:.0f} s)")
    print(f"  flame cue            {flame:6.2f} ms CPU/frame")
    print(f"  smoke cue            {smoke:6.2f} ms CPU/frame")
    print(f"  pipeline, no detector{best_total:6.2f} ms CPU/frame (fire_start + tracking + scene)")
    print(f"  fire_start per video second: {(flame + smoke) * fps:.1f} ms CPU")
    for s in signals:
        print(
            f"  signal: start {s.start_s:.1f} s, raised {s.end_s:.1f} s, "
            f"box {[round(v, 2) for v in s.bbox]}, confidence {s.confidence:.2f}"
        )
    if not signals:
        print("  no signal")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--video", type=Path, action="append", help="clip(s) to measure")
    ap.add_argument("--scenarios", type=Path, help="folder of generated fire scenarios")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--size", default="640x360", help="analysis size WxH, or 'source'")
    ap.add_argument("--repeat", type=int, default=3, help="passes per figure (best is kept)")
    args = ap.parse_args()
    size = None if args.size == "source" else tuple(int(v) for v in args.size.split("x"))
    videos = list(args.video or DEFAULT)
    extra = os.environ.get("VEILLEUR_EXTRA")
    if not args.video and extra:  # a moving camera: the dearest case (evaluation/extra_fire.yaml)
        videos.append(Path(extra) / "spacewalk" / "input.mp4")
    if args.scenarios is not None:
        videos += sorted(args.scenarios.glob("fire_*.mp4"))
    for v in videos:
        if not v.exists():
            print(f"{v}: missing, skipped")
            continue
        measure(v, args.fps, size, args.repeat)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
