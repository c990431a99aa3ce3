"""The common interface of the eight situations.

A situation looks at a camera's scene after each analysed frame and returns the signals it
raises then. It reports what happens in a zone, never who: signals carry no track id.

A signal opens an *episode* of its zone. For `cooldown_s` after it no new signal of the same
situation is raised in that zone (the operator is already looking), but what happens meanwhile
is not dropped: each further occurrence is attached to the episode as a `FurtherEvent`
(`attach_if_cooling`, `attach`), collected by the pipeline with `take_further()` after each
frame. The cool-down runs from the signal: the first occurrence after it is a new signal.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from veilleur.config.common import SituationConfig
from veilleur.config.situations.registry import get
from veilleur.scene.state import Scene
from veilleur.types import PERSON, VEHICLE_CLASSES, BBox, FurtherEvent, Signal

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


@dataclass(frozen=True)
class _Opened:
    key: str
    """`Signal.episode` of the latest signal of a zone."""
    t: float
    """When it was raised (stream seconds): the cool-down runs from here."""


class Situation(ABC):
    """One of the eight situations of SPEC §1: `update(scene) -> list[Signal]`."""

    id: ClassVar[str]
    #: Shown to operators beside every signal of this situation (SPEC S11).
    known_limits: ClassVar[str]
    #: COCO class ids the detector must report for this situation (persons and vehicles are
    #: always reported).
    required_classes: ClassVar[frozenset[int]] = frozenset()
    #: Whether person keypoints are needed: the pipeline then runs the pose model and attaches
    #: keypoints to the person tracks (`TrackPoint.keypoints`). Read from the situation's
    #: record (`SituationInfo.needs_pose`) when the class is defined, never set by hand.
    needs_pose: ClassVar[bool] = False
    #: What detecting on one frame in N (`perception.detect_every`), the frames between given
    #: interpolated tracks, was measured to cost this situation on the real clips; None where
    #: it changed nothing (docs/pipeline.md).
    bridging_caveat: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "id" in vars(cls):
            cls.needs_pose = get(cls.id).needs_pose

    def __init__(self, config: SituationConfig, context: SituationContext) -> None:
        self.config = config
        self.context = context
        self._open: dict[str | None, _Opened] = {}
        """Zone → the latest signal raised there (its episode key and time)."""
        self._raised = 0
        self._further: list[FurtherEvent] = []

    @abstractmethod
    def update(self, scene: Scene) -> list[Signal]:
        """Signals raised by the scene's latest frame."""

    def cooling(self, zone: str | None, t: float) -> bool:
        last = self._open.get(zone)
        return last is not None and t - last.t < self.config.cooldown_s

    def episode_of(self, zone: str | None) -> str | None:
        """Key of the episode the latest signal of `zone` opened, if any."""
        last = self._open.get(zone)
        return None if last is None else last.key

    def attach_if_cooling(
        self,
        scene: Scene,
        zone: str | None,
        start_s: float,
        boxes: list[np.ndarray],
        confidence: float,
    ) -> bool:
        """Whether `zone` is in the cool-down of a signal; if so, the event (what would have
        been a signal) is attached to that signal's episode rather than dropped.

        Call it where a signal would be raised: True means "no signal now, the event is
        recorded" (unless below `min_confidence`, which would not have raised a signal
        either)."""
        if not self.cooling(zone, scene.t):
            return False
        key = self.episode_of(zone)
        assert key is not None
        self.attach(scene, zone, key, start_s, boxes, confidence)
        return True

    def attach(
        self,
        scene: Scene,
        zone: str | None,
        episode: str,
        start_s: float,
        boxes: list[np.ndarray],
        confidence: float,
    ) -> FurtherEvent | None:
        """Attach a further event to `episode` (the key of a signal this situation raised);
        None when it is below the configured minimum confidence."""
        if confidence < self.config.min_confidence:
            return None
        event = FurtherEvent(
            situation=self.id,
            camera=self.context.camera,
            zone=zone,
            episode=episode,
            start_s=float(start_s),
            end_s=float(scene.t),
            frame=scene.frame_index,
            bbox=self._unit_box(scene, boxes),
            confidence=float(np.clip(confidence, 0.0, 1.0)),
        )
        self._further.append(event)
        return event

    def take_further(self) -> list[FurtherEvent]:
        """The further events attached since the last call (the pipeline calls it after each
        `update`)."""
        out, self._further = self._further, []
        return out

    @staticmethod
    def _unit_box(scene: Scene, boxes: list[np.ndarray]) -> BBox:
        assert scene.geometry is not None
        union = np.stack(boxes)
        box = np.array([union[:, 0].min(), union[:, 1].min(), union[:, 2].max(), union[:, 3].max()])
        return scene.geometry.to_unit_box(box)

    def signal(
        self,
        scene: Scene,
        zone: str | None,
        start_s: float,
        boxes: list[np.ndarray],
        confidence: float,
    ) -> Signal | None:
        """Build a signal, or None when it is below the configured minimum confidence.

        It opens an episode of `zone`: records its key and time for the cool-down.
        """
        if confidence < self.config.min_confidence:
            return None
        self._raised += 1
        key = f"{self.id}:{scene.frame_index}:{self._raised}"
        self._open[zone] = _Opened(key, scene.t)
        return Signal(
            situation=self.id,
            camera=self.context.camera,
            zone=zone,
            start_s=float(start_s),
            end_s=float(scene.t),
            frame=scene.frame_index,
            bbox=self._unit_box(scene, boxes),
            confidence=float(np.clip(confidence, 0.0, 1.0)),
            model=self.context.model,
            config_version=self.context.config_version,
            episode=key,
        )
