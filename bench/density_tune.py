"""Tuning `PersonCounter` on half of the crowd photos, judged on the other half.

    VEILLEUR_SHARED=../shared VEILLEUR_MODELS_DIR=../shared/models \\
        .venv/bin/python bench/density_tune.py

The 38 photos of `crowd_count_mini_india` (sorted by path, as in bench/density_count.py) are
split once and for all: even indexes are the tuning half, odd indexes are held aside and only
ever scored. YOLOX-nano is run once per photo at every long side below (boxes from 0.05; "u":
the 1024 px photo enlarged to that side) and its boxes are cached in out/density_passes_v2.npz;
then every combination of one to three passes, fusion overlap and count threshold is scored on
the tuning half (mean absolute relative error per photo, MAPE). The best are printed with their
held-aside and all-photo MAPE, then the shipped `PersonCounter` on both halves, and both on PETS
S2L1 (CCTV: the whole frame, one frame a second over the first 40 s, against its ground truth).
Mirrored passes were tried too (PersonCounter's `flip`) and never helped: left out.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from density_count import photos

from veilleur.evaluation.mot import load_mot
from veilleur.perception.density import PersonCounter, fuse_passes
from veilleur.perception.factory import build_detector

SHARED = Path(os.environ.get("VEILLEUR_SHARED", "../shared"))
MODELS = Path(os.environ.get("VEILLEUR_MODELS_DIR", SHARED / "models"))
CACHE = Path("out/density_passes_v2.npz")
SIDES = ("416", "512", "640", "800", "1024", "1280u", "1536u")
IOUS = (0.4, 0.45, 0.5, 0.55)
THRESHOLDS = np.round(np.arange(0.15, 0.5, 0.025), 3)


def mape(counts: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.abs(counts - truth) / truth))


def detector() -> object:
    model = MODELS / "yolox-nano" / "yolox_nano_416x416.onnx"
    return build_detector("yolox-nano", path=model, confidence=0.05, classes=[0], threads=1)


def raw_passes(data: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """{f"{photo}/{side}/boxes|scores": array} for every photo and side."""
    if CACHE.exists():
        return dict(np.load(CACHE))
    det = detector()
    out: dict[str, np.ndarray] = {}
    for i, (_, picture, _) in enumerate(data):
        for side in SIDES:
            counter = PersonCounter(
                det,  # type: ignore[arg-type]
                sides=(int(side.rstrip("u")),),
                upscale=side.endswith("u"),
            )
            [(boxes, scores)] = counter.passes(picture)
            out[f"{i}/{side}/boxes"], out[f"{i}/{side}/scores"] = boxes, scores
        print(f"  passes of photo {i + 1}/{len(data)}", file=sys.stderr)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(CACHE, **out)  # type: ignore[arg-type]
    return out


def fused(cache: dict[str, np.ndarray], i: int, sides: tuple[str, ...], iou: float) -> np.ndarray:
    return fuse_passes([(cache[f"{i}/{s}/boxes"], cache[f"{i}/{s}/scores"]) for s in sides], iou)[1]


def pets(counters: dict[str, PersonCounter]) -> None:
    root = SHARED / "data" / "pets2009_s2l1"
    truth = load_mot(root / "gt_mot_format.txt")
    cap = cv2.VideoCapture(str(root / "vtest_PETS2009_S2L1_View001.avi"))
    rows: list[list[float]] = []
    for index in range(400):
        ok, frame = cap.read()
        if not ok:
            break
        if index % 10 == 0:
            _, boxes = truth.get(index, (None, np.zeros((0, 4))))
            rows.append([len(boxes)] + [c.count(frame) for c in counters.values()])
    t, *counts = np.array(rows, dtype=float).T
    print(f"PETS S2L1, {len(t)} frames, truth {t.mean():.2f} people on average:")
    for name, c in zip(counters, counts, strict=True):
        print(f"  {name}: MAE {np.abs(c - t).mean():.2f} (mean count {c.mean():.2f})")


def main() -> None:
    data = photos()
    truth = np.array([len(h) for _, _, h in data], dtype=float)
    index = np.arange(len(data))
    tune, aside = index % 2 == 0, index % 2 == 1
    cache = raw_passes(data)
    results = []
    for k in (1, 2, 3):
        for sides in itertools.combinations(SIDES, k):
            for iou in IOUS:
                scores = [fused(cache, i, sides, iou) for i in index]
                for t in THRESHOLDS:
                    c = np.array([(f >= t).sum() for f in scores], dtype=float)
                    judged = (mape(c[tune], truth[tune]), mape(c[aside], truth[aside]))
                    results.append((*judged, mape(c, truth), sides, iou, float(t)))
    results.sort(key=lambda r: r[0])
    print(f"{len(results)} settings scored on the tuning half ({tune.sum()} photos)")
    print("  tuning   held aside   all    sides, iou, threshold")
    for r in results[:10]:
        print(f"  {r[0]:6.1%}   {r[1]:6.1%}     {r[2]:6.1%}  {r[3]}, {r[4]}, {r[5]}")
    old = np.array([(fused(cache, i, ("640", "1024"), 0.45) >= 0.3).sum() for i in index], float)
    print(
        f"before (640+1024, iou 0.45, >= 0.3): tuning {mape(old[tune], truth[tune]):.1%}, "
        f"held aside {mape(old[aside], truth[aside]):.1%}, all {mape(old, truth):.1%}"
    )
    det = detector()
    pets(
        {
            "before (640+1024, 0.45, >= 0.3)": PersonCounter(
                det,  # type: ignore[arg-type]
                sides=(640, 1024),
                iou=0.45,
                threshold=0.3,
                upscale=False,
            ),
            "shipped PersonCounter()": PersonCounter(det),  # type: ignore[arg-type]
        }
    )


if __name__ == "__main__":
    main()
