"""One camera's analysis loop: frame → perception → scene → situations → signals.

Plain library code: no process, queue, database or web here. The runtime wraps it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from veilleur.config.model import SiteConfig
from veilleur.perception import factory, registry
from veilleur.perception.detector import (
    Detector,
    DetectorFactory,
    ScalableDetector,
    gives_pose,
    is_scalable,
)
from veilleur.perception.factory import detector_spec
from veilleur.perception.motion import MotionDetector
from veilleur.perception.tracking import ByteTracker
from veilleur.scene.state import Scene
from veilleur.situations import (
    BridgingCaveat,
    Situation,
    SituationContext,
    bridging_caveats,
    enabled_situations,
)
from veilleur.types import PERSON, VEHICLE_CLASSES, Detections, Frame, FurtherEvent, Signal

#: `on_frame(frame, signals)`: called after each frame is concluded.
FrameCallback = Callable[[Frame, list[Signal]], None]

#: Default score down to which a person detection is blurred (`privacy.confidence`).
PRIVACY_CONFIDENCE = 0.05

STAGES = ("decode", "motion", "detection", "pose", "tracking", "scene", "situations")


@dataclass
class StageClock:
    """Seconds spent in each stage, and how many frames went through it."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    frames: int = 0
    detector_runs: int = 0
    detector_skipped: int = 0
    detector_cropped: int = 0
    """Runs on a crop around motion rather than the whole frame."""
    bridged: int = 0
    """Frames given no detection of their own (`detect_every`): their tracked boxes are
    interpolated between the detected frames around them."""

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
        detector: Detector | None = None,
        *,
        pose: Detector | None = None,
        analysis_fps: float | None = None,
        detector_factory: DetectorFactory | None = None,
        privacy_cues: bool = True,
        detect_every: int | None = None,
    ) -> None:
        """`detector` and `pose` replace the configured models (tests, benchmarks); otherwise
        they are built by `detector_factory` from the configuration (default:
        `perception.factory.build_local`, in this process; the runtime passes one that hands
        out the detector pool's). `privacy_cues=False` says nobody will blur this camera's
        pictures (`analyze`, `stats`): the detector then stops at the tracker's lowest score
        instead of the privacy score, which leaves the signals unchanged and the detector's
        decoding and NMS a third of the boxes, and `person_cues` goes down to that score only.

        `detect_every=N` (default: the camera's `perception.detect_every`; N > 1 with `step`
        and `run`, not `process`) runs the detector on one
        analysed frame in N; each frame between two detected ones gets the tracks found on
        both, their boxes interpolated in time, and is reported once the later one is detected
        (results come N − 1 frames late). Its person cues hold the detections of both frames
        around it as well. The tracker then links detections N frames apart, which its centre
        association holds (docs/pipeline.md)."""
        if camera not in site.cameras:
            known = ", ".join(site.cameras)
            raise KeyError(f"camera '{camera}' is not in the configuration (cameras: {known})")
        self.camera = camera
        self.config = site.cameras[camera]
        self.perception = site.perception_for(camera)
        if detect_every is None:
            detect_every = self.perception.detect_every
        if detect_every < 1:
            raise ValueError(f"detect_every must be 1 or more, not {detect_every}")
        self.detect_every = detect_every
        for caveat in bridging_caveats(self.config, camera, detect_every):
            warnings.warn(caveat, BridgingCaveat, stacklevel=2)
        chosen = enabled_situations(self.config, camera)
        classes = {PERSON, *VEHICLE_CLASSES}
        for cls, _ in chosen:
            classes |= cls.required_classes
        # Looked up here rather than bound as the default argument, so that a test can
        # replace the local factory for code that builds its pipeline itself (the CLI).
        build = detector_factory if detector_factory is not None else factory.build_local

        configured = self.perception.detector
        name = registry.choose_detector(configured) if detector is None else configured
        model = registry.detection_defaults(name)
        low, conf, high = model.thresholds if model else (0.1, 0.3, 0.6)
        tracking = site.tracking
        self.confidence = self.perception.confidence or conf
        self.low_confidence = min(tracking.low_confidence or low, self.confidence)
        # Privacy masking blurs persons down to a lower score than tracking uses: the
        # detector returns them, the tracker and the situations never see them.
        privacy = self.config.privacy.confidence or PRIVACY_CONFIDENCE
        self.privacy_confidence = (
            min(privacy, self.low_confidence) if privacy_cues else self.low_confidence
        )
        high_confidence = tracking.high_confidence or high
        if detector is None:
            input_size = self.perception.input_size
            if input_size is None and model is not None:
                input_size = model.detection_input_size
            if model is not None:
                # A person-only model (the MoveNet fallback) sees no vehicle or bag: ask it
                # only for what it knows; situations then see persons only.
                classes = {c for c in classes if c < len(model.classes)}
            detector = build(
                detector_spec(
                    name,
                    path=self.perception.model_path,
                    # Low-score boxes feed the tracker's second stage (and the lowest privacy
                    # masking only); situations see only the rest.
                    confidence=self.privacy_confidence,
                    input_size=input_size,
                    classes=sorted(classes),
                    tiles=self.perception.tiles,
                    threads=self.perception.threads,
                    runtime=self.perception.runtime,
                    precision=self.perception.precision,
                )
            )
        self.detector: Detector = detector
        self._scalable: ScalableDetector | None = detector if is_scalable(detector) else None
        """The detector again when it can run on a crop around motion, else None."""
        self.pose: Detector | None = None
        models = [getattr(detector, "name", type(detector).__name__)]
        if pose is not None:
            self.pose = pose
        elif any(cls.needs_pose for cls, _ in chosen) and not gives_pose(detector):
            self.pose = build(
                detector_spec(
                    "movenet-multipose",
                    confidence=self.perception.pose_confidence,
                    input_size=self.perception.pose_input_size,
                    threads=self.perception.threads,
                    purpose="pose",
                )
            )
        if self.pose is not None:
            models.append(getattr(self.pose, "name", type(self.pose).__name__))
        fps = analysis_fps or self.config.analysis_fps
        self.tracker = ByteTracker(
            lost_s=tracking.lost_s,
            high_confidence=high_confidence,
            min_iou=tracking.min_iou,
            min_hits=tracking.min_hits,
            frame_rate=fps,
            association="centre" if detect_every > 1 else tracking.association,
            centre_reach=tracking.centre_reach,
        )
        self.motion = MotionDetector() if self.perception.motion_gating else None
        self.scene = Scene(camera, self.config, min_hits=tracking.min_hits, lost_s=tracking.lost_s)
        self.model_name = "+".join([*models, "bytetrack"])
        self.config_version = site.camera_version(camera)
        context = SituationContext(camera, self.model_name, self.config_version)
        self.situations: list[Situation] = [cls(cfg, context) for cls, cfg in chosen]
        self._poses = Detections.empty()
        self.clock = StageClock()
        self._last_detections = Detections.empty()
        self._waiting: list[Frame] = []
        """Frames to bridge once the next detected frame has come (`detect_every`)."""
        self._before: tuple[float, Detections, Detections] | None = None
        """The last detected frame's time, tracks and detections."""
        self._seen = 0
        self._around: Detections | None = None
        """While a bridged frame is concluded: the detections of the frames around it."""
        self._last_detect_t: float | None = None
        self.tracked = Detections.empty()
        """Tracked detections of the latest frame (for drawing and evaluation only)."""
        self.further: list[FurtherEvent] = []
        """Further events of the latest frame: occurrences during the cool-down of a signal,
        attached to its episode instead of raising a new signal (`situations.base`)."""

    def _crop_for(self, regions: np.ndarray, width: int, height: int) -> np.ndarray | None:
        """The part of the frame worth re-detecting: all moving regions with a margin, or None
        when that is most of the frame anyway (or the detector cannot run on a crop)."""
        if self._scalable is None or len(regions) == 0:
            return None
        x1, y1 = regions[:, 0].min(), regions[:, 1].min()
        x2, y2 = regions[:, 2].max(), regions[:, 3].max()
        # A person moving only their legs shows a small blob: grow it to take the whole body.
        mx = 0.5 * (x2 - x1) + 0.05 * width + 16
        my = 0.5 * (y2 - y1) + 0.1 * height + 16
        box = np.array(
            [max(0, x1 - mx), max(0, y1 - my), min(width, x2 + mx), min(height, y2 + my)]
        ).round()
        area = (box[2] - box[0]) * (box[3] - box[1])
        return None if area > self.CROP_MAX_SHARE * width * height else box

    #: Above this share of the frame, a crop saves too little to be worth its seams.
    CROP_MAX_SHARE = 0.6

    def _detect(self, frame: Frame) -> Detections:
        clock = self.clock
        crop = None
        if self.motion is not None:
            t0 = time.perf_counter()
            motion = self.motion.update(frame.image)
            clock.add("motion", time.perf_counter() - t0)
            fresh = (
                self._last_detect_t is not None
                and frame.t - self._last_detect_t < self.perception.refresh_s
            )
            if not motion.moved and fresh:
                clock.detector_skipped += 1
                return self._last_detections
            if fresh:
                crop = self._crop_for(motion.regions, frame.width, frame.height)
        t0 = time.perf_counter()
        if crop is None or self._scalable is None:  # a crop comes with a scalable detector only
            dets = self.detector.detect(frame.image)
            self._last_detect_t = frame.t
        else:
            dets = self._detect_in(self._scalable, frame, crop)
            clock.detector_cropped += 1
        clock.add("detection", time.perf_counter() - t0)
        clock.detector_runs += 1
        self._last_detections = dets
        return dets

    def _detect_in(self, detector: ScalableDetector, frame: Frame, crop: np.ndarray) -> Detections:
        """Detect inside `crop` at the full frame's scale; keep what was seen outside it."""
        x1, y1, x2, y2 = (int(v) for v in crop)
        scale = detector.input_size / max(frame.width, frame.height)
        inside = detector.detect(frame.image[y1:y2, x1:x2], scale=scale)
        inside.xyxy += np.array([x1, y1, x1, y1], dtype=np.float32)
        last = self._last_detections
        b = last.xyxy
        # Previous boxes that do not touch the crop did not move: they still hold.
        away = (b[:, 2] <= x1) | (b[:, 0] >= x2) | (b[:, 3] <= y1) | (b[:, 1] >= y2)
        return Detections.concat([inside, last[away]])

    def process(self, frame: Frame) -> list[Signal]:
        """Analyse one frame, with a detection of its own whatever `detect_every` says (`step`
        bridges); returns the signals it raises (often none). Further events of signals
        already raised are in `self.further` until the next frame."""
        dets, tracked, poses = self._perceive(frame)
        return self._conclude(frame, tracked, dets[dets.confidence >= self.confidence], poses)

    def _perceive(self, frame: Frame) -> tuple[Detections, Detections, Detections | None]:
        """Detection (or what motion gating keeps of the last one), poses and tracking of one
        frame: its detections, the tracked ones, the poses."""
        clock = self.clock
        runs = clock.detector_runs
        dets = self._detect(frame)
        poses = None
        if self.pose is not None:
            if clock.detector_runs != runs:  # the scene changed: look at postures again
                t0 = time.perf_counter()
                self._poses = self.pose.detect(frame.image)
                clock.add("pose", time.perf_counter() - t0)
            poses = self._poses
        elif dets.keypoints is not None:
            poses = dets
        t0 = time.perf_counter()
        tracked = self.tracker.update(dets[dets.confidence >= self.low_confidence], frame.t)
        clock.add("tracking", time.perf_counter() - t0)
        return dets, tracked, poses

    def _conclude(
        self, frame: Frame, tracked: Detections, visible: Detections, poses: Detections | None
    ) -> list[Signal]:
        """The scene and the situations of one frame, from what perception made of it."""
        clock = self.clock
        t1 = time.perf_counter()
        self.scene.update(frame, tracked, visible, poses=poses)
        t2 = time.perf_counter()
        signals: list[Signal] = []
        further: list[FurtherEvent] = []
        for situation in self.situations:
            signals.extend(situation.update(self.scene))
            further.extend(situation.take_further())
        self.further = further
        t3 = time.perf_counter()
        clock.add("scene", t2 - t1)
        clock.add("situations", t3 - t2)
        clock.frames += 1
        self.tracked = tracked
        return signals

    def person_cues(self) -> Detections:
        """Every box where a person may be on the latest processed frame, for privacy masking:
        the detector's persons down to the privacy score, the tracked ones, the boxes predicted
        for tracks the detector lost, and the pose model's persons (widened by their limbs). A
        bridged frame (`detect_every`) has the detections of both frames around it: whoever
        it shows is between where they were seen there."""
        from veilleur.privacy.blur import person_regions

        dets = self._last_detections if self._around is None else self._around
        dets = dets[dets.confidence >= self.privacy_confidence]
        parts = []
        for p in (dets, self.tracked, self.tracker.lost(PERSON), self._poses):
            p = p[p.class_id == PERSON]
            if len(p):
                # Keypoints widen the boxes now: concatenating drops them.
                parts.append(
                    Detections(xyxy=person_regions(p), confidence=p.confidence, class_id=p.class_id)
                )
        return Detections.concat(parts)

    def step(self, frame: Frame, on_frame: FrameCallback | None = None) -> list[Signal]:
        """Take in the next analysed frame; returns the signals of the frames it completes:
        itself, or (with `detect_every`) none while it waits to be bridged, and the frames
        waiting before it then itself once it is detected. `on_frame(frame, signals)` is
        called after each frame is concluded, in their order, while `tracked`, `scene`,
        `further` and `person_cues()` are that frame's."""
        self._seen += 1
        if self._before is not None and (self._seen - 1) % self.detect_every:
            self._waiting.append(frame)
            return []
        dets, tracked, poses = self._perceive(frame)
        visible = dets[dets.confidence >= self.confidence]
        signals: list[Signal] = []
        if self._waiting:
            assert self._before is not None
            t0, before, around = self._before
            # Whatever the later frame saw that no track holds (a bag, a weapon) is kept as
            # seen there: such things are not expected to move in a fraction of a second.
            untracked = visible[~_rows_in(visible.xyxy, tracked.xyxy)]
            self._around = Detections.concat([around, dets])
            try:
                for w in self._waiting:
                    between = interpolate_tracks((t0, before), (frame.t, tracked), w.t)
                    self.clock.bridged += 1
                    shown = Detections.concat([between, untracked])
                    signals += self._report(w, between, shown, poses, on_frame)
            finally:
                self._around = None
            self._waiting.clear()
        signals += self._report(frame, tracked, visible, poses, on_frame)
        self._before = (frame.t, tracked, dets)
        return signals

    def finish(self, on_frame: FrameCallback | None = None) -> list[Signal]:
        """The end of the stream: frames still waiting for the next detected one are analysed
        with a detection of their own; returns their signals."""
        signals: list[Signal] = []
        waiting, self._waiting = self._waiting, []
        for w in waiting:
            dets, tracked, poses = self._perceive(w)
            visible = dets[dets.confidence >= self.confidence]
            signals += self._report(w, tracked, visible, poses, on_frame)
            self._before = (w.t, tracked, dets)
        return signals

    def run(
        self,
        frames: Iterable[Frame],
        on_frame: FrameCallback | None = None,
    ) -> Iterator[Signal]:
        """Analyse a stream of frames (`step` each, then `finish`), timing the decode of each
        one as well."""
        it = iter(frames)
        while True:
            t0 = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                break
            self.clock.add("decode", time.perf_counter() - t0)
            yield from self.step(frame, on_frame)
        yield from self.finish(on_frame)

    def _report(
        self,
        frame: Frame,
        tracked: Detections,
        visible: Detections,
        poses: Detections | None,
        on_frame: FrameCallback | None,
    ) -> list[Signal]:
        signals = self._conclude(frame, tracked, visible, poses)
        if on_frame is not None:
            on_frame(frame, signals)
        return signals


def interpolate_tracks(
    before: tuple[float, Detections], after: tuple[float, Detections], t: float
) -> Detections:
    """The tracks seen at both times `before[0]` and `after[0]`, at time `t` between them:
    their boxes interpolated linearly (pedestrians and vehicles move almost in a straight line
    over a fraction of a second), their score the lower of the two. A track seen only once
    is left out, as a detector that missed it there would."""
    (t0, a), (t1, b) = before, after
    if len(a) == 0 or len(b) == 0:
        return Detections.empty()
    assert a.track_id is not None and b.track_id is not None
    common, ia, ib = np.intersect1d(a.track_id, b.track_id, return_indices=True)
    if len(common) == 0:
        return Detections.empty()
    w = 0.0 if t1 <= t0 else min(max((t - t0) / (t1 - t0), 0.0), 1.0)
    xyxy = ((1.0 - w) * a.xyxy[ia] + w * b.xyxy[ib]).astype(np.float32)
    return Detections(
        xyxy=xyxy,
        confidence=np.minimum(a.confidence[ia], b.confidence[ib]).astype(np.float32),
        class_id=b.class_id[ib],
        track_id=common.astype(np.int64),
    )


def _rows_in(boxes: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Which of `boxes` are exactly one of `among` (the tracked rows of a frame's detections)."""
    if len(boxes) == 0 or len(among) == 0:
        return np.zeros(len(boxes), dtype=bool)
    return (boxes[:, None, :] == among[None, :, :]).all(axis=2).any(axis=1)
