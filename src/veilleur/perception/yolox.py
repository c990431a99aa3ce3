"""YOLOX (Megvii, Apache-2.0) exported to ONNX without its decode step, run with onnxruntime.

Model I/O (checked on the bundled yolox_nano_416x416.onnx): input `images` float32
[1, 3, S, S], BGR 0..255, no normalisation, letterboxed to the top-left corner with pad 114;
output [1, A, 5 + C] raw per anchor-free cell over strides 8/16/32 (A = Σ (S/s)²):
`x, y, log w, log h, objectness, class scores` (objectness and classes already sigmoid-ed).
Decode: `xy = (p + grid) * stride`, `wh = exp(p) * stride`, `score = obj * cls`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from veilleur.perception.detector import (
    best_class,
    class_mask,
    finish,
    fixed_input_size,
    letterbox,
    onnx_session,
    unletterbox,
)
from veilleur.types import COCO_CLASSES, Detections

STRIDES: tuple[int, ...] = (8, 16, 32)
PAD_VALUE = 114


def make_grid(size: int, strides: Iterable[int] = STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Cell coordinates (A, 2) as (col, row) and the stride (A, 1) of every output row.

    Rows are ordered stride by stride, then row-major inside a stride, as the export emits them.
    """
    grids, expanded = [], []
    for s in strides:
        n = size // s
        rows, cols = np.divmod(np.arange(n * n), n)
        grids.append(np.stack([cols, rows], axis=1))
        expanded.append(np.full((n * n, 1), s))
    return (
        np.concatenate(grids).astype(np.float32),
        np.concatenate(expanded).astype(np.float32),
    )


def decode(
    raw: np.ndarray,
    grid: np.ndarray,
    strides: np.ndarray,
    confidence: float,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw output (A, 5 + C) → boxes xyxy in input pixels, scores, class ids (before NMS).

    Only rows whose best allowed class score reaches `confidence` are decoded.
    """
    scores = raw[:, 4:5] * raw[:, 5:]
    rows, score, cls = best_class(scores, mask, confidence)
    p = raw[rows]
    s = strides[rows]
    xy = (p[:, 0:2] + grid[rows]) * s
    half = np.exp(p[:, 2:4]) * s / 2.0
    xyxy = np.concatenate([xy - half, xy + half], axis=1).astype(np.float32)
    return xyxy, score, cls


class YoloxDetector:
    """YOLOX on onnxruntime; `detect` returns boxes in the source image's pixels."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "yolox-nano",
        input_size: int | None = None,
        confidence: float = 0.3,
        nms_iou: float = 0.45,
        classes: Iterable[int] | None = None,
        threads: int = 0,
        providers: list[str] | None = None,
        class_names: tuple[str, ...] = COCO_CLASSES,
    ) -> None:
        self.name = name
        self.classes = class_names
        self.confidence = confidence
        self.nms_iou = nms_iou
        self.session = onnx_session(path, threads=threads, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.input_size = fixed_input_size(self.session, input_size, 416)
        n_out = self.session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != 5 + len(class_names):
            raise ValueError(f"{path}: output has {n_out} columns, expected {5 + len(class_names)}")
        self.mask = class_mask(len(class_names), classes)
        # The grid depends only on the input size: computed once, not per frame.
        self.grid, self.strides = make_grid(self.input_size)

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """BGR image → (1, 3, S, S) float32 tensor and the letterbox scale."""
        canvas, scale, _ = letterbox(image, (self.input_size, self.input_size), pad_value=PAD_VALUE)
        tensor = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        return tensor, scale

    def raw(self, tensor: np.ndarray) -> np.ndarray:
        """The model's raw output (A, 5 + C) for one preprocessed tensor."""
        out = self.session.run(None, {self.input_name: tensor})[0]
        return np.asarray(out[0], dtype=np.float32)

    def detect(self, image: np.ndarray) -> Detections:
        tensor, scale = self.preprocess(image)
        xyxy, score, cls = decode(
            self.raw(tensor), self.grid, self.strides, self.confidence, self.mask
        )
        if len(xyxy) == 0:
            return Detections.empty()
        xyxy = unletterbox(xyxy, scale, (0, 0), image.shape)
        return finish(xyxy, score, cls, self.nms_iou)
