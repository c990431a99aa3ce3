"""Posture of one person from its box and, when a pose model ran, its 17 COCO keypoints.

Cues, each measured in the image (no calibration needed):

- the torso angle, from the hips' midpoint to the shoulders' midpoint: 0° upright, 90° lying
  across the image, 180° upside down (a person lying head towards an elevated camera);
- whether the legs are below the hips: ankles (or knees) well under the hips when standing or
  sitting, level with or above them when lying;
- the box shape (width / height) and the box height against the person's own upright height
  (`Reference`), which is what is left when the keypoints are missing or unsure.

`lying_score` folds the cues available for one observation into 0..1. `PostureTracker` links
observations over time — the detector's tracks, and persons only the pose model found (a COCO
detector often loses a person lying on the ground; MoveNet keeps them) — so that a person's
upright height is known when they go down. It stores sizes and angles for a few seconds, never
anything about who the person is.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from veilleur.perception.nms import box_area, intersection, iou_matrix
from veilleur.types import Detections

# COCO keypoint indices (MoveNet order, see movenet.KEYPOINTS).
SHOULDERS = (5, 6)
HIPS = (11, 12)
KNEES = (13, 14)
ANKLES = (15, 16)

# Thresholds of the cues, from UP-Fall subject 1 (docs/situations/person_on_ground.md):
# standing and sitting torsos stay under ~15°, a person bending to pick something up reaches
# ~60° for a fraction of a second, lying torsos read 85-95° (across) or 130-180° (along the
# view of an elevated camera). Standing ankles are ~0.4 upright heights below the hips, bending
# ~0.27, lying ones -0.15..0.05.
TORSO_UPRIGHT_DEG = 30.0
TORSO_LYING_DEG = 60.0
LEGS_UPRIGHT = 0.25
"""Legs this far below the hips (in upright heights) count fully as 'not lying'."""
LEGS_LYING = 0.10
ASPECT_UPRIGHT = 0.7
"""Box width/height up to which the box shape says nothing of lying (standing: 0.25-0.45)."""
ASPECT_LYING = 1.1
HEIGHT_UPRIGHT = 0.75
"""Box height, as a share of the upright height, above which the height says nothing."""
HEIGHT_LYING = 0.55
TORSO_FORESHORTENED = 0.75
"""A torso seen upright but shorter than this share of its upright length may be lying along the
camera's line of sight; a longer upright torso (standing, sitting) vetoes 'lying'."""
UPRIGHT_MAX_ASPECT = 0.75
UPRIGHT_MIN_HEIGHT = 0.8


def ramp(x: float, lo: float, hi: float) -> float:
    """0 at `lo`, 1 at `hi`, linear in between (either order)."""
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def _mean_point(kp: np.ndarray, idx: tuple[int, ...], min_score: float) -> np.ndarray | None:
    ok = [i for i in idx if kp[i, 2] >= min_score]
    if not ok:
        return None
    return np.asarray(kp[ok, :2].mean(axis=0), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Posture:
    """What one observation of a person shows, in pixels of the analysed frame."""

    box: np.ndarray
    height: float
    aspect: float
    """Box width / height."""
    torso_angle: float | None
    """Degrees between hips→shoulders and image-up: 0 upright, 90 across, 180 upside down."""
    torso_length: float | None
    legs_drop: float | None
    """y of the ankles (or knees) minus y of the hips: positive when the legs are below."""

    @property
    def centre(self) -> np.ndarray:
        b = self.box
        return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])

    @property
    def size(self) -> float:
        b = self.box
        return float(max(b[2] - b[0], b[3] - b[1], 1.0))


def measure(box: np.ndarray, keypoints: np.ndarray | None, min_score: float = 0.2) -> Posture:
    """The cues of one person; keypoints below `min_score` are ignored (cues then missing)."""
    b = np.asarray(box, dtype=np.float64).reshape(4)
    w, h = max(b[2] - b[0], 1.0), max(b[3] - b[1], 1.0)
    angle = length = drop = None
    if keypoints is not None:
        kp = np.asarray(keypoints, dtype=np.float64).reshape(17, 3)
        shoulders = _mean_point(kp, SHOULDERS, min_score)
        hips = _mean_point(kp, HIPS, min_score)
        if shoulders is not None and hips is not None:
            v = shoulders - hips
            length = float(np.hypot(v[0], v[1]))
            if length >= 1.0:
                angle = math.degrees(math.atan2(abs(v[0]), -v[1]))
        if hips is not None:
            legs = _mean_point(kp, ANKLES, min_score)
            if legs is None:
                legs = _mean_point(kp, KNEES, min_score)
            if legs is not None:
                drop = float(legs[1] - hips[1])
    return Posture(b, float(h), float(w / h), angle, length, drop)


@dataclass(frozen=True, slots=True)
class Reference:
    """A person's own upright build, learnt while they stood or sat up."""

    height: float
    torso_length: float | None


def lying_score(p: Posture, ref: Reference | None) -> float:
    """How much this observation looks like a person lying down, 0..1 (mean of the cues there).

    A torso seen clearly upright and full length (standing, sitting, kneeling up) caps the score
    whatever the box says: someone sitting on the ground with legs stretched out has a low, wide
    box, but not a lying torso.
    """
    scale = ref.height if ref is not None else p.height
    cues: list[float] = [ramp(p.aspect, ASPECT_UPRIGHT, ASPECT_LYING)]
    if ref is not None:
        cues.append(ramp(p.height / ref.height, HEIGHT_UPRIGHT, HEIGHT_LYING))
    if p.torso_angle is not None:
        cues.append(ramp(p.torso_angle, TORSO_UPRIGHT_DEG, TORSO_LYING_DEG))
    if p.legs_drop is not None:
        cues.append(ramp(p.legs_drop / scale, LEGS_UPRIGHT, LEGS_LYING))
    score = float(np.mean(cues))
    if p.torso_angle is not None and p.torso_angle <= TORSO_UPRIGHT_DEG:
        full = (
            ref is None
            or ref.torso_length is None
            or p.torso_length is None
            or p.torso_length >= TORSO_FORESHORTENED * ref.torso_length
        )
        if full:
            score = min(score, 0.3)
    return score


def is_upright(p: Posture, ref: Reference | None, score: float) -> bool:
    """Standing or sitting up: a narrow box, an upright torso when seen, legs under the hips
    when seen, and (once known) most of the person's upright height."""
    if score > 0.25 or p.aspect > UPRIGHT_MAX_ASPECT:
        return False
    if p.torso_angle is not None and p.torso_angle > TORSO_UPRIGHT_DEG:
        return False
    scale = ref.height if ref is not None else p.height
    if p.legs_drop is not None and p.legs_drop < LEGS_UPRIGHT * scale:
        return False
    return ref is None or p.height >= UPRIGHT_MIN_HEIGHT * ref.height


@dataclass(frozen=True, slots=True)
class Observation:
    """A person seen in the latest frame: from a detector track (`track_id`) or from the pose
    model alone (`track_id` None)."""

    box: np.ndarray
    keypoints: np.ndarray | None
    confidence: float
    track_id: int | None = None


@dataclass
class PostureTrack:
    """One person's recent postures (internal id, never shown or stored)."""

    pid: int
    track_id: int | None
    last_t: float
    box: np.ndarray
    upright: deque[tuple[float, float, float | None]] = field(default_factory=deque)
    """(t, height, torso length) of recent upright observations."""

    def reference(self) -> Reference | None:
        """Upright height: a high quantile of the recent upright heights, so that a person who
        sat down for a while keeps their standing height."""
        if not self.upright:
            return None
        heights = np.array([h for _, h, _ in self.upright])
        torsos = [v for _, _, v in self.upright if v is not None]
        return Reference(
            float(np.quantile(heights, 0.75)),
            float(np.quantile(torsos, 0.75)) if torsos else None,
        )

    def add_upright(self, t: float, p: Posture, keep_s: float) -> None:
        self.upright.append((t, p.height, p.torso_length))
        while self.upright and self.upright[0][0] < t - keep_s:
            self.upright.popleft()


def merge_poses(tracked: list[Observation], poses: Detections) -> list[Observation]:
    """The tracked persons completed with the pose model's persons of the same frame.

    A pose box overlapping a tracked box (IoU ≥ 0.3) is the one the scene already attached to
    it. A tracked person left without keypoints takes those of a pose box that overlaps it
    (a quarter of the smaller box): on a person lying down the detector's box often covers only
    the legs, the pose model's the whole body. A pose box mostly inside a tracked one is the
    same person; any other is a person only the pose model sees.
    """
    out = list(tracked)
    if poses.keypoints is None or len(poses) == 0:
        return out
    if not tracked:
        return [
            Observation(poses.xyxy[j], poses.keypoints[j], float(poses.confidence[j]))
            for j in range(len(poses))
        ]
    boxes = np.stack([np.asarray(o.box, dtype=np.float64) for o in tracked])
    pose_boxes = np.asarray(poses.xyxy, dtype=np.float64)
    iou = iou_matrix(pose_boxes, boxes)
    inter = intersection(pose_boxes, boxes)
    smaller = np.minimum(box_area(pose_boxes)[:, None], box_area(boxes)[None, :])
    inside = inter / np.maximum(smaller, 1e-9)
    free = set(np.flatnonzero(iou.max(axis=1) < 0.3).tolist())
    bare = [i for i, o in enumerate(tracked) if o.keypoints is None]
    pairs = sorted(((inside[j, i], j, i) for j in free for i in bare), reverse=True)
    done: set[int] = set()
    for share, j, i in pairs:
        if share < 0.25 or j not in free or i in done:
            continue
        free.discard(j)
        done.add(i)
        out[i] = Observation(
            pose_boxes[j], poses.keypoints[j], tracked[i].confidence, tracked[i].track_id
        )
    for j in sorted(free):
        if inside[j].max() < 0.6:
            out.append(Observation(pose_boxes[j], poses.keypoints[j], float(poses.confidence[j])))
    return out


def distinct(observations: list[Observation]) -> list[Observation]:
    """One observation per person: of boxes overlapping much (IoU ≥ 0.4, or the smaller one
    80 % inside the other — a detector often boxes a lying body twice, whole and in part), the
    one with keypoints, then the most confident, is kept."""
    order = sorted(
        range(len(observations)),
        key=lambda i: (observations[i].keypoints is None, -observations[i].confidence),
    )
    kept: list[int] = []
    for i in order:
        box = np.asarray(observations[i].box, dtype=np.float64).reshape(1, 4)
        if kept:
            others = np.stack([np.asarray(observations[k].box, dtype=np.float64) for k in kept])
            inter = intersection(box, others)[0]
            smaller = np.minimum(box_area(box)[0], box_area(others))
            if (iou_matrix(box, others)[0] >= 0.4).any() or (
                inter / np.maximum(smaller, 1e-9) >= 0.8
            ).any():
                continue
        kept.append(i)
    return [observations[i] for i in sorted(kept)]


class PostureTracker:
    """Links person observations frame to frame.

    Each frame, observations are assigned to the posture tracks alive (one each, least total
    cost): the cost is the distance between box centres in box sizes, less `same_id_bonus` when
    the detector's tracker gave both the same id. Without that id a pair is allowed up to
    `max_jump` box sizes apart — a fall moves the box centre by about half a body length, and
    the detector's tracker often restarts its id there, or keeps its id on a part of the body
    while the whole body goes to a new id. An observation left over starts a posture track;
    posture tracks unseen for `hold_s` are dropped.
    """

    def __init__(
        self, *, hold_s: float = 2.0, max_jump: float = 1.0, same_id_bonus: float = 0.25
    ) -> None:
        self.hold_s = hold_s
        self.max_jump = max_jump
        self.same_id_bonus = same_id_bonus
        self.tracks: dict[int, PostureTrack] = {}
        self._next = 0

    def _cost(self, tr: PostureTrack, ob: Observation) -> float:
        a, b = tr.box, np.asarray(ob.box, dtype=np.float64)
        size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1], 1.0)
        shift = np.array([(b[0] + b[2]) - (a[0] + a[2]), (b[1] + b[3]) - (a[1] + a[3])]) / 2
        d = float(np.hypot(shift[0], shift[1])) / float(size)
        if ob.track_id is not None and ob.track_id == tr.track_id:
            return d - self.same_id_bonus
        return d if d <= self.max_jump else math.inf

    def update(self, t: float, observations: list[Observation]) -> list[tuple[PostureTrack, int]]:
        """(posture track, index of its observation) for every observation of time `t`."""
        alive = [tr for tr in self.tracks.values() if tr.last_t < t]
        pairs: list[tuple[PostureTrack, int]] = []
        assigned: set[int] = set()
        if alive and observations:
            cost = np.array([[self._cost(tr, ob) for ob in observations] for tr in alive])
            finite = np.where(np.isfinite(cost), cost, 1e6)
            rows, cols = linear_sum_assignment(finite)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if np.isfinite(cost[r, c]):
                    pairs.append((alive[r], c))
                    assigned.add(c)
        for i, ob in enumerate(observations):
            if i not in assigned:
                tr = PostureTrack(self._next, None, t, np.asarray(ob.box, dtype=np.float64))
                self.tracks[tr.pid] = tr
                self._next += 1
                pairs.append((tr, i))
        for tr, i in pairs:
            ob = observations[i]
            tr.last_t = t
            tr.box = np.asarray(ob.box, dtype=np.float64)
            if ob.track_id is not None:
                tr.track_id = ob.track_id
        for pid in [p for p, tr in self.tracks.items() if t - tr.last_t > self.hold_s]:
            del self.tracks[pid]
        return pairs
