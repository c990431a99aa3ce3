"""The default `DetectorFactory`: builds a detector in this process from a `DetectorSpec`.

The file is found through the registry (`registry.detector_file`), the backend is chosen by
the model's family, and `tiles` wraps it in a `TiledDetector`. `build_detector` is the same
with keyword arguments, for scripts and tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from veilleur.perception import registry
from veilleur.perception.detector import Detector, DetectorSpec, Purpose
from veilleur.perception.movenet import MoveNetDetector
from veilleur.perception.nanodet import NanoDetDetector
from veilleur.perception.tiling import TiledDetector
from veilleur.perception.yolox import YoloxDetector


def build_local(spec: DetectorSpec) -> Detector:
    """Build the detector `spec` describes, here (onnxruntime or OpenVINO, or LiteRT)."""
    key, model_path = registry.detector_file(spec.name, spec.path)
    family = registry.family(key)
    providers = list(spec.providers) if spec.providers is not None else None
    detector: Detector
    if family == "yolox":
        detector = YoloxDetector(
            model_path, name=key, input_size=spec.input_size, confidence=spec.confidence,
            nms_iou=spec.nms_iou, classes=spec.classes, threads=spec.threads,
            providers=providers, runtime=spec.runtime, precision=spec.precision,
        )  # fmt: skip
    elif family == "nanodet":
        detector = NanoDetDetector(
            model_path, name=key, input_size=spec.input_size, confidence=spec.confidence,
            nms_iou=spec.nms_iou, classes=spec.classes, threads=spec.threads,
            providers=providers, runtime=spec.runtime, precision=spec.precision,
        )  # fmt: skip
    elif family == "movenet":
        if spec.classes is not None and set(spec.classes) - {0}:
            raise ValueError("movenet-multipose only finds persons (class 0)")
        detector = MoveNetDetector(
            model_path, name=key, input_size=spec.input_size or 256,
            confidence=spec.confidence, nms_iou=spec.nms_iou, threads=spec.threads,
        )  # fmt: skip
    else:  # pragma: no cover - the registry only holds the families above
        raise ValueError(f"no backend for {spec.name!r}")

    if spec.tiles is not None:
        detector = TiledDetector(
            detector, tiles=spec.tiles, overlap=spec.tile_overlap,
            include_full_frame=spec.tile_full_frame, nms_iou=spec.nms_iou,
        )  # fmt: skip
    return detector


def detector_spec(
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
    providers: Iterable[str] | None = None,
    tile_full_frame: bool = True,
    purpose: Purpose = "detection",
    runtime: str = "auto",
    precision: str = "auto",
) -> DetectorSpec:
    """A `DetectorSpec` from keyword arguments, with lists made into (hashable) tuples."""
    return DetectorSpec(
        name=name, path=path, input_size=input_size, confidence=confidence, nms_iou=nms_iou,
        classes=None if classes is None else tuple(int(c) for c in classes),
        tiles=None if tiles is None else (int(tiles[0]), int(tiles[1])),
        tile_overlap=tile_overlap, tile_full_frame=tile_full_frame, threads=threads,
        providers=None if providers is None else tuple(providers), purpose=purpose,
        runtime=runtime, precision=precision,
    )  # fmt: skip


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
    runtime: str = "auto",
    precision: str = "auto",
) -> Detector:
    """Build a detector by model name, here, resolving its file through the registry.

    `classes` keeps only those class ids (None = all); `tiles=(cols, rows)` wraps the detector
    in a `TiledDetector` (the tiles, plus the full frame unless `tile_full_frame` is False:
    one inference saved, large objects can then be split); `threads` sets the inference threads
    (0 = the runtime's default); `providers` lists onnxruntime execution providers
    (default CPU; unavailable ones are skipped with a warning); `runtime` (`auto`,
    `onnxruntime`, `openvino`) and `precision` (`auto`, `f32`, `bf16`; OpenVINO only) choose
    what runs an ONNX model.
    """
    spec = detector_spec(
        name, path=path, input_size=input_size, confidence=confidence, nms_iou=nms_iou,
        classes=classes, tiles=tiles, tile_overlap=tile_overlap, threads=threads,
        providers=providers, tile_full_frame=tile_full_frame, runtime=runtime,
        precision=precision,
    )  # fmt: skip
    return build_local(spec)
