"""`crowd_movement`: a sudden collective change of motion in a zone.

Each analysed frame the dense optical flow (`perception/flow.py`) gives every person detected
in the zone a velocity in body heights per second (the median flow over the middle of their
box, divided by their height: near and far people count alike). Per zone:

- the *current* mean speed, smoothed over `reaction_s`;
- a running *baseline* of it (exponential, time constant `baseline_s`) and of its usual
  variation, frozen while a change is under way so that the change does not absorb itself.

A change is sudden and collective when the mean speed rose over the baseline by at least
`jump` and by more than `spread_factor` times the zone's usual variation, and at least
`min_share` of the persons present each move faster than the baseline plus `jump`. It must
last `min_duration_s`. Only rises count: a flow that stops or turns back at the same speed is
not signalled (a change of direction was tried and fired on a handful of people walking one
way after others had walked the other, on PETS).

What this leaves out, on purpose: a steady flow (no change), a slow build-up such as a crowd
leaving at the end of a match (the baseline follows it), one runner (not a share of the
crowd), a train or bus crossing the zone (no person's box moves with it), a group walking
into an empty zone (the baseline is learnt anew over `warmup_s` whenever the zone fills), and
a panning camera (frames where the picture's border moves as one are skipped).

One change is one event. A new change (after the previous one has ended) that lasts
`min_duration_s` during the zone's cool-down is attached to the previous signal as a further
event; if it is still under way when the cool-down ends, it is signalled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from veilleur.config.situations import CrowdMovementConfig
from veilleur.perception.density import PersonScale, feet
from veilleur.perception.flow import CrowdMotion, DenseFlow, person_motion
from veilleur.scene.state import Scene
from veilleur.situations.base import Situation, SituationContext
from veilleur.types import PERSON, Signal


@dataclass
class _Zone:
    ready_since: float | None = None
    """Since when the zone has held enough people for its baseline to be learnt."""
    last_full: float = -math.inf
    """Last time the zone held at least `min_people` persons."""
    last_t: float | None = None
    speed: float = 0.0
    base_speed: float = 0.0
    spread: float = 0.0
    start: float | None = None
    """When the change under way began."""
    last_change: float = -math.inf
    signalled: bool = False
    attached: bool = False
    """The change under way was attached to an earlier signal's episode (cool-down)."""


@dataclass(frozen=True, slots=True)
class MotionReading:
    """What the situation measured in one zone on the latest frame (for tests and tuning)."""

    motion: CrowdMotion
    speed: float
    """Smoothed current mean speed, body heights per second."""
    base_speed: float
    change: float
    """Rise of the smoothed speed over the baseline, compared with `jump`."""
    share_fast: float
    """Share of the persons moving faster than the baseline plus `jump`."""
    ready: bool
    sudden: bool


class CrowdMovement(Situation):
    id = "crowd_movement"
    known_limits = (
        "Crowd movement: judged on the optical flow of the people the detector finds in the "
        "zone, against what is usual in that zone over the last seconds. It signals a sudden "
        "rise of speed shared by many (running, scattering, surging), not a steady or slowly "
        "growing flow, nor a crowd that suddenly stops. People the detector misses in a packed "
        "crowd are not measured, and their "
        "movement is judged through those it sees. Fast changes of light, a camera that is "
        "moved, or a crowd that was already running when watching began can be missed; a "
        "group that starts jogging together (sport, a bus to catch) is a real change and is "
        "signalled."
    )

    def __init__(self, config: CrowdMovementConfig, context: SituationContext) -> None:
        super().__init__(config, context)
        self.cfg = config
        self._flow = DenseFlow(work_width=config.flow_width)
        self._scale: PersonScale | None = None
        self._zones: dict[str, _Zone] = {z: _Zone() for z in config.zones}
        self.readings: dict[str, MotionReading] = {}
        """The latest reading of every zone."""

    def update(self, scene: Scene) -> list[Signal]:
        if scene.image is None or scene.geometry is None:
            return []
        if self._scale is None or self._scale.image_height != scene.geometry.height:
            self._scale = PersonScale(scene.geometry.height)
        dets = scene.detections
        persons = dets.xyxy[dets.class_id == PERSON]
        self._scale.add(persons)
        frame = self._flow.update(scene.image, scene.t)
        if frame is None or frame.camera_moved:
            return []
        foot = feet(persons)
        heights = persons[:, 3] - persons[:, 1]
        if self._scale.fitted:
            # A box cut by someone in front is shorter than its person: do not let it inflate
            # the speed.
            heights = np.maximum(heights, 0.8 * self._scale.height_at(foot[:, 1]))
        velocities = person_motion(frame, persons, heights)
        out: list[Signal] = []
        for name, zone in self._zones.items():
            inside = scene.geometry.zones[name].contains(foot)
            sig = self._step(scene, name, zone, foot[inside], velocities[inside], persons[inside])
            if sig is not None:
                out.append(sig)
        return out

    def _quiet(self, zone: _Zone, t: float) -> bool:
        """A frame without the change: ends a change under way only after a short quiet (a
        frame or two of noise, or of people the detector lost in the rush, does not). Returns
        whether no change is under way."""
        if zone.start is not None and t - zone.last_change > max(self.cfg.reaction_s, 0.5):
            zone.start = None
        return zone.start is None

    def _step(
        self,
        scene: Scene,
        name: str,
        zone: _Zone,
        foot: np.ndarray,
        velocities: np.ndarray,
        boxes: np.ndarray,
    ) -> Signal | None:
        cfg = self.cfg
        t = scene.t
        motion = CrowdMotion.of(foot, velocities)
        dt = 0.0 if zone.last_t is None else max(t - zone.last_t, 0.0)
        zone.last_t = t
        if motion.people >= cfg.min_people:
            zone.last_full = t
        elif t - zone.last_full > cfg.baseline_s:
            zone.ready_since = None  # emptied: what was usual no longer says anything
        if motion.people < cfg.min_people:
            self._quiet(zone, t)
            self.readings[name] = MotionReading(
                motion, zone.speed, zone.base_speed, 0, 0, False, False
            )
            return None
        if zone.ready_since is None:
            # (Re)start: the baseline is what is seen now.
            zone.ready_since = t
            zone.speed = zone.base_speed = motion.speed
            zone.spread = 0.0
            zone.start = None
        zone.speed += (1.0 - math.exp(-dt / cfg.reaction_s)) * (motion.speed - zone.speed)
        ready = t - zone.ready_since >= cfg.warmup_s
        change = zone.speed - zone.base_speed
        speeds = np.hypot(velocities[:, 0], velocities[:, 1])
        fast = speeds > zone.base_speed + cfg.jump
        share = float(fast.mean())
        threshold = max(cfg.jump, cfg.spread_factor * zone.spread)
        sudden = (
            ready and change >= threshold and share >= cfg.min_share and zone.speed >= cfg.min_speed
        )
        self.readings[name] = MotionReading(
            motion, zone.speed, zone.base_speed, change, share, ready, sudden
        )
        if sudden:
            if zone.start is None:
                zone.start, zone.signalled, zone.attached = t, False, False
            zone.last_change = t
        elif self._quiet(zone, t):
            a_base = 1.0 - math.exp(-dt / cfg.baseline_s)
            zone.base_speed += a_base * (zone.speed - zone.base_speed)
            zone.spread += a_base * (abs(zone.speed - zone.base_speed) - zone.spread)
        # Raised on a frame of the change itself (a quiet frame keeps its clock running).
        if zone.start is None or zone.signalled or not sudden:
            return None
        if t - zone.start < cfg.min_duration_s:
            return None
        confidence = 0.25 + 0.5 * min(1.0, change / (2.0 * threshold)) + 0.25 * share
        where = list(boxes[fast]) or list(boxes)
        if self.cooling(name, t):
            # A new change during the cool-down of the previous one: attached to it, once.
            if not zone.attached:
                zone.attached = self.attach_if_cooling(scene, name, zone.start, where, confidence)
            return None
        zone.signalled = True
        return self.signal(scene, name, zone.start, where, confidence)
