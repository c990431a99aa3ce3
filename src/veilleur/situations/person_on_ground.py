"""`person_on_ground`: a person goes from upright to lying and stays down.

Each person seen (a detector track, or a person only the pose model found — a COCO detector
often loses someone lying on the floor while MoveNet keeps them) is followed by
`perception.posture.PostureTracker`. Every observation gets a lying score from its torso angle,
legs-versus-hips, box shape, and box height against the person's own upright height. A *fall*
is a lying observation within `fall_window_s` of an upright one (`require_fall`); the person is
*down* from then on until seen upright again. The signal comes once they have been down for
`min_duration_s` with most observations lying and little movement; its start is the last
upright moment (the fall's onset) and its box the person's. Another person down in the same
zone during the cool-down is a further event attached to that signal.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from veilleur.config.situations import PersonOnGroundConfig
from veilleur.perception.posture import (
    Observation,
    PostureTrack,
    PostureTracker,
    Reference,
    distinct,
    is_upright,
    lying_score,
    measure,
    merge_poses,
)
from veilleur.scene.state import Scene
from veilleur.situations.base import Situation, SituationContext
from veilleur.types import PERSON, Detections, Signal

#: Seconds of upright observations that make a person's upright height.
UPRIGHT_MEMORY_S = 10.0
#: Upright observations needed before a fall counts (one frame could be a glitch).
MIN_UPRIGHT_OBSERVATIONS = 2
#: Observations of a down episode kept for its lying share and movement (2 min at 5 fps).
DOWN_MEMORY = 600


@dataclass
class _Down:
    """A person on the ground since `since`."""

    since: float
    onset: float
    ref: Reference | None
    scores: deque[float] = field(default_factory=lambda: deque(maxlen=DOWN_MEMORY))
    centres: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=DOWN_MEMORY))
    signalled: bool = False


@dataclass
class _Person:
    upright_seen: int = 0
    last_upright: float | None = None
    down: _Down | None = None


class PersonOnGround(Situation):
    id = "person_on_ground"
    bridging_caveat = (
        "19 of 20 falls found on UP-Fall with detect_every 2, against 20: a track is "
        "confirmed by two detections, which then come 0.4 s apart, and a person already going "
        "down when first tracked is not signalled"
    )
    known_limits = (
        "Person on the ground: judged on the posture of a person who goes from upright to "
        "lying within a moment and stays down; it never says who. Someone who lies down quickly "
        "on purpose (a bench, a lawn, a child playing) looks the same; someone already lying "
        "when first seen, or hidden behind people or furniture, or too small in the image for "
        "a posture to be read, is not signalled. Seen from above along its length, a body on "
        "the ground is judged on its box and keypoints alone, which is less sure."
    )

    def __init__(self, config: PersonOnGroundConfig, context: SituationContext) -> None:
        super().__init__(config, context)
        self.cfg = config
        self.tracker = PostureTracker(hold_s=config.hold_s)
        self._people: dict[int, _Person] = {}

    def _observations(self, scene: Scene) -> list[Observation]:
        tracked = [
            Observation(st.box, st.last.keypoints, st.last.confidence, st.track_id)
            for st in scene.visible
            if st.class_id == PERSON
        ]
        # The pose model's persons of this frame, when the scene carries them (`Scene.poses`):
        # they keep a person lying on the ground whom the detector has lost.
        poses: Detections | None = scene.poses
        return distinct(tracked if poses is None else merge_poses(tracked, poses))

    def _zones(self, scene: Scene, box: np.ndarray) -> list[str | None]:
        if not self.cfg.zones:
            return [None]
        assert scene.geometry is not None
        # A body on the ground lies around its box centre, not at the box's bottom edge.
        centre = np.array([[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]])
        return [z for z in self.cfg.zones if bool(scene.geometry.zones[z].contains(centre)[0])]

    def _step(self, t: float, track: PostureTrack, ob: Observation) -> _Down | None:
        """Update one person with one observation; the down episode ready to signal, if any."""
        cfg = self.cfg
        person = self._people.setdefault(track.pid, _Person())
        ref = track.reference()
        p = measure(ob.box, ob.keypoints, cfg.min_keypoint_score)
        score = lying_score(p, ref)
        if is_upright(p, ref, score):
            track.add_upright(t, p, UPRIGHT_MEMORY_S)
            person.upright_seen += 1
            person.last_upright = t
            person.down = None  # (back) on their feet
            return None
        down = person.down
        if down is None and score >= cfg.min_lying_score:
            fell = (
                person.last_upright is not None
                and person.upright_seen >= MIN_UPRIGHT_OBSERVATIONS
                and t - person.last_upright <= cfg.fall_window_s
            )
            if fell or not cfg.require_fall:
                onset = person.last_upright if fell and person.last_upright is not None else t
                down = person.down = _Down(since=t, onset=onset, ref=ref)
        if down is None or down.signalled:
            return None
        down.scores.append(score)
        down.centres.append(p.centre)
        if t - down.since < cfg.min_duration_s:
            return None
        scores = np.array(down.scores)
        lying = scores >= cfg.min_lying_score
        if lying.mean() < cfg.min_lying_share:
            return None
        half = len(down.centres) // 2
        if half:
            centres = np.stack(list(down.centres))
            moved = np.linalg.norm(
                np.median(centres[half:], axis=0) - np.median(centres[:half], axis=0)
            )
            scale = down.ref.height if down.ref is not None else p.size
            if moved > cfg.max_motion * scale:
                return None
        return down

    def update(self, scene: Scene) -> list[Signal]:
        out: list[Signal] = []
        observations = self._observations(scene)
        for track, i in self.tracker.update(scene.t, observations):
            ob = observations[i]
            down = self._step(scene.t, track, ob)
            if down is None:
                continue
            down.signalled = True
            scores = np.array(down.scores)
            lying = scores >= self.cfg.min_lying_score
            confidence = float(scores[lying].mean() * lying.mean())
            for zone in self._zones(scene, ob.box):
                if self.attach_if_cooling(scene, zone, down.onset, [ob.box], confidence):
                    continue  # another person down during the cool-down: attached, not lost
                sig = self.signal(scene, zone, down.onset, [ob.box], confidence)
                if sig is not None:
                    out.append(sig)
        live = set(self.tracker.tracks)
        self._people = {pid: v for pid, v in self._people.items() if pid in live}
        return out
