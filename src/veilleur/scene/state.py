"""Per-camera scene state: tracks with a short history, zone membership, motion.

The history is short on purpose (seconds): situations need to know how something moved a
moment ago, never who it was. Forgotten tracks leave nothing behind.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from veilleur.config.model import CameraConfig
from veilleur.perception.nms import iou_matrix
from veilleur.scene.geometry import CameraGeometry
from veilleur.types import PERSON, Detections, Frame


@dataclass(frozen=True, slots=True)
class TrackPoint:
    t: float
    foot: np.ndarray
    """Bottom centre of the box, pixels: where the object touches the ground."""
    box: np.ndarray
    confidence: float
    keypoints: np.ndarray | None = None
    """17 COCO keypoints (x, y, score) in pixels when a pose model runs, else None."""


@dataclass
class TrackState:
    track_id: int
    class_id: int
    first_t: float
    last_t: float
    hits: int = 0
    points: deque[TrackPoint] = field(default_factory=deque)
    zones: dict[str, float] = field(default_factory=dict)
    """Zone name → time the track entered it (kept through short exits, see `zone_grace_s`)."""
    inside: set[str] = field(default_factory=set)
    """Zones the track's foot is in on the latest frame."""
    _outside_since: dict[str, float] = field(default_factory=dict)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    """Pixels per second, from a line fit over the last second."""
    velocity_m: np.ndarray | None = None
    """Metres per second on the ground, when the camera is calibrated."""

    @property
    def last(self) -> TrackPoint:
        return self.points[-1]

    @property
    def foot(self) -> np.ndarray:
        return self.points[-1].foot

    @property
    def box(self) -> np.ndarray:
        return self.points[-1].box

    @property
    def speed(self) -> float:
        return float(np.linalg.norm(self.velocity))

    def dwell(self, zone: str, t: float) -> float:
        entered = self.zones.get(zone)
        return 0.0 if entered is None else t - entered

    def path_since(self, since: float) -> list[TrackPoint]:
        return [p for p in self.points if p.t >= since]


@dataclass(frozen=True, slots=True)
class LineCrossing:
    line: str
    side: str
    """Side moved onto: 'left' or 'right' (walking from the line's first point to its second)."""
    t: float
    track: TrackState


class Scene:
    """What one camera sees now, built from tracked detections frame after frame."""

    def __init__(
        self,
        camera: str,
        config: CameraConfig,
        *,
        min_hits: int = 2,
        lost_s: float = 2.0,
        history_s: float = 10.0,
        zone_grace_s: float = 0.5,
    ) -> None:
        self.camera = camera
        self.config = config
        self.min_hits = min_hits
        self.lost_s = lost_s
        self.history_s = history_s
        self.zone_grace_s = zone_grace_s
        self.geometry: CameraGeometry | None = None
        self.tracks: dict[int, TrackState] = {}
        self.visible: list[TrackState] = []
        """Confirmed tracks seen in the latest frame."""
        self.detections = Detections.empty()
        """All detections of the latest frame (tracked or not)."""
        self.crossings: list[LineCrossing] = []
        """Line crossings that happened in the latest frame."""
        self.poses = Detections.empty()
        """Every person the pose model found in the latest frame, with keypoints, tracked or
        not: a lying person is often lost by the detector but still found by the pose model."""
        self.t = 0.0
        self.frame_index = -1
        self.image: np.ndarray | None = None

    @property
    def width(self) -> int:
        assert self.geometry is not None
        return self.geometry.width

    @property
    def height(self) -> int:
        assert self.geometry is not None
        return self.geometry.height

    def update(
        self,
        frame: Frame,
        tracked: Detections,
        detections: Detections | None = None,
        poses: Detections | None = None,
    ) -> None:
        """Take in one analysed frame: `tracked` are the detections that belong to a track,
        `detections` everything seen (default: `tracked`), `poses` persons with keypoints from
        a pose model, attached to the person track whose box they overlap best."""
        if self.geometry is None or (self.geometry.width, self.geometry.height) != (
            frame.width,
            frame.height,
        ):
            self.geometry = CameraGeometry.build(self.config, frame.width, frame.height)
        geo = self.geometry
        self.t = frame.t
        self.frame_index = frame.index
        self.image = frame.image
        self.detections = detections if detections is not None else tracked
        self.crossings = []
        visible: list[TrackState] = []

        feet = (
            np.stack([(tracked.xyxy[:, 0] + tracked.xyxy[:, 2]) / 2, tracked.xyxy[:, 3]], axis=1)
            if len(tracked)
            else np.zeros((0, 2))
        )
        inside = {name: z.contains(feet) for name, z in geo.zones.items()}

        self.poses = poses if poses is not None else Detections.empty()
        keypoints = self._match_poses(tracked, poses)
        assert tracked.track_id is not None
        for i, tid in enumerate(tracked.track_id.tolist()):
            st = self.tracks.get(tid)
            if st is None:
                st = TrackState(tid, int(tracked.class_id[i]), frame.t, frame.t)
                self.tracks[tid] = st
            prev = st.points[-1] if st.points else None
            point = TrackPoint(
                frame.t,
                feet[i].copy(),
                tracked.xyxy[i].copy(),
                float(tracked.confidence[i]),
                keypoints[i],
            )
            st.points.append(point)
            st.last_t = frame.t
            st.hits += 1
            while st.points and st.points[0].t < frame.t - self.history_s:
                st.points.popleft()
            self._update_velocity(st)
            st.inside = {name for name, mask in inside.items() if mask[i]}
            for name, mask in inside.items():
                if mask[i]:
                    st.zones.setdefault(name, frame.t)
                    st._outside_since.pop(name, None)
                elif name in st.zones:
                    since = st._outside_since.setdefault(name, frame.t)
                    if frame.t - since >= self.zone_grace_s:
                        del st.zones[name]
                        del st._outside_since[name]
            if st.hits >= self.min_hits:
                visible.append(st)
                if prev is not None:
                    for line in geo.lines.values():
                        side = line.crossing(prev.foot, point.foot)
                        if side is not None:
                            self.crossings.append(LineCrossing(line.name, side, frame.t, st))

        # Forget tracks unseen for longer than the tracker keeps them.
        for tid in [k for k, s in self.tracks.items() if frame.t - s.last_t > self.lost_s]:
            del self.tracks[tid]
        self.visible = visible

    @staticmethod
    def _match_poses(tracked: Detections, poses: Detections | None) -> list[np.ndarray | None]:
        """Keypoints for each tracked box: its own, or those of the pose box overlapping it
        best (IoU ≥ 0.3), or None."""
        if tracked.keypoints is not None:
            return [kp.copy() for kp in tracked.keypoints]
        out: list[np.ndarray | None] = [None] * len(tracked)
        if poses is None or poses.keypoints is None or len(poses) == 0 or len(tracked) == 0:
            return out
        persons = np.flatnonzero(tracked.class_id == PERSON)
        if len(persons) == 0:
            return out
        iou = iou_matrix(tracked.xyxy[persons], poses.xyxy)
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] >= 0.3:
                out[int(persons[r])] = poses.keypoints[c].copy()
        return out

    def _update_velocity(self, st: TrackState) -> None:
        recent = [p for p in st.points if p.t >= st.last_t - 1.0]
        if len(recent) < 2:
            return
        ts = np.array([p.t for p in recent])
        xy = np.stack([p.foot for p in recent])
        dt = ts - ts.mean()
        denom = float((dt**2).sum())
        if denom <= 0:
            return
        st.velocity = (dt[:, None] * (xy - xy.mean(axis=0))).sum(axis=0) / denom
        ground = self.geometry.ground if self.geometry else None
        if ground is not None:
            xy_m = ground.to_metres(xy)
            st.velocity_m = (dt[:, None] * (xy_m - xy_m.mean(axis=0))).sum(axis=0) / denom

    def members(self, zone: str, classes: frozenset[int] | None = None) -> list[TrackState]:
        """Confirmed visible tracks whose foot is in `zone` now (optionally only of `classes`)."""
        return [
            s
            for s in self.visible
            if zone in s.inside and (classes is None or s.class_id in classes)
        ]
