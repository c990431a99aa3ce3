"""The common interface of the eight situations.

A situation looks at a camera's scene after each analysed frame and returns the signals it
raises then. It reports what happens in a zone, never who: signals carry no track id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from veilleur.config.common import SituationConfig
from veilleur.scene.state import Scene
from veilleur.types import PERSON, VEHICLE_CLASSES, Signal

#: Configuration class names → COCO class ids.
OBJECT_CLASSES: dict[str, frozenset[int]] = {
    "person": frozenset({PERSON}),
    "vehicle": VEHICLE_CLASSES,
}


def classes_of(names: list[str]) -> frozenset[int]:
    out: set[int] = set()
    for n in names:
        out |= OBJECT_CLASSES[n]
    return frozenset(out)


@dataclass(frozen=True)
class SituationContext:
    camera: str
    model: str
    """Name and version of the model(s) whose output feeds the situation."""
    config_version: str


class Situation(ABC):
    """One of the eight situations of SPEC §1: `update(scene) -> list[Signal]`."""

    id: ClassVar[str]
    #: Shown to operators beside every signal of this situation (SPEC S11).
    known_limits: ClassVar[str]
    #: COCO class ids the detector must report for this situation (persons and vehicles are
    #: always reported).
    required_classes: ClassVar[frozenset[int]] = frozenset()
    #: Whether person keypoints are needed: the pipeline then runs the pose model and attaches
    #: keypoints to the person tracks (`TrackPoint.keypoints`).
    needs_pose: ClassVar[bool] = False

    def __init__(self, config: SituationConfig, context: SituationContext) -> None:
        self.config = config
        self.context = context
        self._last_signal_t: dict[str | None, float] = {}

    @abstractmethod
    def update(self, scene: Scene) -> list[Signal]:
        """Signals raised by the scene's latest frame."""

    def cooling(self, zone: str | None, t: float) -> bool:
        last = self._last_signal_t.get(zone)
        return last is not None and t - last < self.config.cooldown_s

    def signal(
        self,
        scene: Scene,
        zone: str | None,
        start_s: float,
        boxes: list[np.ndarray],
        confidence: float,
    ) -> Signal | None:
        """Build a signal, or None when it is below the configured minimum confidence.

        Records the time for the cool-down of `zone`.
        """
        if confidence < self.config.min_confidence:
            return None
        assert scene.geometry is not None
        union = np.stack(boxes)
        box = np.array([union[:, 0].min(), union[:, 1].min(), union[:, 2].max(), union[:, 3].max()])
        self._last_signal_t[zone] = scene.t
        return Signal(
            situation=self.id,
            camera=self.context.camera,
            zone=zone,
            start_s=float(start_s),
            end_s=float(scene.t),
            frame=scene.frame_index,
            bbox=scene.geometry.to_unit_box(box),
            confidence=float(np.clip(confidence, 0.0, 1.0)),
            model=self.context.model,
            config_version=self.context.config_version,
        )
