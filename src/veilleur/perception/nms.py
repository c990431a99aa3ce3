"""Box geometry shared by the detectors: IoU and (class-wise) non-maximum suppression.

Plain numpy so that every decoder and the tiler merge boxes the same way, and so the behaviour
can be tested without a model.
"""

from __future__ import annotations

import numpy as np


def box_area(xyxy: np.ndarray) -> np.ndarray:
    """Areas of `x1, y1, x2, y2` boxes (degenerate boxes count as 0)."""
    wh = np.clip(xyxy[..., 2:4] - xyxy[..., 0:2], 0.0, None)
    return wh[..., 0] * wh[..., 1]


def intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas, shape (len(a), len(b))."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    wh = np.clip(rb - lt, 0.0, None)
    return wh[..., 0] * wh[..., 1]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU between two sets of `x1, y1, x2, y2` boxes, shape (len(a), len(b))."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0.0, inter / np.maximum(union, 1e-12), 0.0)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: indices of the kept boxes, best score first.

    A box is dropped when its IoU with an already kept, better box exceeds `iou_threshold`.
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    if len(order) <= 1:
        return order.astype(np.int64)
    areas = box_area(boxes)
    keep: list[int] = []
    # The loop runs once per kept box (a few dozen at most); the IoU row is vectorised.
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        wh = np.clip(rb - lt, 0.0, None)
        inter = wh[:, 0] * wh[:, 1]
        union = areas[i] + areas[rest] - inter
        iou = np.where(union > 0.0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Class-wise NMS: boxes of different classes never suppress each other.

    Uses the usual offset trick (each class is moved to its own far-away region of the plane)
    so that one greedy pass handles every class at once.
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(boxes.max() - min(boxes.min(), 0.0)) + 1.0
    offsets = np.asarray(class_ids, dtype=np.float64).reshape(-1, 1) * span
    return nms(boxes + offsets, scores, iou_threshold)
