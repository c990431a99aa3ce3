"""One camera's analysis loop: frame → perception → scene → situations → signals.

Plain library code: no process, queue, database or web here. The runtime wraps it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from veilleur.config.model import SiteConfig
from veilleur.perception.motion import MotionDetector
from veilleur.perception.tracking import ByteTracker
from veilleur.scene.state import Scene
from veilleur.situations import Situation, SituationContext, build_situations
from veilleur.types import PERSON, VEHICLE_CLASSES, Detections, Frame, Signal

STAGES = ("decode", "motion", "detection", "tracking", "scene", "situations")


@dataclass
class StageClock:
    """Seconds spent in each stage, and how many frames went through it."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    frames: int = 0
    detector_runs: int = 0
    detector_skipped: int = 0

    def add(self, stage: str, dt: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + dt

    def ms_per_frame(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {k: 1000.0 * v / n for k, v in self.seconds.items()}


class CameraPipeline:
    """Analyses the frames of one camera and returns the signals they raise."""

    def __init__(
        self,
        camera: str,
        site: SiteConfig,
        detector: object | None = None,
        *,
        analysis_fps: float | None = None,
    ) -> None:
        if camera not in site.cameras:
            known = ", ".join(site.cameras)
            raise KeyError(f"camera '{camera}' is not in the configuration (cameras: {known})")
        self.camera = camera
        self.config = site.cameras[camera]
        self.perception = site.perception_for(camera)
        if detector is None:
            from veilleur.perception.detector import build_detector
            from veilleur.perception.registry import default_detector_name

            name = self.perception.detector
            if name == "auto":
                name = default_detector_name()
            detector = build_detector(
                name,
                path=self.perception.model_path,
                # Low-score boxes feed the tracker's second stage; situations see only the rest.
                confidence=min(site.tracking.low_confidence, self.perception.confidence),
                classes=sorted({PERSON, *VEHICLE_CLASSES}),
                tiles=self.perception.tiles,
                threads=self.perception.threads,
            )
        self.detector = detector
        fps = analysis_fps or self.config.analysis_fps
        tracking = site.tracking
        self.tracker = ByteTracker(
            lost_s=tracking.lost_s,
            high_confidence=tracking.high_confidence,
            min_iou=tracking.min_iou,
            min_hits=tracking.min_hits,
            frame_rate=fps,
        )
        self.motion = MotionDetector() if self.perception.motion_gating else None
        self.scene = Scene(camera, self.config, min_hits=tracking.min_hits, lost_s=tracking.lost_s)
        self.model_name = f"{getattr(detector, 'name', type(detector).__name__)}+bytetrack"
        self.config_version = site.camera_version(camera)
        self.situations: list[Situation] = build_situations(
            self.config, SituationContext(camera, self.model_name, self.config_version)
        )
        self.clock = StageClock()
        self._last_detections = Detections.empty()
        self._last_detect_t: float | None = None
        self.tracked = Detections.empty()
        """Tracked detections of the latest frame (for drawing and evaluation only)."""

    def _detect(self, frame: Frame) -> Detections:
        clock = self.clock
        run = True
        if self.motion is not None:
            t0 = time.perf_counter()
            moved = self.motion.update(frame.image).moved
            clock.add("motion", time.perf_counter() - t0)
            fresh = (
                self._last_detect_t is not None
                and frame.t - self._last_detect_t < self.perception.refresh_s
            )
            run = moved or not fresh
        if not run:
            clock.detector_skipped += 1
            return self._last_detections
        t0 = time.perf_counter()
        dets: Detections = self.detector.detect(frame.image)  # type: ignore[attr-defined]
        clock.add("detection", time.perf_counter() - t0)
        clock.detector_runs += 1
        self._last_detections = dets
        self._last_detect_t = frame.t
        return dets

    def process(self, frame: Frame) -> list[Signal]:
        """Analyse one frame; returns the signals it raises (often none)."""
        clock = self.clock
        dets = self._detect(frame)
        t0 = time.perf_counter()
        tracked = self.tracker.update(dets, frame.t)
        t1 = time.perf_counter()
        self.scene.update(frame, tracked, dets[dets.confidence >= self.perception.confidence])
        t2 = time.perf_counter()
        signals: list[Signal] = []
        for situation in self.situations:
            signals.extend(situation.update(self.scene))
        t3 = time.perf_counter()
        clock.add("tracking", t1 - t0)
        clock.add("scene", t2 - t1)
        clock.add("situations", t3 - t2)
        clock.frames += 1
        self.tracked = tracked
        return signals

    def run(
        self,
        frames: Iterable[Frame],
        on_frame: Callable[[Frame, list[Signal]], None] | None = None,
    ) -> Iterator[Signal]:
        """Analyse a stream of frames, timing the decode of each one as well."""
        it = iter(frames)
        while True:
            t0 = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                return
            self.clock.add("decode", time.perf_counter() - t0)
            signals = self.process(frame)
            if on_frame is not None:
                on_frame(frame, signals)
            yield from signals
