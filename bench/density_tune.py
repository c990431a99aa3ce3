"""Tuning `PersonCounter` on half of the crowd photos, judged on the other half.

    VEILLEUR_SHARED=../shared VEILLEUR_MODELS_DIR=../shared/models \\
        .venv/bin/python bench/density_tune.py

The 38 photos of `crowd_count_mini_india` (sorted by path, as in bench/density_count.py) are
split once and for all: even indexes are the tuning half, odd indexes are held aside and only
ever scored. YOLOX-nano is run once per photo at every long side below (boxes from 0.05; "u":
the 1024 px photo enlarged to that side) and its boxes are cached in out/density_passes_v2.npz;
then every combination of one to three passes, fusion overlap, count threshold and rule for the
people cut by the top edge of the picture is scored on the tuning half (mean absolute relative
error per photo, MAPE). The rules: count them (the earlier counter), drop them, or count them
when MoveNet sees a head inside the picture at some score (`head_in_view`; its scores are
computed once per box and cached in out/density_heads_v1.npz). The best are printed with their
held-aside and all-photo MAPE (and, for information only, the MAPE without the two photos whose
annotation leaves out visible people: train IMG_3 and IMG_22), then the shipped `PersonCounter`
on both halves, and the counters on PETS S2L1 (CCTV: the whole frame, one frame a second over the
first 40 s, against its ground truth).

Where several head scores tie on the tuning half for the best setting, the middle of the tied
range is taken (a rule fixed before looking at the held-aside half).
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
from veilleur.perception.density import PersonCounter, cut_by_top, fuse_passes, head_in_view
from veilleur.perception.detector import Detector, build_detector

SHARED = Path(os.environ.get("VEILLEUR_SHARED", "../shared"))
MODELS = Path(os.environ.get("VEILLEUR_MODELS_DIR", SHARED / "models"))
CACHE = Path("out/density_passes_v2.npz")
HEADS = Path("out/density_heads_v1.npz")
SIDES = ("416", "512", "640", "800", "1024", "1280u", "1536u")
IOUS = (0.4, 0.45, 0.5, 0.55)
THRESHOLDS = np.round(np.arange(0.15, 0.5, 0.025), 3)
#: Rules for people cut by the top edge: count (1.0: every head score passes), drop (inf), or
#: count when a head keypoint inside the picture scores at least this.
HEAD_SCORES = (0.0, *np.round(np.arange(0.1, 0.55, 0.05), 2).tolist(), float("inf"))
#: Photos whose annotation leaves out people in view (7 and 8 heads for 17 and 14 people):
#: reported apart for information, never left out of the official figures.
INCOMPLETE = ("train_data/IMG_3.jpg", "train_data/IMG_22.jpg")


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


def pose() -> Detector:
    return build_detector("movenet-multipose", confidence=0.05, threads=1, input_size=256)


class HeadScores:
    """`head_in_view` of the boxes cut by the top edge, computed once per box and cached."""

    def __init__(self, data: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
        self.data = data
        self.known: dict[str, float] = (
            {k: float(v) for k, v in np.load(HEADS).items()} if HEADS.exists() else {}
        )
        self.model: Detector | None = None
        self.added = 0

    def of(self, i: int, boxes: np.ndarray) -> np.ndarray:
        """Head score per box of photo i (inf for a box not cut by the top: it always counts)."""
        picture = self.data[i][1]
        out = np.full(len(boxes), np.inf)
        for j in np.flatnonzero(cut_by_top(boxes, picture.shape[0])):
            key = f"{i}/" + ",".join(f"{v:.1f}" for v in boxes[j])
            if key not in self.known:
                self.model = self.model or pose()
                self.known[key] = head_in_view(self.model, picture, boxes[j])  # type: ignore[arg-type]
                self.added += 1
            out[j] = self.known[key]
        return out

    def save(self) -> None:
        if self.added:
            np.savez_compressed(HEADS, **{k: np.array(v) for k, v in self.known.items()})  # type: ignore[arg-type]


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
    complete = np.array([name not in INCOMPLETE for name, _, _ in data])
    cache = raw_passes(data)
    heads = HeadScores(data)
    results = []
    for k in (1, 2, 3):
        for sides in itertools.combinations(SIDES, k):
            for iou in IOUS:
                fusions = [
                    fuse_passes(
                        [(cache[f"{i}/{s}/boxes"], cache[f"{i}/{s}/scores"]) for s in sides], iou
                    )
                    for i in index
                ]
                seen = [heads.of(i, boxes) for i, (boxes, _) in enumerate(fusions)]
                for t in THRESHOLDS:
                    for h in HEAD_SCORES:
                        c = np.array(
                            [
                                ((f >= t) & (v >= h)).sum()
                                for (_, f), v in zip(fusions, seen, strict=True)
                            ],
                            dtype=float,
                        )
                        judged = (mape(c[tune], truth[tune]), mape(c[aside], truth[aside]))
                        extra = (mape(c, truth), mape(c[complete], truth[complete]))
                        results.append((*judged, *extra, sides, iou, float(t), h))
    heads.save()
    results.sort(key=lambda r: r[0])
    print(f"{len(results)} settings scored on the tuning half ({tune.sum()} photos)")
    print("  tuning   held aside   all   (all but 2)  sides, iou, threshold, head score")
    for r in results[:12]:
        print(
            f"  {r[0]:6.1%}   {r[1]:6.1%}     {r[2]:6.1%}  ({r[3]:5.1%})  "
            f"{r[4]}, {r[5]}, {r[6]}, {r[7]}"
        )
    best = results[0]
    tied = [r[7] for r in results if r[4:7] == best[4:7] and r[0] == best[0]]
    print(f"head scores tied with the best: {tied}; middle: {tied[len(tied) // 2]}")
    for name, sides, iou, t, h in (
        ("before (640+1024, iou 0.45, >= 0.3)", ("640", "1024"), 0.45, 0.3, 0.0),
        ("previous (512+800+1280u, 0.4, >= 0.225)", ("512", "800", "1280u"), 0.4, 0.225, 0.0),
    ):
        c = np.array(
            [
                ((f >= t) & (heads.of(i, b) >= h)).sum()
                for i, (b, f) in enumerate(
                    fuse_passes(
                        [(cache[f"{i}/{s}/boxes"], cache[f"{i}/{s}/scores"]) for s in sides], iou
                    )
                    for i in index
                )
            ],
            dtype=float,
        )
        print(
            f"{name}: tuning {mape(c[tune], truth[tune]):.1%}, held aside "
            f"{mape(c[aside], truth[aside]):.1%}, all {mape(c, truth):.1%} "
            f"(all but 2: {mape(c[complete], truth[complete]):.1%})"
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
            "previous (512+800+1280u, no head check)": PersonCounter(det),  # type: ignore[arg-type]
            "shipped PersonCounter(heads=MoveNet)": PersonCounter(
                det,  # type: ignore[arg-type]
                heads=pose(),  # type: ignore[arg-type]
            ),
        }
    )


if __name__ == "__main__":
    main()
