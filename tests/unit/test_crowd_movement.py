"""`crowd_movement` on drawn clips: textured "people" moving over a textured ground, their boxes
given to the real pipeline by a scripted detector, the optical flow measured on the pictures.

Each clip checks one side: a sudden run or scattering raises one signal; a steady flow, a slow
build-up, one runner, a large object crossing, a group walking into an empty zone and a
panning camera raise none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.perception.flow import CrowdMotion, DenseFlow, person_motion
from veilleur.pipeline import CameraPipeline
from veilleur.situations.crowd_movement import CrowdMovement
from veilleur.types import Detections, Frame, Signal

W, H = 480, 270
FPS = 5.0
BODY = 40.0  # person height in pixels: speeds below are in body heights per second
ONSET = 8.0


def _texture(rng: np.random.Generator, h: int, w: int, lo: int, hi: int) -> np.ndarray:
    """Blocky random texture: enough detail for the optical flow to lock on."""
    small = rng.integers(lo, hi, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)[:h, :w]


@dataclass
class Crowd:
    """People as textured 16×40 rectangles whose feet follow `path(t) -> (N, 2)`."""

    path: Callable[[float], np.ndarray]
    n: int
    seed: int = 0
    vehicle: Callable[[float], float | None] | None = None
    """x of the left end of a 200×70 textured block crossing the zone, or None when absent."""
    pan: Callable[[float], float] | None = None
    """Horizontal shift of the whole picture (a camera panning), pixels."""

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.ground = _texture(rng, H, W + 400, 60, 120)
        self.sprites = [_texture(rng, 40, 16, 130, 255) for _ in range(self.n)]
        self.block = _texture(rng, 70, 200, 0, 255)

    def boxes(self, t: float) -> np.ndarray:
        feet = self.path(t)
        return np.stack(
            [feet[:, 0] - 8, feet[:, 1] - BODY, feet[:, 0] + 8, feet[:, 1]], axis=1
        ).reshape(-1, 4)

    def image(self, t: float) -> np.ndarray:
        shift = round(self.pan(t)) if self.pan else 0
        img = self.ground[:, 200 + shift : 200 + shift + W].copy()
        # The block runs behind the people (a train behind a platform's crowd).
        if self.vehicle is not None and (vx := self.vehicle(t)) is not None:
            x = round(vx)
            xa, xb = max(0, x), min(W, x + 200)
            if xb > xa:
                img[40:110, xa:xb] = self.block[:, xa - x : xb - x]
        for sprite, (x1, y1, _, _) in zip(self.sprites, self.boxes(t), strict=True):
            x, y = round(x1), round(y1)
            xa, ya, xb, yb = max(0, x), max(0, y), min(W, x + 16), min(H, y + 40)
            if xb > xa and yb > ya:
                img[ya:yb, xa:xb] = sprite[ya - y : yb - y, xa - x : xb - x]
        return img


class Scripted:
    name = "scripted"

    def __init__(self, crowd: Crowd) -> None:
        self.crowd = crowd
        self.t = 0.0

    def detect(self, image: np.ndarray) -> Detections:
        b = self.crowd.boxes(self.t)
        inside = (b[:, 2] > 0) & (b[:, 0] < W) & (b[:, 3] > 0) & (b[:, 1] < H)
        b = b[inside]
        return Detections(xyxy=b, confidence=np.full(len(b), 0.9), class_id=np.zeros(len(b)))


def run(crowd: Crowd, seconds: float, **params: object) -> tuple[list[Signal], CrowdMovement]:
    site = parse_config(
        {
            "perception": {"motion_gating": False},
            "cameras": {
                "cam": {
                    "source": "synthetic",
                    "analysis_fps": FPS,
                    "zones": {"plaza": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
                    "situations": {
                        "crowd_movement": {"enabled": True, "zones": ["plaza"], **params}
                    },
                }
            },
        }
    )
    det = Scripted(crowd)
    pipe = CameraPipeline("cam", site, detector=det)
    situation = pipe.situations[0]
    assert isinstance(situation, CrowdMovement)
    out: list[Signal] = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        det.t = t
        out += pipe.process(Frame(crowd.image(t), t, i))
    return out, situation


def _grid(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(60, W - 60, n), rng.uniform(110, H - 10, n)], axis=1)


def _walk(n: int, seed: int, speed: float = 0.7) -> np.ndarray:
    """Velocities (pixels per second) of people walking both ways along x."""
    rng = np.random.default_rng(seed + 1)
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return np.stack([sign * speed * BODY * rng.uniform(0.85, 1.15, n), np.zeros(n)], axis=1)


def _bounce(start: np.ndarray, velocity: np.ndarray, t: float) -> np.ndarray:
    """Positions moving at `velocity` and bouncing between x = 40 and W - 40."""
    span = W - 80
    x = (start[:, 0] - 40 + velocity[:, 0] * t) % (2 * span)
    x = np.where(x > span, 2 * span - x, x) + 40
    return np.stack([x, start[:, 1] + velocity[:, 1] * t], axis=1)


def test_flow_follows_a_moving_patch_and_flags_a_panning_camera() -> None:
    rng = np.random.default_rng(3)
    ground = _texture(rng, H, W + 100, 40, 200)
    patch = _texture(rng, 60, 60, 0, 255)
    flow = DenseFlow(work_width=320)

    def frame(x: int, pan: int = 0) -> np.ndarray:
        img = ground[:, 50 + pan : 50 + pan + W].copy()
        img[100:160, x : x + 60] = patch
        return img

    assert flow.update(frame(100), 0.0) is None  # nothing to compare with yet
    f = flow.update(frame(106), 0.2)  # 6 px in 0.2 s: 30 px/s to the right
    assert f is not None and not f.camera_moved
    v = person_motion(f, np.array([[106, 100, 166, 160]]), np.array([30.0]))
    assert v[0] == pytest.approx([1.0, 0.0], abs=0.15)  # 30 px/s over a 30 px body
    still = person_motion(f, np.array([[300, 100, 340, 160]]), np.array([30.0]))
    assert np.hypot(*still[0]) < 0.1
    assert flow.update(frame(106, pan=8), 0.4).camera_moved  # type: ignore[union-attr]
    assert flow.update(frame(106), 3.0) is None  # a gap: no flow across it


def test_crowd_motion_summary_tells_dispersal_from_flow() -> None:
    rng = np.random.default_rng(0)
    feet = rng.uniform(0, 100, (30, 2))
    away = feet - feet.mean(axis=0)
    scatter = CrowdMotion.of(feet, 2.0 * away / np.linalg.norm(away, axis=1, keepdims=True))
    assert scatter.radial > 0.95 and scatter.coherence < 0.3
    assert scatter.speed == pytest.approx(2.0)
    flow = CrowdMotion.of(feet, np.tile([0.7, 0.0], (30, 1)))
    assert flow.coherence == pytest.approx(1.0) and abs(flow.radial) < 0.3
    gather = CrowdMotion.of(feet, -away / np.linalg.norm(away, axis=1, keepdims=True))
    assert gather.radial < -0.95
    assert CrowdMotion.of(np.zeros((0, 2)), np.zeros((0, 2))).people == 0


def test_walking_crowd_breaking_into_a_run_raises_one_signal() -> None:
    n = 14
    start, walk = _grid(n, 1), _walk(n, 1)
    run_v = np.array([2.0 * BODY, 0.0])

    def path(t: float) -> np.ndarray:
        if t < ONSET:
            return _bounce(start, walk, t)
        at = _bounce(start, walk, ONSET)
        return at + run_v * (t - ONSET) * np.linspace(0.8, 1.2, n)[:, None]

    signals, situation = run(Crowd(path, n), ONSET + 3.0)
    assert len(signals) == 1
    s = signals[0]
    assert s.situation == "crowd_movement" and s.zone == "plaza"
    assert ONSET - 0.5 <= s.start_s <= ONSET + 1.0
    assert s.end_s - s.start_s >= 1.0 - 1e-6  # min_duration_s
    assert 0.5 <= s.confidence <= 1.0
    assert situation.readings["plaza"].motion.coherence > 0.9


def test_standing_crowd_scattering_from_a_point_raises_one_signal() -> None:
    n = 14
    start = _grid(n, 2)
    centre = start.mean(axis=0)
    away = (start - centre) / np.linalg.norm(start - centre, axis=1, keepdims=True)

    def path(t: float) -> np.ndarray:
        sway = 1.5 * np.sin(t * 2.0 + np.arange(n))[:, None]
        return start + sway + away * 1.8 * BODY * max(0.0, t - ONSET)

    signals, situation = run(Crowd(path, n, seed=2), ONSET + 2.4)
    assert len(signals) == 1 and ONSET - 0.5 <= signals[0].start_s <= ONSET + 1.0
    assert situation.readings["plaza"].motion.radial > 0.6


def test_steady_flows_raise_nothing() -> None:
    n = 14
    start, walk = _grid(n, 3), _walk(n, 3)
    signals, situation = run(Crowd(lambda t: _bounce(start, walk, t), n, seed=3), 16.0)
    assert signals == []
    reading = situation.readings["plaza"]
    assert reading.ready and 0.4 <= reading.speed <= 1.0  # the walk is measured


EXIT = np.array([0.83, -0.55])  # a unit direction: right and away


def test_slow_build_up_like_a_match_end_raises_nothing() -> None:
    """People standing start walking one after another over 16 s."""
    n = 14
    start = _grid(n, 4)
    leave = np.linspace(4.0, 20.0, n)
    speed = 0.8 * BODY

    def path(t: float) -> np.ndarray:
        walked = np.clip(t - leave, 0, None) * speed
        return start + walked[:, None] * EXIT

    assert run(Crowd(path, n, seed=4), 22.0)[0] == []


def test_the_same_build_up_made_sudden_is_signalled() -> None:
    """Control for the test above: the same people leaving all at once do raise a signal."""
    n = 14
    start = _grid(n, 4)
    speed = 1.6 * BODY

    def path(t: float) -> np.ndarray:
        return start + max(0.0, t - ONSET) * speed * EXIT

    assert len(run(Crowd(path, n, seed=4), ONSET + 3.0)[0]) == 1


def test_one_runner_in_a_walking_crowd_raises_nothing() -> None:
    n = 14
    start, walk = _grid(n, 5), _walk(n, 5)

    def path(t: float) -> np.ndarray:
        p = _bounce(start, walk, t)
        p[0] = [40 + 3.0 * BODY * max(0.0, t - ONSET) % (W - 80), 200]
        return p

    assert run(Crowd(path, n, seed=5), ONSET + 6.0)[0] == []


def test_a_train_crossing_the_zone_raises_nothing() -> None:
    """A large textured block (not a detected person) sweeps past standing people."""
    n = 10
    start = _grid(n, 6)

    def vehicle(t: float) -> float | None:
        return -220 + 8.0 * BODY * (t - ONSET) if t >= ONSET else None

    crowd = Crowd(lambda t: start + 1.5 * np.sin(t + np.arange(n))[:, None], n, 6, vehicle)
    assert run(crowd, ONSET + 3.0)[0] == []


def test_a_group_walking_into_an_empty_zone_raises_nothing() -> None:
    n = 10
    rows = _grid(n, 7)

    def path(t: float) -> np.ndarray:
        # Off the picture on the left until 4 s, then walking in at 0.8 body heights per second.
        x = -130 + 0.8 * BODY * max(0.0, t - 4.0) + 10 * np.arange(n)
        return np.stack([x, rows[:, 1]], axis=1)

    assert run(Crowd(path, n, seed=7), 14.0)[0] == []


def test_min_speed_ignores_a_group_setting_off_at_a_walk() -> None:
    """People waiting at a crossing all start walking: a sudden collective change, signalled
    by default, ignored with `min_speed` above a walk."""
    n = 10
    start = _grid(n, 10)

    def path(t: float) -> np.ndarray:
        return start + np.array([0.8 * BODY * max(0.0, t - ONSET), 0.0])

    assert len(run(Crowd(path, n, seed=10), ONSET + 3.0)[0]) == 1
    assert run(Crowd(path, n, seed=10), ONSET + 3.0, min_speed=1.0)[0] == []


def test_a_panning_camera_raises_nothing() -> None:
    n = 14
    start = _grid(n, 8)

    def pan(t: float) -> float:
        return 0.0 if t < ONSET else min(150.0, 90.0 * (t - ONSET))

    def path(t: float) -> np.ndarray:
        return start - np.array([pan(t), 0.0])  # people stand still on the moving picture

    assert run(Crowd(path, n, seed=8, pan=pan), ONSET + 2.0)[0] == []


def test_too_few_people_is_not_a_crowd() -> None:
    n = 3
    start, walk = _grid(n, 9), _walk(n, 9)

    def path(t: float) -> np.ndarray:
        p = _bounce(start, walk, min(t, ONSET))
        return p + np.array([2.0 * BODY * max(0.0, t - ONSET), 0.0])

    assert run(Crowd(path, n, seed=9), ONSET + 3.0)[0] == []
