"""`wrong_way`: a person or vehicle moves against the allowed direction of a zone.

The movement is measured from the furthest point the object reached *along* the allowed
direction within the last `window_s`: a person who walks the right way, turns and walks back
is measured from where they turned, and a short step back never adds up to `min_distance`.
Positions are smoothed over a few frames so box jitter does not count as movement. With a
ground-plane calibration distances are in metres, which removes the perspective bias (far
objects move fewer pixels).

Each object moving against the direction is one event: the first in a zone raises a signal;
others within its cool-down are attached to it as further events (never dropped).
"""

from __future__ import annotations

import math

import numpy as np

from veilleur.config.situations import WrongWayConfig
from veilleur.scene.state import Scene, TrackState
from veilleur.situations.base import Situation, SituationContext, classes_of
from veilleur.types import Signal


def _smooth(xy: np.ndarray, k: int = 3) -> np.ndarray:
    """Centred running mean over `k` points (shorter at the ends)."""
    if len(xy) < k:
        return xy
    c = np.cumsum(np.vstack([np.zeros((1, xy.shape[1])), xy]), axis=0)
    out = np.empty_like(xy)
    half = k // 2
    for i in range(len(xy)):
        lo, hi = max(0, i - half), min(len(xy), i + half + 1)
        out[i] = (c[hi] - c[lo]) / (hi - lo)
    return out


class WrongWay(Situation):
    id = "wrong_way"
    known_limits = (
        "Wrong way: judged on the movement of boxes over a few seconds; without a ground "
        "calibration distances are in image units, so distant objects must move further before "
        "a signal. Someone stepping aside for others, or a box that jumps between two people "
        "walking close together, can look like movement against the flow."
    )
    bridging_caveat = "13 of 14 wrong ways found on PETS with detect_every 2, against 14"

    def __init__(self, config: WrongWayConfig, context: SituationContext) -> None:
        super().__init__(config, context)
        self.cfg = config
        self.classes = classes_of(list(config.classes))
        self._cos_tol = math.cos(math.radians(config.angle_tolerance_deg))
        self._fired: set[tuple[int, str]] = set()

    def _against(self, scene: Scene, st: TrackState, zone: str) -> tuple[float, float] | None:
        """(start time, confidence) if `st` has gone far enough against the zone's direction."""
        assert scene.geometry is not None
        zg = scene.geometry.zones[zone]
        assert zg.direction is not None
        since = max(st.zones[zone], scene.t - self.cfg.window_s)
        path = st.path_since(since)
        if len(path) < 3:
            return None
        xy = np.stack([p.foot for p in path]).astype(np.float64)
        ground = scene.geometry.ground
        if ground is not None:
            direction = ground.local_direction(xy[0], zg.direction)
            xy = ground.to_metres(xy)
            min_dist = self.cfg.min_distance_m
        else:
            direction = zg.direction
            min_dist = self.cfg.min_distance * scene.geometry.height
        xy = _smooth(xy)
        along = xy @ direction
        peak = int(np.argmax(along))
        back = xy[-1] - xy[peak]
        dist = float(np.linalg.norm(back))
        if along[peak] - along[-1] < min_dist or dist <= 0:
            return None
        if float(-(back @ direction)) / dist < self._cos_tol:
            return None  # mostly sideways
        if path[-1].t - path[peak].t < self.cfg.min_duration_s:
            return None
        confidence = float(np.mean([p.confidence for p in path[peak:]]))
        return path[peak].t, confidence

    def update(self, scene: Scene) -> list[Signal]:
        out: list[Signal] = []
        self._fired &= {(tid, z) for (tid, z) in self._fired if tid in scene.tracks}
        for zone in self.cfg.zones:
            for st in scene.members(zone, self.classes):
                if (st.track_id, zone) in self._fired:
                    continue
                found = self._against(scene, st, zone)
                if found is None:
                    continue
                self._fired.add((st.track_id, zone))
                start, confidence = found
                if self.attach_if_cooling(scene, zone, start, [st.box], confidence):
                    continue  # another wrong-way movement of the episode signalled already
                sig = self.signal(scene, zone, start, [st.box], confidence)
                if sig is not None:
                    out.append(sig)
        return out
