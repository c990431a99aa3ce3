"""Synthetic crowd clips for `crowd_movement` and `excessive_density`.

No real footage here shows a surge, a dispersal or a dense CCTV crowd, so these clips are
composed from real imagery: the empty PETS 2009 S2L1 plaza (the per-pixel median of its
frames, which removes the walkers) and the real people of that video, cut out of its frames
with their ground-truth boxes and a difference against that background, frame after frame, so
that each pasted person keeps their own walking cycle. People move on the ground plane in
metres and are drawn with the PETS camera's own Tsai calibration (position, size, perspective
and order of occlusion), so the detector sees real people at credible sizes and the density
in persons per m² of each clip is known exactly.

Clips (640×360, 10 fps, 24–30 s, H.264):

- crowd movement, positive: a dispersal from a point, a walking crowd breaking into a run, a
  standing crowd surging forwards;
- crowd movement, negative (the field traps): steady flows in both directions, a gradual
  build-up of the flow (the end of a match), a train-like object arriving and stopping, one
  runner crossing a walking crowd;
- density: the number of people in a zone rising above the threshold (per m² with a ground
  calibration, and per zone without one), and the same zones staying below it.

The expected intervals come from the simulated positions, never from the situation modules.
"""

from __future__ import annotations

import math
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import yaml
from shapely import contains_xy
from shapely.geometry import Polygon, box

from veilleur.evaluation.truth import Clip, ExpectedSignal

_REPO = Path(__file__).resolve().parents[4]
WIDTH, HEIGHT = 640, 360
FPS = 10.0
#: Rows of the 768×576 PETS frame kept (a 16:9 band over the plaza), then scaled to 640×360.
CROP_TOP, CROP_ROWS = 110, 432
SCALE = WIDTH / 768.0
PERSON_HEIGHT_M = 1.75
#: PETS people walk ~1 m/s filmed at ~7 fps: one recorded frame of a walking cycle per 0.15 m.
STRIDE_PER_FRAME_M = 0.15
#: Time after the event's onset by which the truth interval closes (signals may be raised
#: after their minimum duration, plus the evaluation's own tolerance).
MOVEMENT_WINDOW_S = 4.0
DENSITY_MIN_DURATION_S = 5.0
DENSITY_WINDOW_S = DENSITY_MIN_DURATION_S + 5.0


def pets_dir() -> Path:
    shared = Path(os.environ.get("VEILLEUR_SHARED", _REPO.parent / "shared"))
    return shared / "data" / "pets2009_s2l1"


# ---------------------------------------------------------------------------------------------
# The PETS View_001 camera (Tsai model, millimetres) and the ground homography it gives.


class TsaiCamera:
    """Projects world points (metres, Z up, ground at Z = 0) to PETS pixels (768×576)."""

    def __init__(self, calibration_xml: Path) -> None:
        root = ET.parse(calibration_xml).getroot()

        def attrs(tag: str) -> dict[str, float]:
            node = root.find(tag)
            if node is None:
                raise ValueError(f"{calibration_xml}: no <{tag}>")
            return {k: float(v) for k, v in node.attrib.items()}

        geo, intr, ext = attrs("Geometry"), attrs("Intrinsic"), attrs("Extrinsic")
        sa, ca = math.sin(ext["rx"]), math.cos(ext["rx"])
        sb, cb = math.sin(ext["ry"]), math.cos(ext["ry"])
        sg, cg = math.sin(ext["rz"]), math.cos(ext["rz"])
        # Tsai's rotation convention (R = Rz·Ry·Rx, as in Willson's reference implementation).
        self.r = np.array(
            [
                [cb * cg, cg * sa * sb - ca * sg, sa * sg + ca * cg * sb],
                [cb * sg, sa * sb * sg + ca * cg, ca * sb * sg - cg * sa],
                [-sb, cb * sa, ca * cb],
            ]
        )
        self.t = np.array([ext["tx"], ext["ty"], ext["tz"]])
        self.focal, self.kappa1 = intr["focal"], intr["kappa1"]
        self.cx, self.cy, self.sx = intr["cx"], intr["cy"], intr["sx"]
        self.dpx, self.dpy = geo["dpx"], geo["dpy"]

    def project(self, world_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) metres → (N, 2) pixels and (N,) depth (≤ 0: behind the camera)."""
        cam = np.atleast_2d(world_m) * 1000.0 @ self.r.T + self.t
        z = cam[:, 2]
        safe = np.where(np.abs(z) < 1e-6, 1e-6, z)
        xu, yu = self.focal * cam[:, 0] / safe, self.focal * cam[:, 1] / safe
        xd, yd = xu.copy(), yu.copy()
        for _ in range(10):  # undistorted = distorted·(1 + κ r²), solved by fixed point
            k = 1.0 + self.kappa1 * (xd**2 + yd**2)
            xd, yd = xu / k, yu / k
        px = np.stack([self.sx * xd / self.dpx + self.cx, yd / self.dpy + self.cy], axis=1)
        return px, z

    def ground_homography(self) -> np.ndarray:
        """3×3 homography from PETS pixels to ground metres, fitted on a grid of the ground."""
        gx, gy = np.meshgrid(np.linspace(-25, 15, 41), np.linspace(-25, 15, 41))
        ground = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
        px, z = self.project(ground)
        ok = (z > 0) & (px[:, 0] >= 0) & (px[:, 0] < 768) & (px[:, 1] >= 0) & (px[:, 1] < 576)
        h, _ = cv2.findHomography(px[ok], ground[ok, :2], 0)
        return np.asarray(h)


def to_out(px: np.ndarray) -> np.ndarray:
    """PETS pixels → pixels of the 640×360 clips."""
    return np.stack([px[:, 0] * SCALE, (px[:, 1] - CROP_TOP) * SCALE], axis=1)


# ---------------------------------------------------------------------------------------------
# Real people cut out of PETS.


@dataclass
class Sprite:
    image: np.ndarray
    """BGR crop."""
    alpha: np.ndarray
    """0..1 float32, the person's silhouette."""
    foot_x: float
    """Column of the foot point in the crop."""
    height: float
    """Rows from the top of the crop to the foot point."""


@dataclass
class Walker:
    frames: list[Sprite]
    direction: int
    """+1 when the person walked towards the right of the image, -1 to the left."""


@dataclass
class Stage:
    camera: TsaiCamera
    background: np.ndarray
    """640×360 BGR: the empty plaza."""
    walkers: list[Walker]
    origin: np.ndarray
    """Ground point (metres) at the centre of the local frame used by the scenarios."""
    axes: np.ndarray
    """2×2: rows are the local u (image right) and w (away from the camera) ground axes."""

    def to_ground(self, uw: np.ndarray) -> np.ndarray:
        return self.origin + np.atleast_2d(uw) @ self.axes

    def ground_to_px(self, ground: np.ndarray, z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        g = np.atleast_2d(ground)
        px, depth = self.camera.project(np.c_[g, np.full(len(g), z)])
        return to_out(px), depth

    def local_to_px(self, uw: np.ndarray, z: float = 0.0) -> np.ndarray:
        return self.ground_to_px(self.to_ground(uw), z)[0]


def _read_frames(video: Path, every: int = 1) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                out.append(frame.to_ndarray(format="bgr24"))
    return out


def _cut_out(frame: np.ndarray, bg: np.ndarray, box: np.ndarray) -> Sprite | None:
    """The person in `box` (x, y, w, h) as a sprite, or None when the cut is not clean."""
    x, y, w, h = box
    x1, y1 = max(0, int(x) - 3), max(0, int(y) - 3)
    x2, y2 = min(frame.shape[1], int(x + w) + 4), min(frame.shape[0], int(y + h) + 4)
    crop, back = frame[y1:y2, x1:x2], bg[y1:y2, x1:x2]
    if crop.shape[0] < 40 or crop.shape[1] < 12:
        return None
    diff = np.abs(crop.astype(np.int16) - back.astype(np.int16)).max(axis=2)
    mask = (cv2.GaussianBlur(diff.astype(np.uint8), (3, 3), 0) > 28).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, iterations=2)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n < 2:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = (labels == biggest).astype(np.uint8)
    fill = mask.sum() / float(w * h)
    rows = np.flatnonzero(mask.any(axis=1))
    if not 0.3 <= fill <= 0.9 or rows[-1] - rows[0] < 0.8 * h:
        return None  # a shadow, a bit of another person, or a person cut in half
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)
    foot_y = float(rows[-1] + 1)
    foot_x = float(np.mean(np.flatnonzero(mask[int(rows[-1])])))
    top = int(rows[0])
    return Sprite(crop[top:].copy(), alpha[top:].copy(), foot_x, foot_y - top)


def build_stage(pets: Path | None = None) -> Stage:
    """The plaza background, the PETS people as sprites, and the local ground frame."""
    pets = pets or pets_dir()
    video = pets / "vtest_PETS2009_S2L1_View001.avi"
    camera = TsaiCamera(pets / "View_001_calibration.xml")
    frames = _read_frames(video)
    bg_full = np.median(np.stack(frames[::8]), axis=0).astype(np.uint8)
    gt = np.loadtxt(pets / "gt_mot_format.txt", delimiter=",")
    walkers: list[Walker] = []
    for tid in np.unique(gt[:, 1]).astype(int):
        rows = gt[gt[:, 1] == tid]
        rows = rows[np.argsort(rows[:, 0])]
        sprites: list[Sprite] = []
        dxs: list[float] = []
        for r in rows:
            fi = int(r[0]) - 1
            box = r[2:6]
            same = gt[(gt[:, 0] == r[0]) & (gt[:, 1] != tid)]
            # Only people standing clear of everyone else cut out cleanly.
            if len(same):
                ox = np.minimum(box[0] + box[2], same[:, 2] + same[:, 4]) - np.maximum(
                    box[0], same[:, 2]
                )
                oy = np.minimum(box[1] + box[3], same[:, 3] + same[:, 5]) - np.maximum(
                    box[1], same[:, 3]
                )
                if np.any((ox > -6) & (oy > -6)):
                    sprites = []  # keep runs of consecutive frames only
                    continue
            if box[0] < 2 or box[1] < 2 or box[0] + box[2] > 766 or box[1] + box[3] > 574:
                continue
            s = _cut_out(frames[fi], bg_full, box)
            if s is None:
                continue
            sprites.append(s)
            nxt = rows[rows[:, 0] == r[0] + 3]
            if len(nxt):
                dxs.append(float(nxt[0, 2] + nxt[0, 4] / 2 - box[0] - box[2] / 2))
            if len(sprites) >= 40:
                break
        if len(sprites) >= 12:
            walkers.append(Walker(sprites, 1 if np.median(dxs or [1.0]) >= 0 else -1))
    if not walkers:
        raise ValueError(f"{pets}: no person could be cut out of the video")
    band = bg_full[CROP_TOP : CROP_TOP + CROP_ROWS]
    background = cv2.resize(band, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    # Local frame: origin under the image point (320, 200), u along the image's rows.
    h_px_to_m = camera.ground_homography()

    def px_to_ground(p: np.ndarray) -> np.ndarray:
        pets_px = np.stack([p[:, 0] / SCALE, p[:, 1] / SCALE + CROP_TOP], axis=1)
        return cv2.perspectiveTransform(pets_px.reshape(-1, 1, 2), h_px_to_m).reshape(-1, 2)

    o, r = px_to_ground(np.array([[320.0, 200.0], [340.0, 200.0]]))
    u = (r - o) / np.linalg.norm(r - o)
    w = np.array([-u[1], u[0]])
    if px_to_ground(np.array([[320.0, 180.0]]))[0] @ w < o @ w:
        w = -w  # w points away from the camera (up the image)
    return Stage(camera, background, walkers, o, np.stack([u, w]))


# ---------------------------------------------------------------------------------------------
# Agents on the ground and the renderer.


VelocityFn = Callable[[float, np.ndarray], np.ndarray]
"""(t, positions (N, 2) local metres) → velocities (N, 2) m/s."""


@dataclass
class Crowd:
    pos: np.ndarray
    """(N, 2) local metres."""
    velocity: VelocityFn
    walker: np.ndarray
    phase: np.ndarray
    sway: np.ndarray
    """(N,) phase of the slight sway of people standing still."""
    size: np.ndarray
    """(N,) body height factor."""


@dataclass
class Train:
    """A long textured vehicle side (a train or bus) moving along u at w = `w`."""

    w: float
    length: float
    height: float
    front: Callable[[float], float]
    """t → u of its front end."""
    texture: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 3), np.uint8))


def _train_texture(rng: np.random.Generator) -> np.ndarray:
    tex = np.full((120, 800, 3), (150, 120, 60), np.uint8)
    tex[8:14] = (40, 40, 200)
    for x in range(20, 780, 60):
        tex[30:75, x : x + 40] = (60, 50, 40)
        tex[32:73, x + 2 : x + 38] = (90, 80, 70)
    for x in range(95, 800, 200):
        tex[25:118, x : x + 30] = (100, 80, 40)
    noise = rng.integers(-12, 13, tex.shape, dtype=np.int16)
    return np.clip(tex.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _paste(canvas: np.ndarray, sprite: Sprite, foot: np.ndarray, height: float, flip: bool) -> None:
    s = height / sprite.height
    h = max(2, round(sprite.image.shape[0] * s))
    w = max(2, round(sprite.image.shape[1] * s))
    img = cv2.resize(sprite.image, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.resize(sprite.alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    foot_x = sprite.foot_x * s
    if flip:
        img, alpha, foot_x = img[:, ::-1], alpha[:, ::-1], w - foot_x
    x0 = round(foot[0] - foot_x)
    y0 = round(foot[1] - sprite.height * s)
    x1, y1 = max(0, x0), max(0, y0)
    x2, y2 = min(canvas.shape[1], x0 + w), min(canvas.shape[0], y0 + h)
    if x2 <= x1 or y2 <= y1:
        return
    a = alpha[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0, None]
    src = img[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0].astype(np.float32)
    dst = canvas[y1:y2, x1:x2].astype(np.float32)
    canvas[y1:y2, x1:x2] = (a * src + (1 - a) * dst).astype(np.uint8)


def _draw_train(canvas: np.ndarray, stage: Stage, train: Train, t: float) -> None:
    front = train.front(t)
    corners_uw = np.array([[front - train.length, train.w], [front, train.w]])
    ground = stage.to_ground(corners_uw)
    bottom, d1 = stage.ground_to_px(ground, 0.0)
    top, d2 = stage.ground_to_px(ground, train.height)
    if np.any(d1 <= 0) or np.any(d2 <= 0):
        return
    quad = np.array([top[0], top[1], bottom[1], bottom[0]], dtype=np.float32)
    th, tw = train.texture.shape[:2]
    src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, quad)
    warped = cv2.warpPerspective(train.texture, m, (WIDTH, HEIGHT))
    mask = cv2.warpPerspective(np.ones((th, tw), np.uint8), m, (WIDTH, HEIGHT)) > 0
    canvas[mask] = warped[mask]


@dataclass
class Shot:
    name: str
    seconds: float
    crowd: Crowd
    train: Train | None = None
    frames_uw: list[np.ndarray] = field(default_factory=list)
    """Positions of the crowd on every rendered frame (local metres)."""


def render(stage: Stage, scene: Shot, path: Path, seed: int) -> None:
    """Simulate the crowd and write the clip as H.264."""
    rng = np.random.default_rng(seed)
    noise = [rng.normal(0, 2.0, (HEIGHT, WIDTH, 3)).astype(np.int16) for _ in range(6)]
    crowd = scene.crowd
    n_frames = round(scene.seconds * FPS)
    dt = 1.0 / FPS
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(n_frames):
            t = i * dt
            vel = crowd.velocity(t, crowd.pos)
            crowd.pos = crowd.pos + vel * dt
            speed = np.linalg.norm(vel, axis=1)
            # Legs cycle faster when running, but not in proportion to speed.
            rate = np.minimum(speed, 1.4) + 0.45 * np.maximum(speed - 1.4, 0.0)
            crowd.phase = crowd.phase + rate * dt / STRIDE_PER_FRAME_M
            scene.frames_uw.append(crowd.pos.copy())
            canvas = stage.background.copy()
            sway = 0.03 * np.stack([np.sin(t * 1.3 + crowd.sway), np.cos(t * 0.9 + crowd.sway)], 1)
            ground = stage.to_ground(crowd.pos + sway * (speed[:, None] < 0.2))
            feet, depth = stage.ground_to_px(ground)
            heads, _ = stage.ground_to_px(ground, PERSON_HEIGHT_M)
            heights = (feet[:, 1] - heads[:, 1]) * crowd.size
            # Image-space direction of movement, to face each person the way they go.
            ahead, _ = stage.ground_to_px(stage.to_ground(crowd.pos + 0.3 * vel))
            moving_right = ahead[:, 0] - feet[:, 0]
            order = np.argsort(feet[:, 1])  # far first: nearer people hide farther ones
            drawn_train = False
            for k in order:
                if depth[k] <= 0 or not (-40 < feet[k, 0] < WIDTH + 40):
                    continue
                if not (-5 < feet[k, 1] < HEIGHT + 150):
                    continue
                if scene.train is not None and not drawn_train and crowd.pos[k, 1] < scene.train.w:
                    _draw_train(canvas, stage, scene.train, t)
                    drawn_train = True
                walker = stage.walkers[int(crowd.walker[k])]
                sprite = walker.frames[int(crowd.phase[k]) % len(walker.frames)]
                facing = walker.direction
                if abs(moving_right[k]) > 0.5:
                    facing = 1 if moving_right[k] > 0 else -1
                flip = facing != walker.direction
                _paste(canvas, sprite, feet[k], float(heights[k]), flip)
            if scene.train is not None and not drawn_train:
                _draw_train(canvas, stage, scene.train, t)
            frame = np.clip(canvas.astype(np.int16) + noise[i % len(noise)], 0, 255)
            vf = av.VideoFrame.from_ndarray(frame.astype(np.uint8)[:, :, ::-1].copy(), "rgb24")
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _crowd(rng: np.random.Generator, stage: Stage, pos: np.ndarray, velocity: VelocityFn) -> Crowd:
    n = len(pos)
    return Crowd(
        pos=pos.astype(np.float64),
        velocity=velocity,
        walker=rng.integers(0, len(stage.walkers), n),
        phase=rng.uniform(0, 40, n),
        sway=rng.uniform(0, 2 * np.pi, n),
        size=rng.normal(1.0, 0.05, n).clip(0.88, 1.12),
    )


def _scatter(
    rng: np.random.Generator, n: int, u: tuple[float, float], w: tuple[float, float], gap: float
) -> np.ndarray:
    """`n` points in a rectangle, no two closer than `gap` metres (fewer if it is full)."""
    pts: list[np.ndarray] = []
    for _ in range(n * 200):
        p = np.array([rng.uniform(*u), rng.uniform(*w)])
        if all(np.linalg.norm(p - q) >= gap for q in pts):
            pts.append(p)
            if len(pts) == n:
                break
    return np.array(pts)


#: People who walk out of the picture at one side come back in at the other, out of sight
#: (the picture shows at most |u| < 10 m of the plaza).
WRAP_U = 10.5


def _wrap(p: np.ndarray, moving: np.ndarray | None = None) -> None:
    """Wrap the u coordinate of the walkers (all, or those in `moving`) in place."""
    sel = np.ones(len(p), dtype=bool) if moving is None else moving
    u = p[:, 0]
    u[sel & (u > WRAP_U)] -= 2 * WRAP_U
    u[sel & (u < -WRAP_U)] += 2 * WRAP_U


# ---------------------------------------------------------------------------------------------
# The scenarios.

#: Where the crowds stand (local metres): u across the image, w away from the camera.
PLAZA_U = (-7.0, 7.0)
PLAZA_W = (-3.5, 5.0)
ONSET_S = 14.0


def _milling(rng: np.random.Generator, n: int) -> np.ndarray:
    """Slow random wandering velocities of people standing in a crowd."""
    return rng.normal(0, 0.12, (n, 2))


def scene_dispersal(stage: Stage, rng: np.random.Generator) -> Shot:
    pos = _scatter(rng, 45, (-5.0, 5.0), (-2.0, 4.0), 0.55)
    n = len(pos)
    source = pos.mean(axis=0) + rng.normal(0, 0.7, 2)
    react = rng.uniform(0.0, 0.6, n)
    run_speed = rng.uniform(3.0, 5.0, n)
    wander = _milling(rng, n)
    away = pos - source
    away /= np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-6)

    def velocity(t: float, p: np.ndarray) -> np.ndarray:
        k = np.clip((t - ONSET_S - react) / 0.6, 0, 1)[:, None]
        return (1 - k) * wander * (np.sin(0.4 * t + react * 9)[:, None]) + k * away * run_speed[
            :, None
        ]

    return Shot("crowd_dispersal", 24.0, _crowd(rng, stage, pos, velocity))


def scene_run(stage: Stage, rng: np.random.Generator) -> Shot:
    pos = _scatter(rng, 45, (-7.0, 7.0), (-3.0, 4.5), 0.6)
    n = len(pos)
    walk = np.where(rng.random(n)[:, None] < 0.5, [1.0, 0.0], [-1.0, 0.0])
    walk = walk * rng.uniform(1.0, 1.5, (n, 1)) + rng.normal(0, 0.15, (n, 2))
    direction = np.array([np.cos(2.3), np.sin(2.3)])
    react = rng.uniform(0.0, 0.8, n)
    run_speed = rng.uniform(3.2, 5.0, n)

    def velocity(t: float, p: np.ndarray) -> np.ndarray:
        k = np.clip((t - ONSET_S - react) / 0.7, 0, 1)[:, None]
        if t < ONSET_S:
            _wrap(p)
        return (1 - k) * walk + k * direction * run_speed[:, None]

    return Shot("crowd_run", 24.0, _crowd(rng, stage, pos, velocity))


def scene_surge(stage: Stage, rng: np.random.Generator) -> Shot:
    pos = _scatter(rng, 60, (-5.0, 5.0), (-1.0, 4.0), 0.5)
    n = len(pos)
    push = np.array([0.25, -1.0]) / np.hypot(0.25, 1.0)
    react = pos[:, 1] - pos[:, 1].min()  # the push travels through the crowd from the back
    react = 0.1 * react + rng.uniform(0, 0.2, n)
    speed = rng.uniform(1.8, 3.0, n)
    wander = _milling(rng, n)

    def velocity(t: float, p: np.ndarray) -> np.ndarray:
        on = np.clip((t - ONSET_S - react) / 0.4, 0, 1) * np.clip(
            (ONSET_S + react + 3.5 - t) / 0.8, 0, 1
        )
        k = on[:, None]
        return (1 - k) * wander * 0.5 + k * (push * speed[:, None] + rng.normal(0, 0.25, (n, 2)))

    return Shot("crowd_surge", 24.0, _crowd(rng, stage, pos, velocity))


def scene_steady(stage: Stage, rng: np.random.Generator) -> Shot:
    pos = _scatter(rng, 40, (-9.0, 9.0), (-3.0, 4.5), 0.6)
    n = len(pos)
    lane = pos[:, 1] > 0.7
    base = np.where(lane[:, None], [1.0, 0.05], [-1.0, -0.05]) * rng.uniform(1.0, 1.6, (n, 1))
    base = base + rng.normal(0, 0.1, (n, 2))

    def velocity(t: float, p: np.ndarray) -> np.ndarray:
        _wrap(p)  # a steady flow for the whole clip
        return base

    return Shot("crowd_steady_flows", 30.0, _crowd(rng, stage, pos, velocity))


def scene_gradual(stage: Stage, rng: np.random.Generator) -> Shot:
    """The end of a match: people who stood start leaving one by one over 20 s, at a walk."""
    pos = _scatter(rng, 50, (-6.0, 6.0), (-2.5, 4.5), 0.55)
    n = len(pos)
    start = np.sort(rng.uniform(4.0, 24.0, n))[rng.permutation(n)]
    exit_dir = np.array([1.0, 0.15]) / np.hypot(1.0, 0.15)
    speed = rng.uniform(1.0, 1.5, n)
    wander = _milling(rng, n)

    def velocity(t: float, p: np.ndarray) -> np.ndarray:
        k = np.clip((t - start) / 3.0, 0, 1)[:, None]  # each walks off, speeding up over 3 s
        return (1 - k) * wander * 0.5 + k * exit_dir * speed[:, None]

    return Shot("crowd_gradual_buildup", 30.0, _crowd(rng, stage, pos, velocity))


def scene_train(stage: Stage, rng: np.random.Generator) -> Shot:
    """A platform: people stand and walk about; a train arrives behind them and stops."""
    pos = _scatter(rng, 30, (-7.0, 7.0), (-3.5, 2.0), 0.7)
    n = len(pos)
    vel0 = rng.normal(0, 0.5, (n, 2)) * (rng.random(n)[:, None] < 0.4)

    def velocity(t: float, p: np.ndarray) -> np.ndarray:
        p[:, 0] = np.clip(p[:, 0], -9.0, 9.0)
        return vel0

    # The front comes in from far left at 10 m/s at 8 s and brakes evenly to stop at u = 9 m.
    arrive, v0, enter_u, stop_u = 8.0, 10.0, -30.0, 9.0
    brake_s = 2.0 * (stop_u - enter_u) / v0

    def front(t: float) -> float:
        s = float(np.clip(t - arrive, 0.0, brake_s))
        return enter_u + v0 * s - 0.5 * v0 / brake_s * s * s

    train = Train(w=4.5, length=22.0, height=3.2, front=front, texture=_train_texture(rng))
    return Shot("crowd_train_arrival", 26.0, _crowd(rng, stage, pos, velocity), train)


def scene_runner(stage: Stage, rng: np.random.Generator) -> Shot:
    """A walking crowd and one person running across it: not a collective movement."""
    pos = _scatter(rng, 35, (-8.0, 8.0), (-3.0, 4.5), 0.6)
    n = len(pos)
    base = np.where(rng.random(n)[:, None] < 0.5, [1.0, 0.0], [-1.0, 0.0])
    base = base * rng.uniform(0.9, 1.4, (n, 1)) + rng.normal(0, 0.1, (n, 2))
    pos = np.vstack([pos, [[-11.0, 1.0]]])
    base = np.vstack([base, [[0.0, 0.0]]])

    def velocity(t: float, p: np.ndarray) -> np.ndarray:
        v = base.copy()
        walkers = np.ones(len(p), dtype=bool)
        walkers[-1] = False
        _wrap(p, walkers)
        v[-1] = [5.0, 0.2] if t >= ONSET_S else [0.0, 0.0]
        return v

    return Shot("crowd_single_runner", 24.0, _crowd(rng, stage, pos, velocity))


# Density: a square of the plaza (local metres) that fills with people.
DENSITY_ZONE_UW = [(-3.0, -1.0), (3.0, -1.0), (3.0, 3.0), (-3.0, 3.0)]  # 6 m × 4 m = 24 m²
DENSITY_LIMIT_M2 = 1.0
COUNT_LIMIT = 20


def _gathering(
    stage: Stage, rng: np.random.Generator, name: str, inside: int, outside: int, seconds: float
) -> Shot:
    """People walk into the zone from outside and stop there; others mill around it."""
    target = _scatter(rng, inside, (-2.8, 2.8), (-0.8, 2.8), 0.38)
    n_in = len(target)
    side = rng.choice([-1.0, 1.0], n_in)
    start = np.c_[side * rng.uniform(8.0, 11.0, n_in), target[:, 1] + rng.normal(0, 0.5, n_in)]
    depart = rng.uniform(1.0, 14.0, n_in)
    speed = rng.uniform(1.1, 1.5, n_in)
    around = _scatter(rng, outside, (-8.0, 8.0), (-3.5, 5.0), 0.6)
    keep = ~contains_xy(Polygon(DENSITY_ZONE_UW).buffer(0.8), around[:, 0], around[:, 1])
    around = around[keep]
    n_out = len(around)
    wander = rng.normal(0, 0.4, (n_out, 2))
    pos = np.vstack([start, around])

    def velocity(t: float, p: np.ndarray) -> np.ndarray:
        v = np.zeros_like(p)
        to_go = target - p[:n_in]
        dist = np.linalg.norm(to_go, axis=1, keepdims=True)
        go = (t >= depart)[:, None] & (dist > 0.05)
        v[:n_in] = np.where(
            go, to_go / np.maximum(dist, 1e-6) * np.minimum(speed[:, None], dist * 3), 0
        )
        # Those around keep clear of the zone's edge (a band of 0.8 m), like a queue beside it.
        q = p[n_in:]
        w = wander * np.sin(0.3 * t + np.arange(n_out))[:, None]
        near = contains_xy(Polygon(DENSITY_ZONE_UW).buffer(0.9), q[:, 0], q[:, 1])
        w[near] = (q[near] - [0.0, 1.0]) * 0.3
        v[n_in:] = w
        return v

    return Shot(name, seconds, _crowd(rng, stage, pos, velocity))


# ---------------------------------------------------------------------------------------------
# Configurations and truth.


def _unit(points: np.ndarray) -> list[list[float]]:
    return [[round(float(x) / WIDTH, 4), round(float(y) / HEIGHT, 4)] for x, y in points]


def _zone_px(stage: Stage, uw: list[tuple[float, float]]) -> np.ndarray:
    """The zone's corners in the picture, cut to the picture's edges."""
    inner = np.array(uw, dtype=np.float64)
    # Densify: a ground rectangle is a quadrilateral in the picture, but its cut is not.
    edges = [
        np.linspace(a, b, 10, endpoint=False)
        for a, b in zip(inner, np.roll(inner, -1, 0), strict=True)
    ]
    poly = Polygon(stage.local_to_px(np.concatenate(edges)))
    cut = poly.intersection(box(0, 0, WIDTH, HEIGHT)).simplify(0.5)
    if not isinstance(cut, Polygon) or cut.is_empty:
        raise ValueError(f"zone {uw} is not in the picture")
    return np.asarray(cut.exterior.coords)[:-1]


def _calibration(stage: Stage) -> dict[str, Any]:
    """Four ground points of the plaza: where they are in the image and in metres."""
    uw = np.array([(-5.0, -3.0), (5.0, -3.0), (6.0, 5.0), (-7.0, 5.0)])
    ground = stage.to_ground(uw)
    return {
        "image_points": _unit(stage.ground_to_px(ground)[0]),
        "ground_points": [[round(float(x), 3), round(float(y), 3)] for x, y in ground],
    }


def _site(
    stage: Stage,
    video: str,
    zones: dict[str, list[tuple[float, float]]],
    situation: str,
    params: dict[str, Any],
    calibrated: bool,
) -> dict[str, Any]:
    camera: dict[str, Any] = {
        "source": video,
        "analysis_fps": 5.0,
        "zones": {name: {"polygon": _unit(_zone_px(stage, uw))} for name, uw in zones.items()},
        "situations": {situation: {"enabled": True, "zones": list(zones), **params}},
    }
    if calibrated:
        camera["calibration"] = _calibration(stage)
    return {"cameras": {"cam": camera}}


def _count_in(scene: Shot, zone_uw: list[tuple[float, float]]) -> np.ndarray:
    poly = Polygon(zone_uw)
    return np.array([contains_xy(poly, p[:, 0], p[:, 1]).sum() for p in scene.frames_uw])


def _first_sustained(above: np.ndarray, min_s: float) -> float | None:
    """Time of the first frame that starts a run of `above` lasting `min_s` seconds."""
    need = round(min_s * FPS)
    run = 0
    for i, a in enumerate(above):
        run = run + 1 if a else 0
        if run >= need:
            return (i - need + 1) / FPS
    return None


MOVEMENT_ZONE_UW = [(-9.0, -4.0), (9.0, -4.0), (9.0, 6.0), (-9.0, 6.0)]
SYNTHETIC_NOTE = (
    "Synthetic: real people cut out of PETS 2009 S2L1 frames (ground-truth boxes, difference "
    "against the median background), pasted on the empty PETS plaza and moved on its ground "
    "plane with its Tsai calibration, each with their own walking cycle."
)


def generate(out_dir: Path, seed: int = 0) -> list[Clip]:
    """Write the crowd clips, their configurations, and return their truth."""
    src = pets_dir()
    if not (src / "vtest_PETS2009_S2L1_View001.avi").exists():
        warnings.warn(
            f"crowd scenarios need the PETS 2009 S2L1 video and calibration in {src} "
            "(set VEILLEUR_SHARED); no crowd clip generated",
            stacklevel=2,
        )
        return []
    stage = build_stage(src)
    folder = out_dir / "crowd"
    folder.mkdir(parents=True, exist_ok=True)
    clips: list[Clip] = []

    def write(
        scene: Shot,
        k: int,
        situation: str,
        zones: dict[str, list[tuple[float, float]]],
        params: dict[str, Any],
        calibrated: bool,
        expected: Callable[[Shot], list[ExpectedSignal]],
        note: str,
    ) -> None:
        video = folder / f"{scene.name}.mp4"
        render(stage, scene, video, seed * 1000 + k)
        cfg = folder / f"{scene.name}.yaml"
        site = _site(stage, video.name, zones, situation, params, calibrated)
        cfg.write_text(yaml.safe_dump(site, sort_keys=False))
        clips.append(
            Clip(
                name=scene.name,
                video=str(video.relative_to(out_dir)),
                config=str(cfg.relative_to(out_dir)),
                camera="cam",
                synthetic=True,
                note=f"{note} {SYNTHETIC_NOTE}",
                expected=expected(scene),
            )
        )

    def onset(scene: Shot) -> list[ExpectedSignal]:
        return [
            ExpectedSignal(
                situation="crowd_movement",
                zone="plaza",
                start_s=ONSET_S,
                end_s=ONSET_S + MOVEMENT_WINDOW_S,
            )
        ]

    def none(scene: Shot) -> list[ExpectedSignal]:
        return []

    plaza = {"plaza": MOVEMENT_ZONE_UW}
    movement: list[tuple[Callable[[Stage, np.random.Generator], Shot], Any, str]] = [
        (scene_dispersal, onset, "45 people standing about scatter away from a point at 14 s."),
        (scene_run, onset, "45 people walking both ways all break into a run one way at 14 s."),
        (scene_surge, onset, "60 people standing packed surge forwards for 3.5 s at 14 s."),
        (scene_steady, none, "Negative: two steady opposite walking flows for 30 s."),
        (
            scene_gradual,
            none,
            "Negative (end of a match): 50 people standing start walking off one by one "
            "between 4 s and 24 s.",
        ),
        (
            scene_train,
            none,
            "Negative (train arriving): 30 people on a platform; a 22 m train-like textured "
            "side comes in at 10 m/s from 8 s and brakes to a stop by 15.8 s.",
        ),
        (scene_runner, none, "Negative: one person runs across a walking crowd at 14 s."),
    ]
    for k, (make, expect, note) in enumerate(movement):
        rng = np.random.default_rng(seed * 1000 + 100 + k)
        scene = make(stage, rng)
        write(scene, k, "crowd_movement", plaza, {}, False, expect, note)

    zone = {"gathering": DENSITY_ZONE_UW}
    area = Polygon(DENSITY_ZONE_UW).area
    m2 = {"max_density_m2": DENSITY_LIMIT_M2, "min_duration_s": DENSITY_MIN_DURATION_S}
    per_zone = {"max_people": COUNT_LIMIT, "min_duration_s": DENSITY_MIN_DURATION_S}

    def density_truth(limit: float) -> Callable[[Shot], list[ExpectedSignal]]:
        def expected(scene: Shot) -> list[ExpectedSignal]:
            above = _count_in(scene, DENSITY_ZONE_UW) > limit
            start = _first_sustained(above, DENSITY_MIN_DURATION_S)
            if start is None:
                return []
            return [
                ExpectedSignal(
                    situation="excessive_density",
                    zone="gathering",
                    start_s=start,
                    end_s=start + DENSITY_WINDOW_S,
                )
            ]

        return expected

    # This oblique view fills a 24 m² zone with about 18 person silhouettes: beyond about
    # 1.5/m² both counts saturate, so the clips stay where the view can tell densities apart.
    density: list[tuple[str, int, int, dict[str, Any], bool, float, str]] = [
        (
            "density_rise_m2",
            50,
            20,
            m2,
            True,
            DENSITY_LIMIT_M2 * area,
            f"Up to 50 people gather in a {area:.0f} m² zone ({50 / area:.1f}/m²; threshold "
            f"{DENSITY_LIMIT_M2}/m², ground calibration from the PETS Tsai parameters).",
        ),
        (
            "density_below_m2",
            12,
            30,
            m2,
            True,
            DENSITY_LIMIT_M2 * area,
            f"Negative: 12 people gather in a {area:.0f} m² zone ({12 / area:.1f}/m², "
            f"threshold {DENSITY_LIMIT_M2}/m²) while 30 more mill around it.",
        ),
        (
            "density_rise_count",
            34,
            15,
            per_zone,
            False,
            COUNT_LIMIT,
            f"Up to 34 people gather in a zone watched with max_people {COUNT_LIMIT} "
            "(no calibration).",
        ),
        (
            "density_below_count",
            12,
            35,
            per_zone,
            False,
            COUNT_LIMIT,
            f"Negative: 12 people in a zone watched with max_people {COUNT_LIMIT} while 35 "
            "more walk about just outside its edges.",
        ),
    ]
    for k, (name, inside, outside, params, calibrated, limit, note) in enumerate(density):
        rng = np.random.default_rng(seed * 1000 + 200 + k)
        scene = _gathering(stage, rng, name, inside, outside, 30.0)
        write(
            scene,
            20 + k,
            "excessive_density",
            zone,
            params,
            calibrated,
            density_truth(limit),
            note,
        )
    return clips
