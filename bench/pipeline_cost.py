"""Per-stage cost of the core pipeline, and end-to-end speed. Prints figures; asserts nothing.

    python bench/pipeline_cost.py                       # PETS S2L1 + a generated 1080p H.264 clip
    python bench/pipeline_cost.py --video FILE [--size 640x360] [--detector yolox-nano]

For each clip: milliseconds per analysed frame in each stage (decode — the time analysis waited
for a frame, since decoding runs ahead in its own thread —, motion, detection, tracking, scene,
situations), wall time, speed against real time, and CPU time (all threads of
the process) per second of video analysed — the per-camera budget is 100 ms of CPU per second of
640×360 video at 5 fps.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from veilleur.config import parse_config
from veilleur.pipeline import CameraPipeline, prefetch
from veilleur.sources import open_source

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VEILLEUR_SHARED", REPO.parent / "shared"))
PETS = SHARED / "data" / "pets2009_s2l1" / "vtest_PETS2009_S2L1_View001.avi"
MODELS = SHARED / "models"


def make_clip(source: Path, dest: Path, size: tuple[int, int], seconds: float = 30.0) -> Path:
    """Rescale a real clip to `size` H.264, so the content (and the detector's work) is real."""
    width, height = size
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for frame in inp.decode(video=0):
            if frame.time is not None and frame.time >= seconds:
                break
            img = frame.to_ndarray(format="rgb24", width=width, height=height)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dest


def run(
    video: Path, fps: float, size: tuple[int, int] | None, detector: str, gating: bool, tiles: str
) -> dict[str, float]:
    tiles_v = None if tiles == "none" else [int(v) for v in tiles.split("x")]
    site = parse_config(
        {
            "perception": {"detector": detector, "motion_gating": gating, "tiles": tiles_v},
            "cameras": {
                "bench": {
                    "source": str(video),
                    "analysis_fps": fps,
                    "analysis_size": list(size) if size else None,
                    "zones": {
                        "half": {
                            "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]],
                            "direction": [-1, 0],
                        }
                    },
                    "situations": {
                        "zone_intrusion": {"enabled": True, "zones": ["half"]},
                        "wrong_way": {"enabled": True, "zones": ["half"]},
                    },
                }
            },
        }
    )
    pipe = CameraPipeline("bench", site)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    last_t = 0.0
    with open_source(str(video), analysis_fps=fps, size=size) as src:
        for _ in pipe.run(prefetch(src.frames())):
            pass
        last_t = pipe.scene.t
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    video_s = last_t + 1.0 / fps
    figures = {f"{k} ms/frame": v for k, v in pipe.clock.ms_per_frame().items()}
    figures.update(
        {
            "frames analysed": pipe.clock.frames,
            "detector runs": pipe.clock.detector_runs,
            "  of which on a motion crop": pipe.clock.detector_cropped,
            "video s": video_s,
            "wall s": wall,
            "x real time": video_s / wall,
            "analysed fps": pipe.clock.frames / wall,
            "CPU ms per video s": 1000 * cpu / video_s,
        }
    )
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--video", type=Path, action="append", help="clip(s) to measure")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--size", default=None, help="analysis size WxH, e.g. 640x360")
    ap.add_argument("--detector", default="yolox-nano")
    ap.add_argument("--tiles", default="none", help="e.g. 2x2")
    ap.add_argument("--no-gating", action="store_true", help="run the detector on every frame")
    args = ap.parse_args()
    os.environ.setdefault("VEILLEUR_MODELS_DIR", str(MODELS))
    size = tuple(int(v) for v in args.size.split("x")) if args.size else None

    cases: list[tuple[str, Path, tuple[int, int] | None]] = []
    tmp = tempfile.TemporaryDirectory()
    if args.video:
        cases += [(v.name, v, size) for v in args.video]
    else:
        if not PETS.exists():
            sys.exit(f"{PETS} not found: set VEILLEUR_SHARED or pass --video")
        cases.append(("PETS S2L1 768x576", PETS, size))
        print("generating 30 s 1080p and 640x360 H.264 clips from PETS ...", flush=True)
        hd = make_clip(PETS, Path(tmp.name) / "pets_1080p.mp4", (1920, 1080))
        small = make_clip(PETS, Path(tmp.name) / "pets_360p.mp4", (640, 360))
        cases.append(("640x360 H.264", small, None))
        cases.append(("1080p H.264 -> 640x360", hd, (640, 360)))
        cases.append(("1080p H.264 full size", hd, None))

    rows = []
    for label, video, sz in cases:
        print(f"measuring {label} ...", flush=True)
        rows.append(
            (label, run(video, args.fps, sz, args.detector, not args.no_gating, args.tiles))
        )
    keys = list(rows[0][1])
    width = max(len(k) for k in keys)
    print(
        f"\ndetector {args.detector}, {args.fps:g} fps, motion gating {not args.no_gating}, "
        f"tiles {args.tiles}, {os.cpu_count()} cores"
    )
    print(" " * width + "".join(f"{label[:24]:>26}" for label, _ in rows))
    for k in keys:
        vals = [f"{np.round(r[k], 1):>26}" for _, r in rows]
        print(f"{k:<{width}}" + "".join(vals))
    tmp.cleanup()


if __name__ == "__main__":
    main()
