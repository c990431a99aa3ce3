"""NanoDet-m (RangiLyu, Apache-2.0) exported to ONNX without its decode step.

Model I/O (checked with onnxruntime on nanodet_m_320.onnx / nanodet_m_416.onnx): input
`input.1` float32 [1, 3, S, S], BGR, `(x - mean) / std` with mean [103.53, 116.28, 123.675] and
std [57.375, 57.12, 58.395]; outputs `cls_pred_stride_{8,16,32}` [1, N, 80] (already
sigmoid-ed) and `dis_pred_stride_{8,16,32}` [1, N, 32] = 4 sides (left, top, right, bottom)
× 8 bins (GFL "integral" regression): softmax over the bins, expectation of 0..7, times the
stride gives the distance from the cell centre to each side. N = (S/stride)², row-major.

Preprocessing and cell centres were checked on 20 PETS S2L1 frames (person recall / mean IoU
of matched boxes at confidence 0.3, 416 input): letterbox + centres at (i + 0.5) * stride gives
0.957 / 0.745; a plain stretch to S×S 0.931 / 0.727; centres at i * stride 0.44 / 0.62;
centres at i * stride + (stride - 1) / 2 (a common port) 0.931 / 0.739. So: letterbox,
centres at (i + 0.5) * stride.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from veilleur.perception.onnx_base import OnnxDetector, best_class, letterbox
from veilleur.types import COCO_CLASSES

STRIDES: tuple[int, ...] = (8, 16, 32)
REG_MAX = 7
MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)
#: Cell centre = (index + PRIORS_AT) * stride (checked empirically, see the module docstring).
PRIORS_AT = 0.5


def make_centers(size: int, strides: Iterable[int] = STRIDES) -> list[np.ndarray]:
    """Per stride, the (N, 2) x, y centres of the cells in input pixels, row-major."""
    out = []
    for s in strides:
        n = -(-size // s)  # ceil: NanoDet pads odd feature maps up
        rows, cols = np.divmod(np.arange(n * n), n)
        out.append(((np.stack([cols, rows], axis=1) + PRIORS_AT) * s).astype(np.float32))
    return out


def distribution_to_distance(dis: np.ndarray) -> np.ndarray:
    """(N, 4 × (REG_MAX + 1)) logits → (N, 4) expected distances in bins (softmax expectation)."""
    logits = dis.reshape(len(dis), 4, REG_MAX + 1)
    logits = logits - logits.max(axis=2, keepdims=True)  # stable softmax
    prob = np.exp(logits)
    prob /= prob.sum(axis=2, keepdims=True)
    return prob @ np.arange(REG_MAX + 1, dtype=np.float32)


def decode(
    cls_preds: list[np.ndarray],
    dis_preds: list[np.ndarray],
    centers: list[np.ndarray],
    strides: Iterable[int],
    confidence: float,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-stride outputs (N, C) and (N, 32) → boxes xyxy in input pixels, scores, class ids.

    Only cells whose best allowed class score reaches `confidence` are decoded.
    """
    boxes, scores, classes = [], [], []
    for cls, dis, ctr, s in zip(cls_preds, dis_preds, centers, strides, strict=True):
        rows, score, cid = best_class(cls, mask, confidence)
        if rows.size == 0:
            continue
        dist = distribution_to_distance(dis[rows]) * s
        c = ctr[rows]
        boxes.append(np.concatenate([c - dist[:, 0:2], c + dist[:, 2:4]], axis=1))
        scores.append(score)
        classes.append(cid)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores),
        np.concatenate(classes),
    )


class NanoDetDetector(OnnxDetector):
    """NanoDet-m on onnxruntime; `detect` returns boxes in the source image's pixels."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "nanodet-m-416",
        input_size: int | None = None,
        confidence: float = 0.3,
        nms_iou: float = 0.45,
        classes: Iterable[int] | None = None,
        threads: int = 0,
        providers: list[str] | None = None,
        class_names: tuple[str, ...] = COCO_CLASSES,
        runtime: str = "onnxruntime",
        precision: str = "auto",
    ) -> None:
        # The exports' input is fixed (a reshape inside the graph): no relaxed session.
        super().__init__(
            path, name=name, input_size=input_size, default_input_size=416,
            confidence=confidence, nms_iou=nms_iou, classes=classes, threads=threads,
            providers=providers, class_names=class_names, runtime=runtime, precision=precision,
        )  # fmt: skip
        # Outputs are looked up by name so that their order in the file does not matter.
        names = {o.name for o in self.session.get_outputs()}
        self.cls_names = [f"cls_pred_stride_{s}" for s in STRIDES]
        self.dis_names = [f"dis_pred_stride_{s}" for s in STRIDES]
        missing = sorted(set(self.cls_names + self.dis_names) - names)
        if missing:
            raise ValueError(f"{path}: not a NanoDet-m export, missing outputs {missing}")
        self.centers = make_centers(self.input_size)

    def preprocess(self, image: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
        """BGR image → (1, 3, S, S) normalised tensor and the letterbox scale."""
        if scale is not None:
            raise ValueError("NanoDet has a fixed input: it cannot run at another scale")
        size = self.input_size
        # Pad with black (0), as NanoDet's own demos do; it normalises to a constant anyway.
        canvas, used, _ = letterbox(image, (size, size), pad_value=0)
        x = (canvas.astype(np.float32) - MEAN) / STD
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), used

    def raw(self, tensor: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Raw per-stride class scores (N, C) and distance logits (N, 32)."""
        out = self.session.run(self.cls_names + self.dis_names, {self.input_name: tensor})
        k = len(STRIDES)
        return [o[0] for o in out[:k]], [o[0] for o in out[k:]]

    def infer(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cls_preds, dis_preds = self.raw(tensor)
        return decode(cls_preds, dis_preds, self.centers, STRIDES, self.confidence, self.mask)
