"""Plain data that flows between the stages: frames, detections, signals.

Nothing here knows about processes, databases or the web; every stage of the core takes and
returns these values so that it can be tested with arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: COCO-80 class names, in the order the bundled detectors emit them.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

PERSON = 0
#: COCO classes that count as a vehicle for the geometric situations.
VEHICLE_CLASSES: frozenset[int] = frozenset({1, 2, 3, 5, 7})  # bicycle, car, motorcycle, bus, truck


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture with the time the stream gave it."""

    image: np.ndarray
    """H×W×3 uint8, BGR (OpenCV order)."""
    t: float
    """Seconds from the start of the source, taken from the stream's timestamps."""
    index: int
    """Index of this picture among all pictures the source decoded (0-based)."""

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def _empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


@dataclass(slots=True)
class Detections:
    """Boxes found in one frame, as a struct of arrays (the `supervision` layout).

    Boxes are in pixels of the frame they were found in, `x1, y1, x2, y2`.
    `track_id` is -1 until a tracker assigns one; ids live only in one camera's memory.
    `keypoints`, when present, holds 17 COCO keypoints per box as `x, y, score` in pixels.
    """

    xyxy: np.ndarray = field(default_factory=lambda: _empty((0, 4), np.float32))
    confidence: np.ndarray = field(default_factory=lambda: _empty((0,), np.float32))
    class_id: np.ndarray = field(default_factory=lambda: _empty((0,), np.int32))
    track_id: np.ndarray | None = None
    keypoints: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(n)
        self.class_id = np.asarray(self.class_id, dtype=np.int32).reshape(n)
        if self.track_id is None:
            self.track_id = np.full(n, -1, dtype=np.int64)
        else:
            self.track_id = np.asarray(self.track_id, dtype=np.int64).reshape(n)
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float32).reshape(n, 17, 3)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        assert self.track_id is not None
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            track_id=self.track_id[index],
            keypoints=None if self.keypoints is None else self.keypoints[index],
        )

    @classmethod
    def empty(cls) -> Detections:
        return cls()

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls()
        with_kp = all(p.keypoints is not None for p in parts)
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            track_id=np.concatenate([p.track_id for p in parts if p.track_id is not None]),
            keypoints=np.concatenate([p.keypoints for p in parts if p.keypoints is not None])
            if with_kp
            else None,
        )

    def of_classes(self, classes: frozenset[int] | set[int]) -> Detections:
        return self[np.isin(self.class_id, list(classes))]

    def scaled(self, sx: float, sy: float) -> Detections:
        """The same detections in a frame resized by `sx`, `sy`."""
        kp = None
        if self.keypoints is not None:
            kp = self.keypoints.copy()
            kp[..., 0] *= sx
            kp[..., 1] *= sy
        return Detections(
            xyxy=self.xyxy * np.array([sx, sy, sx, sy], dtype=np.float32),
            confidence=self.confidence,
            class_id=self.class_id,
            track_id=self.track_id,
            keypoints=kp,
        )


BBox = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Signal:
    """An attention signal: a situation in a camera, never a person (SPEC S3).

    It carries what, where and when, how sure, and which model and configuration produced it.
    No track id, no appearance, nothing about who.
    """

    situation: str
    camera: str
    zone: str | None
    start_s: float
    """When the situation began (for example when the first person entered the zone)."""
    end_s: float
    """When the signal was raised (the situation has lasted its minimum duration by then)."""
    frame: int
    """Index of the source frame on which the signal was raised."""
    bbox: BBox
    """Where in the image, x1, y1, x2, y2 in 0..1 image coordinates."""
    confidence: float
    model: str
    config_version: str
    episode: str = ""
    """Key of the episode this signal opens, unique in its camera's run (`situation:frame:n`):
    further events of the same situation and zone within its cool-down refer to it
    (`FurtherEvent.episode`). It names an episode, never an object or a person."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "situation": self.situation,
            "camera": self.camera,
            "zone": self.zone,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "frame": self.frame,
            "bbox": [round(float(v), 4) for v in self.bbox],
            "confidence": round(float(self.confidence), 4),
            "model": self.model,
            "config_version": self.config_version,
            "episode": self.episode,
        }


@dataclass(frozen=True, slots=True)
class FurtherEvent:
    """Another occurrence of a situation already signalled, during the signal's cool-down.

    A signal stands for an episode: while its zone cools down, no new signal is raised (the
    operator is already looking), but what happens meanwhile (another person entering the zone,
    another person walking the wrong way, a new onset after the situation had ended) is not
    dropped: it is attached to the signal's episode, which shows a count and the times of its
    further events. Like a signal it says what, where and when, never who (SPEC S3).
    """

    situation: str
    camera: str
    zone: str | None
    episode: str
    """`Signal.episode` of the signal this event is attached to."""
    start_s: float
    """When the further event began (same meaning as `Signal.start_s`)."""
    end_s: float
    """When it was recognised: the moment a signal would have been raised without the
    cool-down."""
    frame: int
    bbox: BBox
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "further_event",
            "situation": self.situation,
            "camera": self.camera,
            "zone": self.zone,
            "episode": self.episode,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "frame": self.frame,
            "bbox": [round(float(v), 4) for v in self.bbox],
            "confidence": round(float(self.confidence), 4),
        }
