"""Counting people on the crowd photos (and on PETS CCTV frames) with `PersonCounter`.

    VEILLEUR_SHARED=../shared VEILLEUR_MODELS_DIR=../shared/models \\
        .venv/bin/python bench/density_count.py [--flip]

Prints, for the 38 photos of `crowd_count_mini_india` (head points), the mean per-photo absolute
relative error (MAPE) and the signed error of the total:

- the old count (YOLOX-nano at 416 px, boxes >= 0.3), for reference;
- `PersonCounter` as shipped (passes at 512, 800 and 1280 px fused, boxes >= 0.225, people cut
  by the top edge counted only when MoveNet sees their head in the picture at >= 0.4: chosen on
  the even photos by bench/density_tune.py, so only the odd photos' figure there is held out),
  and the same without the head check (the counter before);
- its expected-count option (`threshold=None`, the Platt calibration `PLATT_YOLOX_NANO`, which
  was fitted on these same photos: an in-sample figure);
- held-out figures, where every photo is counted with parameters chosen without it: 5-fold
  (photo index mod 5) and even/odd halves, for the Platt calibration (refitted on the other
  folds) and for a plain threshold count (threshold chosen on the other folds);
- the Platt parameters refitted on all photos (what `PLATT_YOLOX_NANO` holds);
- per-photo detail (annotated heads, count) and the cost per photo;
- PETS S2L1 (CCTV, 768x576): people in the whole frame against the ground truth, one frame a
  second over the first 40 s, old count and `PersonCounter`.

A fused box is a person of the annotation when it is matched (Hungarian, one head per box) to a
head point lying in its top part; the calibration learns P(match | fused score).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import scipy.io as sio
from scipy.optimize import linear_sum_assignment, minimize

from veilleur.evaluation.mot import load_mot
from veilleur.perception.density import PLATT_YOLOX_NANO, PersonCounter, fuse_passes, platt
from veilleur.perception.detector import build_detector

SHARED = Path(os.environ.get("VEILLEUR_SHARED", "../shared"))
MODELS = Path(os.environ.get("VEILLEUR_MODELS_DIR", SHARED / "models"))
THRESHOLDS = np.round(np.arange(0.1, 0.61, 0.025), 3)


def photos() -> list[tuple[str, np.ndarray, np.ndarray]]:
    root = SHARED / "data" / "crowd_count_mini_india" / "part_B"
    out = []
    for image in sorted(root.glob("*/images/*.jpg")):
        mat = sio.loadmat(image.parent.parent / "ground-truth" / f"GT_{image.stem}.mat")
        heads = np.asarray(mat["image_info"][0, 0][0, 0][0], dtype=np.float64).reshape(-1, 2)
        picture = cv2.imread(str(image))
        assert picture is not None
        out.append((f"{image.parent.parent.name}/{image.name}", picture, heads))
    return out


def matched(boxes: np.ndarray, scores: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """1 for a box matched to an annotated head in its top part, else 0."""
    if not len(boxes) or not len(heads):
        return np.zeros(len(boxes))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cost = np.full((len(boxes), len(heads)), 1e3)
    for j, (x, y) in enumerate(heads):
        ok = (x >= boxes[:, 0] - 0.1 * w) & (x <= boxes[:, 2] + 0.1 * w)
        ok &= (y >= boxes[:, 1] - 0.15 * h) & (y <= boxes[:, 1] + 0.45 * h)
        near = (
            np.abs(x - (boxes[:, 0] + boxes[:, 2]) / 2) / w + np.abs(y - boxes[:, 1] - 0.12 * h) / h
        )
        cost[ok, j] = near[ok] - scores[ok]
    rows, cols = linear_sum_assignment(cost)
    out = np.zeros(len(boxes))
    out[rows[cost[rows, cols] < 1e3]] = 1
    return out


def fit_platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    p = np.clip(scores, 1e-4, 1 - 1e-4)
    x, sign = np.log(p / (1 - p)), 2 * labels - 1

    def loss(v: np.ndarray) -> float:
        return float(np.logaddexp(0, -sign * (v[0] * x + v[1])).sum())

    a, b = minimize(loss, np.array([1.0, 0.0])).x
    return float(a), float(b)


def errors(counts: np.ndarray, truth: np.ndarray) -> str:
    mape = float(np.mean(np.abs(counts - truth) / truth))
    total = float((counts.sum() - truth.sum()) / truth.sum())
    return f"MAPE {mape:5.1%}, total {total:+6.1%}"


def held_out(
    scores: list[np.ndarray], labels: list[np.ndarray], truth: np.ndarray, folds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of every photo with parameters chosen on the other folds: (Platt, threshold)."""
    by_platt, by_threshold = np.zeros(len(truth)), np.zeros(len(truth))
    counts = {t: np.array([(s >= t).sum() for s in scores]) for t in THRESHOLDS}
    for f in np.unique(folds):
        train, test = folds != f, np.flatnonzero(folds == f)
        a, b = fit_platt(
            np.concatenate([s for s, k in zip(scores, train, strict=True) if k]),
            np.concatenate([lab for lab, k in zip(labels, train, strict=True) if k]),
        )
        for i in test:
            by_platt[i] = platt(scores[i], a, b).sum()
        rel = {
            t: np.mean(np.abs(c[train] - truth[train]) / truth[train]) for t, c in counts.items()
        }
        best = min(THRESHOLDS, key=lambda t: rel[t])
        by_threshold[test] = counts[best][test]
    return by_platt, by_threshold


def pets(counter: PersonCounter, expected: PersonCounter, old: object) -> None:
    root = SHARED / "data" / "pets2009_s2l1"
    video = root / "vtest_PETS2009_S2L1_View001.avi"
    if not video.exists():
        print("PETS S2L1 absent")
        return
    truth = load_mot(root / "gt_mot_format.txt")
    cap = cv2.VideoCapture(str(video))
    rows = []
    index = 0
    while index < 400:
        ok, frame = cap.read()
        if not ok:
            break
        if index % 10 == 0:
            _, boxes = truth.get(index, (None, np.zeros((0, 4))))
            plain = len(old.detect(frame))  # type: ignore[attr-defined]
            found, fused = counter.boxes(frame)
            checked = fused[~counter.headless(frame, found, fused)]
            rows.append(
                (len(boxes), plain, counter.count_fused(checked), expected.count_fused(fused))
            )
        index += 1
    t, plain, ours, exp = np.array(rows, dtype=float).T
    print(
        f"\nPETS S2L1, whole frame, {len(t)} frames (1 a second, first 40 s), truth "
        f"{t.mean():.2f} people on average: MAE old count {np.abs(plain - t).mean():.2f} "
        f"(mean {plain.mean():.2f}), PersonCounter default {np.abs(ours - t).mean():.2f} "
        f"(mean {ours.mean():.2f}), expected {np.abs(exp - t).mean():.2f} (mean {exp.mean():.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flip", action="store_true", help="add mirrored passes")
    args = parser.parse_args()
    model = MODELS / "yolox-nano" / "yolox_nano_416x416.onnx"
    detector = build_detector("yolox-nano", path=model, confidence=0.05, classes=[0], threads=1)
    old = build_detector("yolox-nano", path=model, confidence=0.3, classes=[0], threads=1)
    pose = build_detector("movenet-multipose", confidence=0.05, threads=1, input_size=256)
    counter = PersonCounter(detector, flip=args.flip, heads=pose)  # type: ignore[arg-type]
    expected = PersonCounter(detector, flip=args.flip, threshold=None)  # type: ignore[arg-type]
    data = photos()
    truth = np.array([len(h) for _, _, h in data], dtype=float)
    scores, labels, shipped, calibrated, plain, unchecked = [], [], [], [], [], []
    spent = 0.0
    for _, picture, heads in data:
        start = time.perf_counter()
        boxes, fused = fuse_passes(counter.passes(picture), counter.iou)
        headless = counter.headless(picture, boxes, fused)
        spent += time.perf_counter() - start
        unchecked.append(counter.count_fused(fused))
        shipped.append(counter.count_fused(fused[~headless]))
        # The expected count and its calibration stay on every fused box (as fitted).
        scores.append(fused)
        labels.append(matched(boxes, fused, heads))
        calibrated.append(expected.count_fused(fused))
        plain.append(len(old.detect(picture)))
    print(f"crowd photos: {len(data)} photos, {truth.sum():.0f} annotated heads")
    print(f"  old count (416 px, >= 0.3)            {errors(np.array(plain), truth)}")
    label = f"PersonCounter, default (>= {counter.threshold})"
    print(f"  {label:37s} {errors(np.array(shipped), truth)}")
    label = "  the same without the head check"
    print(f"  {label:37s} {errors(np.array(unchecked), truth)}")
    print(f"  PersonCounter, expected (in-sample)   {errors(np.array(calibrated), truth)}")
    index = np.arange(len(data))
    for name, folds in (("5-fold", index % 5), ("even/odd", index % 2)):
        by_platt, by_threshold = held_out(scores, labels, truth, folds)
        print(f"  held-out {name:8s} Platt expected count {errors(by_platt, truth)}")
        print(f"  held-out {name:8s} threshold count      {errors(by_threshold, truth)}")
    a, b = fit_platt(np.concatenate(scores), np.concatenate(labels))
    print(f"  Platt refitted on all photos: a={a:.2f}, b={b:.2f} (shipped {PLATT_YOLOX_NANO})")
    share = sum(float(lab.sum()) for lab in labels) / truth.sum()
    print(f"  annotated heads matched by a fused box: {share:.1%}")
    print(
        f"  cost: {spent / len(data) * 1000:.0f} ms per 1024x768 photo (passes {counter.sides}, "
        "head check)"
    )
    print("  per photo (heads; default count, error; expected count, error):")
    for (name, _, _), n, c, e in zip(data, truth, shipped, calibrated, strict=True):
        print(f"    {name:24s} {n:3.0f} {c:5.0f} {(c - n) / n:+6.0%} {e:6.1f} {(e - n) / n:+6.0%}")
    pets(counter, expected, old)


if __name__ == "__main__":
    main()
