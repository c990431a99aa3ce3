"""Is any person left sharp in what a camera stores or shows, and what does masking cost?

Drives the real `CameraWorker` over PETS 2009 S2L1 (its ground truth) and UP-Fall clips (the
boxes of tests/data/upfall_person_boxes.csv, lying persons included) and measures, per person
box at least 40 px tall, the correlation of fine detail between each stored picture (live JPEG,
signal snapshot, calibration record snapshot, clip frames decoded back from the MP4) and the
original frame (`veilleur.evaluation.privacy_leak`); above 0.5 the person is left sharp. Also
prints the CPU time of the masking per analysed frame and the share of the picture blurred.

    python bench/privacy_masking.py                         # both models, all clip sets
    python bench/privacy_masking.py --model movenet --only pets --mode background
    python bench/privacy_masking.py --model yolox --detect-every 2   # frames bridged
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from veilleur.evaluation.privacy_leak import (
    UPFALL_HELD_ASIDE,
    AuditCost,
    LeakTally,
    audit_pets,
    audit_upfall,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VEILLEUR_SHARED", REPO.parent / "shared"))
YOLOX = SHARED / "models" / "yolox-nano" / "yolox_nano_416x416.onnx"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["yolox", "movenet", "both"], default="both")
    ap.add_argument("--only", choices=["pets", "upfall", "upfall-held-aside"], default=None)
    ap.add_argument("--mode", choices=["persons", "background"], default="persons")
    ap.add_argument("--every", type=int, default=5, help="PETS: measure every Nth frame")
    ap.add_argument("--clip-every", type=int, default=50, help="PETS: a clip every Nth frame")
    ap.add_argument(
        "--detect-every", type=int, default=1,
        help="perception.detect_every: the detector on one frame in N, the others bridged",
    )  # fmt: skip
    args = ap.parse_args()
    models = ["yolox", "movenet"] if args.model == "both" else [args.model]
    for model in models:
        path = YOLOX if model == "yolox" else None
        for clips in ("pets", "upfall", "upfall-held-aside"):
            if args.only not in (None, clips):
                continue
            tally, cost = LeakTally(), AuditCost()
            t0 = time.perf_counter()
            if clips == "pets":
                audit_pets(SHARED / "data" / "pets2009_s2l1", path, tally, mode=args.mode,
                           every=args.every, clip_every=args.clip_every, cost=cost,
                           detect_every=args.detect_every)  # fmt: skip
            else:
                held = {"clips": UPFALL_HELD_ASIDE} if clips == "upfall-held-aside" else {}
                audit_upfall(SHARED / "data" / "upfall_falls",
                             REPO / "tests" / "data" / "upfall_person_boxes.csv", path, tally,
                             mode=args.mode, cost=cost, detect_every=args.detect_every,
                             **held)  # fmt: skip
            n = max(cost.frames, 1)
            print(f"== {model} on {clips}, mode {args.mode} ({time.perf_counter() - t0:.0f} s)")
            for line in tally.lines():
                print("  " + line)
            print(
                f"  masking {1000 * cost.mask_s / n:.1f} ms/frame (PrivacyMasker.update), "
                f"applying {1000 * cost.apply_s / n:.1f} ms/picture (apply_privacy), "
                f"blurred {100 * cost.cover_sum / n:.1f} % of the picture on average "
                f"({cost.frames} frames)"
            )
            for leak in tally.leaks[:20]:
                print(f"  left sharp: {leak.kind} {leak.where} box {leak.box} "
                      f"correlation {leak.correlation:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
