"""What each situation adds to a camera's cost. Prints figures; asserts nothing.

    python bench/situations_cost.py [--video FILE] [--seconds 30] [--only SITUATION...]

Runs the pipeline over the same 640×360 clip (default: PETS S2L1 re-encoded to 640×360 H.264)
once with no situation, then once per situation with only it enabled (on a zone covering the
whole image where it needs one), and prints the milliseconds per analysed frame of the
situation itself, of the pose model when it needs one, and the CPU per second of video of the
whole pipeline — against the per-camera budget of 100 ms of CPU per second of 640×360 video at
5 fps.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from pipeline_cost import MODELS, PETS, make_clip

from veilleur.config import parse_config
from veilleur.config.model import SituationsConfig
from veilleur.pipeline import CameraPipeline, prefetch
from veilleur.situations import IMPLEMENTED
from veilleur.sources import open_source

WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def measure(video: Path, situation: str | None, fps: float) -> dict[str, float]:
    situations: dict[str, dict[str, object]] = {}
    if situation is not None:
        cfg: dict[str, object] = {"enabled": True}
        config_cls = SituationsConfig.model_fields[situation].annotation
        if getattr(config_cls, "needs_zone", False):
            cfg["zones"] = ["all"]
        situations[situation] = cfg
    site = parse_config(
        {
            "perception": {"detector": "yolox-nano"},
            "cameras": {
                "bench": {
                    "source": str(video),
                    "analysis_fps": fps,
                    "zones": {"all": {"polygon": WHOLE, "direction": [-1, 0]}},
                    "situations": situations,
                }
            },
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = CameraPipeline("bench", site)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with open_source(str(video), analysis_fps=fps) as src:
        for _ in pipe.run(prefetch(src.frames())):
            pass
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    video_s = pipe.scene.t + 1.0 / fps
    ms = pipe.clock.ms_per_frame()
    return {
        "situations ms/frame": ms["situations"],
        "pose ms/frame": ms["pose"],
        "detection ms/frame": ms["detection"],
        "x real time": video_s / wall,
        "CPU ms per video s": 1000 * cpu / video_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--video", type=Path, help="a 640×360 clip (default: made from PETS)")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--only", nargs="+", choices=sorted(IMPLEMENTED), help="these situations")
    args = ap.parse_args()
    os.environ.setdefault("VEILLEUR_MODELS_DIR", str(MODELS))
    tmp = tempfile.TemporaryDirectory()
    video = args.video
    if video is None:
        if not PETS.exists():
            sys.exit(f"{PETS} not found: set VEILLEUR_SHARED or pass --video")
        video = make_clip(PETS, Path(tmp.name) / "pets_360p.mp4", (640, 360), args.seconds)
    rows = [("(no situation)", measure(video, None, args.fps))]
    for name in args.only or IMPLEMENTED:
        print(f"measuring {name} ...", flush=True)
        rows.append((name, measure(video, name, args.fps)))
    keys = list(rows[0][1])
    print(f"\n{video.name}, {args.fps:g} fps, YOLOX-nano, {os.cpu_count()} cores")
    print(f"{'':<20}" + "".join(f"{k:>22}" for k in keys))
    for name, figs in rows:
        print(f"{name:<20}" + "".join(f"{figs[k]:>22.1f}" for k in keys))
    tmp.cleanup()


if __name__ == "__main__":
    main()
