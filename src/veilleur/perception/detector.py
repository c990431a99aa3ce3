"""The detector interface: `Detector`, what a pipeline asks for (`DetectorSpec`), and the
`DetectorFactory` that turns one into the other.

A detector takes one BGR uint8 image and returns `Detections` in that image's pixels, with
class ids indexing its own `classes` tuple (COCO-80 for every bundled model). Backends:

- `yolox-nano` (ONNX, on onnxruntime or OpenVINO), see `yolox.py`;
- `nanodet-m-320` / `nanodet-m-416` (`nanodet-m` = 416; ONNX, either runtime), see `nanodet.py`;
- `movenet-multipose` (TFLite, LiteRT): persons with 17 keypoints, see `movenet.py`.

The ONNX backends share `onnx_base.py`; `factory.py` builds local detectors from a spec (the
default factory); `tiling.py` wraps any `Detector`. This module imports none of them, so that
every backend can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeGuard, runtime_checkable

import numpy as np

from veilleur.types import Detections


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


class ScalableDetector(Detector, Protocol):
    """A detector that also runs on a crop seen at another picture's scale (YOLOX with a
    relaxed input): the pipeline re-detects only around motion with it."""

    flexible: bool
    input_size: int
    """Long side, in pixels, a whole picture is fed at."""

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections:
        """`scale` resizes `image` by that factor instead of fitting it to `input_size`."""
        ...


def is_scalable(detector: Detector) -> TypeGuard[ScalableDetector]:
    """Whether `detector` says it can run on a crop at a given scale (`flexible`)."""
    # An attribute probe rather than isinstance: a detector need not declare every optional
    # attribute of the protocol, only the ones it has.
    return bool(getattr(detector, "flexible", False))


def gives_pose(detector: Detector) -> bool:
    """Whether `detector`'s persons come with keypoints (no separate pose model needed)."""
    return bool(getattr(detector, "gives_pose", False))


Purpose = Literal["detection", "pose"]


@dataclass(frozen=True)
class DetectorSpec:
    """Everything needed to build one detector; frozen and hashable, so that a detector pool
    can build each distinct spec once and a spec can travel between processes."""

    name: str
    """A registry model name or alias (`registry.canonical_name`), or `yolox`/`nanodet` with
    an explicit `path` to another export of that family."""
    path: str | Path | None = None
    """The model file (or a folder holding it); None resolves it through the registry."""
    input_size: int | None = None
    """Long side fed to the network; None: the model's default."""
    confidence: float = 0.3
    nms_iou: float = 0.45
    classes: tuple[int, ...] | None = None
    """Class ids to keep (None = all); filtering happens before NMS."""
    tiles: tuple[int, int] | None = None
    """(columns, rows): wrap the detector in a `TiledDetector`."""
    tile_overlap: float = 0.2
    tile_full_frame: bool = True
    """Run the full frame as well as the tiles (one more inference; large objects stay whole)."""
    threads: int = 0
    """Inference threads (0 = the runtime's default)."""
    providers: tuple[str, ...] | None = None
    """onnxruntime execution providers (default CPU; unavailable ones are skipped)."""
    runtime: str = "auto"
    """What runs an ONNX model: `onnxruntime`, `openvino`, or `auto` (OpenVINO when it is
    installed and runs bf16, else onnxruntime; `openvino_session.runtime_for`). MoveNet runs
    on LiteRT."""
    precision: str = "auto"
    """OpenVINO's inference precision: `f32`, `bf16`, or `auto` (bf16 where the CPU computes
    it natively). onnxruntime runs the file's fp32."""
    purpose: Purpose = "detection"
    """What the pipeline uses it for: its person/vehicle detector, or its pose model. A
    factory may serve them differently (the runtime pools detection, not pose)."""


class DetectorFactory(Protocol):
    """Builds the detector a spec describes. The default one builds it in this process
    (`perception.factory.build_local`); the runtime passes one that returns pooled detectors."""

    def __call__(self, spec: DetectorSpec, /) -> Detector: ...
