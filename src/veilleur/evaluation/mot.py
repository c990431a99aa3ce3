"""Detection and tracking accuracy against MOTChallenge-format ground truth.

Used by the integration tests and `bench/`; the track ids compared here are the evaluator's
own, in memory, and are never stored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from veilleur.perception.nms import iou_matrix


def load_mot(path: str | Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """MOT text (frame 1-based, id, x, y, w, h, ...) → {0-based frame: (ids, xyxy boxes)}."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    out: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for r in rows:
        x, y, w, h = r[2:6]
        out[int(r[0]) - 1].append((int(r[1]), np.array([x, y, x + w, y + h], dtype=np.float64)))
    return {
        f: (np.array([i for i, _ in items], dtype=np.int64), np.stack([b for _, b in items]))
        for f, items in out.items()
    }


def match(gt: np.ndarray, pred: np.ndarray, min_iou: float = 0.5) -> list[tuple[int, int]]:
    """Hungarian matching of boxes by IoU; pairs below `min_iou` are not matches."""
    iou = iou_matrix(gt, pred)
    if iou.size == 0:
        return []
    rows, cols = linear_sum_assignment(-iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= min_iou]


@dataclass
class DetectionScore:
    true_positives: int = 0
    false_positives: int = 0
    misses: int = 0

    @property
    def precision(self) -> float:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else 1.0

    @property
    def recall(self) -> float:
        n = self.true_positives + self.misses
        return self.true_positives / n if n else 1.0

    def add(self, gt: np.ndarray, pred: np.ndarray, min_iou: float = 0.5) -> None:
        m = len(match(gt, pred, min_iou))
        self.true_positives += m
        self.false_positives += len(pred) - m
        self.misses += len(gt) - m


class TrackingScore:
    """MOTA, IDF1 and friends through `motmetrics`, accumulated frame by frame."""

    def __init__(self, min_iou: float = 0.5) -> None:
        import motmetrics as mm

        self._mm = mm
        self.max_distance = 1.0 - min_iou
        self.acc = mm.MOTAccumulator(auto_id=True)

    def add(
        self, gt_ids: np.ndarray, gt: np.ndarray, pred_ids: np.ndarray, pred: np.ndarray
    ) -> None:
        dist = 1.0 - iou_matrix(gt, pred)
        dist[dist > self.max_distance] = np.nan
        self.acc.update(list(gt_ids), list(pred_ids), dist)

    def summary(self) -> dict[str, float]:
        mh = self._mm.metrics.create()
        names = [
            "mota",
            "motp",
            "idf1",
            "num_switches",
            "num_false_positives",
            "num_misses",
            "precision",
            "recall",
            "num_frames",
        ]
        df = mh.compute(self.acc, metrics=names, name="all")
        return {k: float(df[k].iloc[0]) for k in names}
