"""The detector interface, the helpers every backend shares, and `build_detector`.

A detector takes one BGR uint8 image and returns `Detections` in that image's pixels, with
class ids indexing its own `classes` tuple (COCO-80 for every bundled model). Backends:

- `yolox-nano` (ONNX, onnxruntime), see `yolox.py`;
- `nanodet-m-320` / `nanodet-m-416` (`nanodet-m` = 416; ONNX), see `nanodet.py`;
- `movenet-multipose` (TFLite, LiteRT): persons with 17 keypoints, see `movenet.py`.

`yolox` and `nanodet` (without a size) are also accepted with an explicit `path`, for other
exports of the same families (for example a YOLOX-s ONNX with the same output layout).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import cv2
import numpy as np

from veilleur.perception.nms import batched_nms
from veilleur.types import Detections

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)


@runtime_checkable
class Detector(Protocol):
    """Finds objects in one picture."""

    name: str
    """Model name, for example `yolox-nano`; it is reported with every signal."""
    classes: tuple[str, ...]
    """Names of the class ids the detector emits."""

    def detect(self, image: np.ndarray) -> Detections:
        """BGR uint8 H×W×3 → boxes in that image's pixels, class ids into `classes`."""
        ...


# --------------------------------------------------------------------------------------------
# Shared helpers


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


def fixed_input_size(session: ort.InferenceSession, requested: int | None, default: int) -> int:
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


# --------------------------------------------------------------------------------------------
# Factory


def build_detector(
    name: str,
    *,
    path: str | Path | None = None,
    input_size: int | None = None,
    confidence: float = 0.3,
    nms_iou: float = 0.45,
    classes: Iterable[int] | None = None,
    tiles: tuple[int, int] | None = None,
    tile_overlap: float = 0.2,
    threads: int = 0,
    providers: list[str] | None = None,
    tile_full_frame: bool = True,
) -> Detector:
    """Build a detector by model name, resolving its file through the registry.

    `classes` keeps only those class ids (None = all); `tiles=(cols, rows)` wraps the detector
    in a `TiledDetector` (the tiles, plus the full frame unless `tile_full_frame` is False:
    one inference saved, large objects can then be split); `threads` sets the inference threads
    (0 = the runtime's default); `providers` lists onnxruntime execution providers
    (default CPU; unavailable ones are skipped with a warning).
    """
    from veilleur.perception import registry

    key = name.strip().lower()
    if key == "nanodet-m":
        key = "nanodet-m-416"
    family = key.split("-")[0]
    if key in registry.MODELS:
        model_path = registry.resolve(key, path).path
    elif family in ("yolox", "nanodet") and path is not None:
        model_path = Path(path)  # another export of a supported family, outside the registry
    else:
        known = ", ".join([*registry.MODELS, "nanodet-m"])
        raise ValueError(
            f"unknown detector {name!r}; known: {known} "
            "(or 'yolox'/'nanodet' with an explicit path to another export)"
        )

    detector: Detector
    if family == "yolox":
        from veilleur.perception.yolox import YoloxDetector

        detector = YoloxDetector(
            model_path, name=key, input_size=input_size, confidence=confidence,
            nms_iou=nms_iou, classes=classes, threads=threads, providers=providers,
        )  # fmt: skip
    elif family == "nanodet":
        from veilleur.perception.nanodet import NanoDetDetector

        detector = NanoDetDetector(
            model_path, name=key, input_size=input_size, confidence=confidence,
            nms_iou=nms_iou, classes=classes, threads=threads, providers=providers,
        )  # fmt: skip
    elif family == "movenet":
        from veilleur.perception.movenet import MoveNetDetector

        if classes is not None and set(classes) - {0}:
            raise ValueError("movenet-multipose only finds persons (class 0)")
        detector = MoveNetDetector(
            model_path, name=key, input_size=input_size or 256, confidence=confidence,
            nms_iou=nms_iou, threads=threads,
        )  # fmt: skip
    else:  # pragma: no cover - the registry only holds the families above
        raise ValueError(f"no backend for {name!r}")

    if tiles is not None:
        from veilleur.perception.tiling import TiledDetector

        detector = TiledDetector(
            detector, tiles=tiles, overlap=tile_overlap, include_full_frame=tile_full_frame,
            nms_iou=nms_iou,
        )  # fmt: skip
    return detector
