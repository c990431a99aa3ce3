"""Dense optical flow, sampled where people are.

The flow is DIS (OpenCV's Dense Inverse Search, "ultrafast" preset) on a grey copy of the frame
`work_width` pixels wide: 1 to 2 ms per frame at 320 px on one core, where Farnebäck costs
15 to 35 ms for a field that, at 5 analysed frames per second, follows running people less
well. It is measured from the current frame back to the previous one, so each vector sits
where the moving thing is now (where its detection box is), and divided by the time between the
two frames (the analysis rate does not change its size).

`person_motion` reads the flow inside each person's box (the median over the middle of the
box: torso and legs, little background) and divides it by the person's height in pixels:
a velocity in body heights per second, which means the same near and far (a walk is about
0.7, a run 1.5 or more as measured here, since the flow of small people is smoothed). Sampling
the flow on people, not on every moving pixel, keeps what is not a person out of the
measure: a train or a bus crossing the zone moves no one's box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def small_grey(image: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """A grey copy of `image` at most `width` pixels wide, and its scale.

    Halvings (`pyrDown`, which low-passes) then one linear step: as smooth as an area resize
    and ten times cheaper at a non-integer ratio (0.4 ms against 6.6 ms from 768×576 to 320).
    """
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = grey.shape[:2]
    scale = min(1.0, width / w)
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    while grey.shape[1] >= 2 * size[0] and grey.shape[0] >= 2 * size[1]:
        grey = cv2.pyrDown(grey)
    if (grey.shape[1], grey.shape[0]) != size:
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR)
    return grey, scale


@dataclass(frozen=True, slots=True)
class FlowFrame:
    flow: np.ndarray
    """(rows, cols, 2) float32: x, y velocity in work pixels per second, at the position of
    each pixel in the current frame."""
    scale: float
    """Work pixels per frame pixel."""
    t: float
    dt: float
    """Seconds between the two frames the flow was measured on."""
    camera_moved: bool
    """True when the border of the picture moved as one (pan, tilt, a shaken pole)."""


class DenseFlow:
    """Flow between consecutive analysed frames of one camera."""

    def __init__(
        self, *, work_width: int = 320, max_gap_s: float = 1.0, border: float = 0.08
    ) -> None:
        self.work_width = work_width
        self.max_gap_s = max_gap_s
        self.border = border
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._prev: np.ndarray | None = None
        self._prev_t = 0.0

    def update(self, image: np.ndarray, t: float) -> FlowFrame | None:
        """The flow from the previous frame to this one, or None (first frame, a gap longer
        than `max_gap_s`, or a change of size)."""
        grey, scale = small_grey(image, self.work_width)
        prev, prev_t = self._prev, self._prev_t
        self._prev, self._prev_t = grey, t
        dt = t - prev_t
        if prev is None or prev.shape != grey.shape or not 0 < dt <= self.max_gap_s:
            return None
        # Current → previous, negated: vectors anchored on the current frame's pixels.
        out = np.zeros((*grey.shape, 2), dtype=np.float32)
        flow = np.asarray(self._dis.calc(grey, prev, out)) * np.float32(-1.0 / dt)
        return FlowFrame(flow, scale, t, dt, self._camera_moved(flow))

    def _camera_moved(self, flow: np.ndarray) -> bool:
        """Whether most of the picture's border moves the same way (a fixed camera sees a
        still border; people cross it but never fill it)."""
        rows, cols = flow.shape[:2]
        b = max(2, round(self.border * min(rows, cols)))
        strips = np.concatenate(
            [
                flow[:b].reshape(-1, 2),
                flow[-b:].reshape(-1, 2),
                flow[b:-b, :b].reshape(-1, 2),
                flow[b:-b, -b:].reshape(-1, 2),
            ]
        )
        median = np.median(strips, axis=0)
        speed = float(np.hypot(median[0], median[1]))
        # Below 2 % of the width per second the border is still.
        if speed < 0.02 * cols:
            return False
        agree = np.linalg.norm(strips - median, axis=1) < 0.3 * speed
        return bool(agree.mean() > 0.6)


def person_motion(frame: FlowFrame, boxes: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """(N, 2) velocities in body heights per second of the persons in `boxes` (frame pixels).

    `heights` are the persons' heights in frame pixels (the box height, or the expected height
    of a person standing there when the box is cut by an occluder).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * frame.scale
    n = len(b)
    if n == 0:
        return np.zeros((0, 2))
    rows, cols = frame.flow.shape[:2]
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    # The middle half of the width and 20-90 % of the height: torso and legs.
    c1 = np.clip(np.floor(b[:, 0] + 0.25 * w), 0, cols - 1).astype(np.int64)
    c2 = np.clip(np.ceil(b[:, 2] - 0.25 * w), c1 + 1, cols).astype(np.int64)
    r1 = np.clip(np.floor(b[:, 1] + 0.2 * h), 0, rows - 1).astype(np.int64)
    r2 = np.clip(np.ceil(b[:, 3] - 0.1 * h), r1 + 1, rows).astype(np.int64)
    patches = [frame.flow[r1[i] : r2[i], c1[i] : c2[i]].reshape(-1, 2) for i in range(n)]
    label = np.repeat(np.arange(n), [len(p) for p in patches])
    values = np.concatenate(patches)
    # Per-box medians in one pass: sort by box then value, take each box's middle element
    # (one call per box to np.median costs ten times more with 20 people).
    counts = np.bincount(label, minlength=n)
    middle = np.cumsum(counts) - counts + counts // 2
    median = np.stack(
        [values[np.lexsort((values[:, k], label)), k][middle] for k in range(2)], axis=1
    )
    return median / np.maximum(np.asarray(heights, dtype=np.float64) * frame.scale, 1.0)[:, None]


@dataclass(frozen=True, slots=True)
class CrowdMotion:
    """How the people of one zone move on one frame."""

    people: int
    """Detected persons in the zone."""
    speed: float
    """Mean speed, body heights per second."""
    velocity: tuple[float, float]
    """Mean velocity, body heights per second, image axes (x right, y down)."""
    coherence: float
    """Length of the mean direction of the moving persons: 1 all one way, 0 every way."""
    radial: float
    """Mean cosine between each moving person's direction and the direction away from the
    persons' centre: near 1 for a dispersal, -1 for a convergence, 0 for a flow."""

    @classmethod
    def of(cls, feet: np.ndarray, velocities: np.ndarray, moving_speed: float = 0.3) -> CrowdMotion:
        """Summarise persons at `feet` (N, 2 pixels) moving at `velocities` (N, 2)."""
        n = len(velocities)
        if n == 0:
            return cls(0, 0.0, (0.0, 0.0), 0.0, 0.0)
        speed = np.hypot(velocities[:, 0], velocities[:, 1])
        mean_v = velocities.mean(axis=0)
        moving = speed >= moving_speed
        coherence = radial = 0.0
        if moving.any():
            unit = velocities[moving] / speed[moving, None]
            coherence = float(np.hypot(*unit.mean(axis=0)))
            away = feet[moving] - feet.mean(axis=0)
            dist = np.hypot(away[:, 0], away[:, 1])
            ok = dist > 1e-6
            if ok.any():
                radial = float(np.mean(np.sum(unit[ok] * away[ok], axis=1) / dist[ok]))
        return cls(n, float(speed.mean()), (float(mean_v[0]), float(mean_v[1])), coherence, radial)
