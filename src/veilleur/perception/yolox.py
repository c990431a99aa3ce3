"""YOLOX (Megvii, Apache-2.0) exported to ONNX without its decode step, run with onnxruntime.

Model I/O (checked on the bundled yolox_nano_416x416.onnx): input `images` float32
[1, 3, S, S], BGR 0..255, no normalisation, letterboxed to the top-left corner with pad 114;
output [1, A, 5 + C] raw per anchor-free cell over strides 8/16/32 (A = Σ (S/s)²):
`x, y, log w, log h, objectness, class scores` (objectness and classes already sigmoid-ed).
Decode: `xy = (p + grid) * stride`, `wh = exp(p) * stride`, `score = obj * cls`.

The network is fully convolutional, so the file's fixed 416×416 input is relaxed at load time
(see `flexible_session`) and each frame is fed at its own aspect ratio: a 4:3 frame becomes
416×320 and a 16:9 one 416×256 instead of a padded square, 23 % and 38 % less work for the same
scale. A crop of the frame (motion regions) can be fed at the full frame's scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from veilleur.perception.onnx_base import OnnxDetector, best_class, letterbox
from veilleur.types import COCO_CLASSES

STRIDES: tuple[int, ...] = (8, 16, 32)
PAD_VALUE = 114


def make_grid(
    size: int | tuple[int, int], strides: Iterable[int] = STRIDES
) -> tuple[np.ndarray, np.ndarray]:
    """Cell coordinates (A, 2) as (col, row) and the stride (A, 1) of every output row, for an
    input of `size` (square side, or (height, width)).

    Rows are ordered stride by stride, then row-major inside a stride, as the export emits them.
    """
    height, width = (size, size) if isinstance(size, int) else size
    grids, expanded = [], []
    for s in strides:
        ny, nx = height // s, width // s
        rows, cols = np.divmod(np.arange(ny * nx), nx)
        grids.append(np.stack([cols, rows], axis=1))
        expanded.append(np.full((ny * nx, 1), s))
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
    # Class scores are sigmoid outputs (≤ 1), so a row's score never exceeds its objectness:
    # rows below `confidence` there are dropped before the (A × C) product, which is most of
    # the decode's cost (a few hundred of the 4,160 rows of a 416×320 input remain at 0.05).
    candidates = np.flatnonzero(raw[:, 4] >= confidence)
    sub = raw[candidates]
    scores = sub[:, 4:5] * sub[:, 5:]
    kept, score, cls = best_class(scores, mask, confidence)
    rows = candidates[kept]
    p = raw[rows]
    s = strides[rows]
    xy = (p[:, 0:2] + grid[rows]) * s
    half = np.exp(p[:, 2:4]) * s / 2.0
    xyxy = np.concatenate([xy - half, xy + half], axis=1).astype(np.float32)
    return xyxy, score, cls


class YoloxDetector(OnnxDetector):
    """YOLOX on onnxruntime or OpenVINO (`runtime`); `detect` returns boxes in the source
    image's pixels."""

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
        aspect_fit: bool = True,
        runtime: str = "onnxruntime",
        precision: str = "auto",
    ) -> None:
        super().__init__(
            path, name=name, input_size=input_size, default_input_size=416,
            confidence=confidence, nms_iou=nms_iou, classes=classes, threads=threads,
            providers=providers, class_names=class_names, probe_shape=(1, 3, 320, 416),
            runtime=runtime, precision=precision,
        )  # fmt: skip
        self.aspect_fit = aspect_fit and self.flexible
        n_out = self.session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != 5 + len(class_names):
            raise ValueError(f"{path}: output has {n_out} columns, expected {5 + len(class_names)}")
        # Grids depend only on the input shape: computed once per shape, not per frame.
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.grid, self.strides = self.grid_for((self.input_size, self.input_size))

    def grid_for(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        grid = self._grids.get(shape)
        if grid is None:
            grid = self._grids[shape] = make_grid(shape)
        return grid

    def input_shape(
        self, image_shape: tuple[int, ...], scale: float | None = None
    ) -> tuple[int, int]:
        """The (height, width) tensor fed for an image: the image at `scale` (default: its long
        side to `input_size`) rounded up to multiples of 32, or the fixed square."""
        h, w = image_shape[:2]
        if not self.aspect_fit and scale is None:
            return self.input_size, self.input_size
        if scale is None:
            scale = self.input_size / max(h, w)
        return (
            max(32, -(-round(h * scale) // 32) * 32),
            max(32, -(-round(w * scale) // 32) * 32),
        )

    def preprocess(self, image: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
        """BGR image → (1, 3, H, W) float32 tensor and the letterbox scale."""
        shape = self.input_shape(image.shape, scale)
        canvas, used, _ = letterbox(image, shape, pad_value=PAD_VALUE)
        tensor = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        return tensor, used

    def raw(self, tensor: np.ndarray) -> np.ndarray:
        """The model's raw output (A, 5 + C) for one preprocessed tensor."""
        out = self.session.run(None, {self.input_name: tensor})[0]
        return np.asarray(out[0], dtype=np.float32)

    def infer(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        grid, strides = self.grid_for((tensor.shape[2], tensor.shape[3]))
        return decode(self.raw(tensor), grid, strides, self.confidence, self.mask)
