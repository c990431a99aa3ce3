"""What the ONNX detectors (YOLOX, NanoDet) share: the inference session (onnxruntime, or
OpenVINO through `openvino_session`) and its threads and providers, the letterbox in and out,
class filtering, scoring and NMS, and `OnnxDetector`, the base class that runs them in order
(prepare → network → decode → back to source pixels → NMS). A backend supplies only its own
preprocessing and output decoding.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from veilleur.perception.nms import batched_nms
from veilleur.perception.openvino_session import OpenVinoSession, runtime_for
from veilleur.types import COCO_CLASSES, Detections

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)


def letterbox(
    image: np.ndarray,
    size: tuple[int, int],
    *,
    pad_value: int = 114,
    center: bool = False,
    interpolation: int = cv2.INTER_LINEAR,
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping the aspect ratio into a `size` = (height, width) canvas.

    Returns the canvas, the scale applied (`min(H/h, W/w)`) and the (x, y) offset of the
    picture inside the canvas (0, 0 unless `center`). A point `p` of the source lands at
    `p * scale + offset`.
    """
    out_h, out_w = size
    h, w = image.shape[:2]
    scale = min(out_h / h, out_w / w)
    new_w = min(out_w, max(1, round(w * scale)))
    new_h = min(out_h, max(1, round(h * scale)))
    resized = (
        image
        if (new_w, new_h) == (w, h)
        else cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    )
    pad_x = (out_w - new_w) // 2 if center else 0
    pad_y = (out_h - new_h) // 2 if center else 0
    canvas = np.full((out_h, out_w, image.shape[2]), pad_value, dtype=image.dtype)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, scale, (pad_x, pad_y)


def unletterbox(
    xyxy: np.ndarray, scale: float, offset: tuple[int, int], image_shape: tuple[int, ...]
) -> np.ndarray:
    """Boxes from canvas pixels back to source pixels, clipped to the source image."""
    h, w = image_shape[:2]
    out = (xyxy - np.array([offset[0], offset[1], offset[0], offset[1]], dtype=np.float32)) / scale
    np.clip(out[:, 0::2], 0.0, w, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0.0, h, out=out[:, 1::2])
    return out.astype(np.float32)


def class_mask(num_classes: int, classes: Iterable[int] | None) -> np.ndarray | None:
    """Boolean mask of the class ids to keep, or None for all."""
    if classes is None:
        return None
    mask = np.zeros(num_classes, dtype=bool)
    ids = np.fromiter((int(c) for c in classes), dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise ValueError(f"class ids must be in 0..{num_classes - 1}, got {sorted(ids.tolist())}")
    mask[ids] = True
    return mask


def best_class(
    scores: np.ndarray, mask: np.ndarray | None, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of an (N, C) score matrix: the best allowed class and its score.

    Returns (row indices whose best score >= confidence, their scores, their class ids).
    """
    if mask is not None:
        scores = np.where(mask[None, :], scores, -np.inf)
    cls = np.argmax(scores, axis=1)
    best = np.take_along_axis(scores, cls[:, None], axis=1)[:, 0]
    rows = np.flatnonzero(best >= confidence)
    return rows, best[rows].astype(np.float32), cls[rows].astype(np.int32)


def finish(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    nms_iou: float,
    max_detections: int = 300,
) -> Detections:
    """Class-wise NMS and packing into `Detections` (best score first)."""
    keep = batched_nms(xyxy, scores, class_ids, nms_iou)[:max_detections]
    return Detections(xyxy=xyxy[keep], confidence=scores[keep], class_id=class_ids[keep])


_PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
}


def select_providers(requested: list[str] | None) -> list[str]:
    """The onnxruntime providers to use: the requested ones that are available, CPU last.

    An unavailable provider is logged and skipped rather than failing, so that a configuration
    written for a GPU host still runs (slowly) on a CPU-only one.
    """
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    wanted = [_PROVIDER_ALIASES.get(p.lower(), p) for p in (requested or ["CPUExecutionProvider"])]
    chosen: list[str] = []
    for p in wanted:
        if p in available:
            if p not in chosen:
                chosen.append(p)
        else:
            log.warning("onnxruntime provider %s is not available here; skipped", p)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def onnx_session(
    path: str | Path | bytes, *, threads: int = 0, providers: list[str] | None = None
) -> ort.InferenceSession:
    """An onnxruntime session with `threads` intra-op threads (0 = onnxruntime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        # Stop idle worker threads from spinning: a video pipeline runs other stages between
        # two inferences, and spinning threads would steal their CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Some exports (the NanoDet ones) list their weights as graph inputs, which makes
    # onnxruntime print one warning per tensor; those warnings say nothing useful to a user.
    options.log_severity_level = 3
    model = path if isinstance(path, bytes) else os.fspath(path)
    return ort.InferenceSession(model, sess_options=options, providers=select_providers(providers))


def _relaxed_model(path: str | Path) -> bytes | None:
    """The model with its input height and width (and its outputs' shapes) made symbolic, so a
    fully convolutional network can run at other sizes; None if `onnx` cannot read it."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        model = onnx.load(os.fspath(path))
    except Exception:
        return None
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        return None
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in model.graph.output:
        for i, d in enumerate(out.type.tensor_type.shape.dim):
            d.dim_param = f"d{i}"
    return bytes(model.SerializeToString())


def openvino_flexible_session(
    path: str | Path, *, threads: int, precision: str, probe_shape: tuple[int, int, int, int]
) -> tuple[OpenVinoSession, bool]:
    """`flexible_session` on OpenVINO: the input's height and width made dynamic, kept only if
    the model really runs at `probe_shape`."""
    try:
        session = OpenVinoSession(path, threads=threads, precision=precision, flexible=True)
        name = session.get_inputs()[0].name
        session.run(None, {name: np.zeros(probe_shape, dtype=np.float32)})
        return session, True
    except (RuntimeError, ValueError):
        pass  # a reshape with constants inside the graph: keep the fixed input
    return OpenVinoSession(path, threads=threads, precision=precision), False


def flexible_session(
    path: str | Path,
    *,
    threads: int = 0,
    providers: list[str] | None = None,
    probe_shape: tuple[int, int, int, int],
) -> tuple[ort.InferenceSession, bool]:
    """A session that accepts any input height and width when the network allows it.

    Returns (session, flexible). The relaxed model is kept only if it really runs at
    `probe_shape`; otherwise the file's own fixed-size session is returned.
    """
    import onnxruntime as ort

    relaxed = _relaxed_model(path)
    if relaxed is not None:
        try:
            session = onnx_session(relaxed, threads=threads, providers=providers)
            name = session.get_inputs()[0].name
            session.run(None, {name: np.zeros(probe_shape, dtype=np.float32)})
            return session, True
        except (ort.capi.onnxruntime_pybind11_state.Fail, RuntimeError, ValueError):
            pass  # a reshape with constants inside the graph: keep the fixed input
    return onnx_session(path, threads=threads, providers=providers), False


def fixed_input_size(session: Any, requested: int | None, default: int) -> int:
    """The square input size to feed: the model's own when fixed, else `requested`/`default`."""
    shape = session.get_inputs()[0].shape
    h, w = shape[2], shape[3]
    if isinstance(h, int) and isinstance(w, int):
        if h != w:
            raise ValueError(f"only square model inputs are supported, got {h}×{w}")
        if requested is not None and requested != h:
            raise ValueError(
                f"this model has a fixed {h}×{w} input; input_size={requested} is not possible"
            )
        return h
    size = requested or default
    if size % 32:
        raise ValueError(f"input_size must be a multiple of 32, got {size}")
    return size


class OnnxDetector(ABC):
    """An ONNX detector: session, input size, class filter and the `detect` sequence.

    `runtime` is `onnxruntime`, `openvino` or `auto` (`openvino_session.runtime_for`);
    `precision` (`auto`, `f32`, `bf16`) applies to OpenVINO only, onnxruntime runs the file's
    fp32. With `probe_shape`, the file's fixed input is relaxed when the network allows it
    (`flexible_session`); `flexible` then says whether that worked. `backend` names what runs
    it (`onnxruntime fp32`, `openvino bf16`), for the user to see.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str,
        input_size: int | None,
        default_input_size: int,
        confidence: float,
        nms_iou: float,
        classes: Iterable[int] | None,
        threads: int,
        providers: list[str] | None,
        class_names: tuple[str, ...] = COCO_CLASSES,
        probe_shape: tuple[int, int, int, int] | None = None,
        runtime: str = "onnxruntime",
        precision: str = "auto",
    ) -> None:
        self.name = name
        self.classes = class_names
        self.confidence = confidence
        self.nms_iou = nms_iou
        self.flexible = False
        self.session: Any
        if runtime_for(runtime, precision) == "openvino":
            if probe_shape is None:
                self.session = OpenVinoSession(path, threads=threads, precision=precision)
            else:
                self.session, self.flexible = openvino_flexible_session(
                    path, threads=threads, precision=precision, probe_shape=probe_shape
                )
            self.backend = f"openvino {self.session.precision}"
        else:
            if probe_shape is None:
                self.session = onnx_session(path, threads=threads, providers=providers)
            else:
                self.session, self.flexible = flexible_session(
                    path, threads=threads, providers=providers, probe_shape=probe_shape
                )
            self.backend = "onnxruntime fp32"
        self.input_name: str = self.session.get_inputs()[0].name
        if self.flexible:
            self.input_size = input_size or default_input_size
            if self.input_size % 32:
                raise ValueError(f"input_size must be a multiple of 32, got {self.input_size}")
        else:
            self.input_size = fixed_input_size(self.session, input_size, default_input_size)
        self.mask = class_mask(len(class_names), classes)

    @abstractmethod
    def preprocess(self, image: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
        """BGR image → the network's input tensor and the letterbox scale applied."""

    @abstractmethod
    def infer(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the network on one tensor: boxes xyxy in input pixels, scores, class ids (the
        rows reaching `confidence` among the allowed classes, before NMS)."""

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections:
        """Detections in `image`'s pixels. `scale` (flexible models only) resizes the image by
        that factor instead of fitting its long side to `input_size`."""
        tensor, used = self.preprocess(image, scale)
        xyxy, score, cls = self.infer(tensor)
        if len(xyxy) == 0:
            return Detections.empty()
        xyxy = unletterbox(xyxy, used, (0, 0), image.shape)
        return finish(xyxy, score, cls, self.nms_iou)
