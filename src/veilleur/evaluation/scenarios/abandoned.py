"""Abandoned-object scenarios composed on the real PETS 2009 S2L1 footage.

No real footage here shows left luggage, so objects are painted into the real clip (people
walking on a campus plaza, 768×576 reduced to 640×480, 10 fps): bags, suitcases, parcels,
drawn with shading, a contact shadow and the camera's own compression, at the size a real one
would have at that place in the image (from the height of the people walking there). People of
the real footage who walk in front of an object hide it (their silhouette, from the difference
with the clip's median background, is put back over it).

Positives: an object carried by a real passer-by and dropped where they walk on, or put down by
a person who stands beside it and then walks away; small dark bags (the hard case for a COCO
detector), suitcases, parcels, backpacks and holdalls on the lawn, the road and the paving.
Negatives, the traps of the field: a bag whose owner stays beside it, a bag taken away again
before the minimum duration, a person standing still, a person lying on the lawn, a global
change of light, a cloud shadow drifting over the plaza, a patch of sunlight that appears and
stays, a bench and a bin that are there from the start. People cut out of the real footage
stand in for the still persons (a silhouette taken from one frame, swaying slightly).

A real person of the footage who stops near an object attends it, so positives are placed
where nobody of the footage stands still within 1.3-1.5 person heights of the object until the
end of the clip (`someone_stops_near`); the expected signal starts when the object is left
alone and ends `min_duration_s` + 12 s later, with the object's box.

Every clip is 50 s, analysed with `min_duration_s: 15`. Deterministic for a given seed.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import yaml

from veilleur.evaluation.truth import Clip, ExpectedSignal

_REPO = Path(__file__).resolve().parents[4]
PETS_VIDEO = Path("data") / "pets2009_s2l1" / "vtest_PETS2009_S2L1_View001.avi"
PETS_TRUTH = Path("data") / "pets2009_s2l1" / "gt_mot_format.txt"
W, H = 640, 480
FPS = 10
CLIP_S = 50.0
MIN_DURATION_S = 15.0
#: A signal may come this long after the object has been unattended for the minimum duration
#: (the background model needs a few seconds to see the object as still).
LATE_S = 12.0
SITUATION = "abandoned_object"


def shared_dir() -> Path:
    return Path(os.environ.get("VEILLEUR_SHARED", _REPO.parent / "shared"))


# ------------------------------------------------------------------------------ footage


class Pets:
    """The PETS S2L1 frames at 640×480 (kept JPEG-compressed in memory), its median
    background, the ground-truth person boxes, and the silhouettes of the people."""

    def __init__(self, root: Path) -> None:
        video = root / PETS_VIDEO
        if not video.exists():
            raise FileNotFoundError(
                f"{video} not found: the abandoned-object scenarios are composed on PETS 2009 "
                "S2L1; set VEILLEUR_SHARED to the folder holding data/pets2009_s2l1"
            )
        self._jpeg: list[bytes] = []
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                img = frame.to_ndarray(format="bgr24", width=W, height=H)
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 97])
                assert ok
                self._jpeg.append(buf.tobytes())
        step = max(1, len(self._jpeg) // 80)
        self.background = np.median(
            np.stack([self.frame(i) for i in range(0, len(self._jpeg), step)]), axis=0
        ).astype(np.uint8)
        sx, sy = W / 768.0, H / 576.0
        self.boxes: dict[int, list[tuple[int, np.ndarray]]] = {}
        rows = np.loadtxt(root / PETS_TRUTH, delimiter=",")
        for r in rows:
            x, y, w, h = r[2:6]
            box = np.array([x * sx, y * sy, (x + w) * sx, (y + h) * sy])
            self.boxes.setdefault(int(r[0]) - 1, []).append((int(r[1]), box))
        feet = np.array([b[3] for v in self.boxes.values() for _, b in v])
        heights = np.array([b[3] - b[1] for v in self.boxes.values() for _, b in v])
        self._fit = np.polyfit(feet, heights, 1)

    def __len__(self) -> int:
        return len(self._jpeg)

    def frame(self, i: int) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(self._jpeg[i], np.uint8), cv2.IMREAD_COLOR)

    def person_height(self, foot_y: float) -> float:
        """Height in pixels of a person standing with their feet at this row."""
        return float(np.polyval(self._fit, foot_y))

    def silhouette(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Mask (full frame) of the person inside `box`: pixels unlike the background."""
        x1, y1 = max(0, int(box[0]) - 2), max(0, int(box[1]) - 2)
        x2, y2 = min(W, int(box[2]) + 3), min(H, int(box[3]) + 3)
        mask = np.zeros((H, W), np.uint8)
        if x2 <= x1 or y2 <= y1:
            return mask.astype(bool)
        diff = cv2.absdiff(image[y1:y2, x1:x2], self.background[y1:y2, x1:x2]).max(axis=2)
        m = (diff > 25).astype(np.uint8)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        m = cv2.dilate(m, np.ones((3, 3), np.uint8))
        mask[y1:y2, x1:x2] = m
        return mask.astype(bool)

    def track(self, tid: int) -> dict[int, np.ndarray]:
        """Frame → box of one ground-truth person."""
        return {f: b for f, items in self.boxes.items() for i, b in items if i == tid}


# ------------------------------------------------------------------------------ sprites


@dataclass(frozen=True)
class Sprite:
    """A picture with its alpha; drawn with the middle of its bottom edge at a foot point."""

    rgb: np.ndarray
    alpha: np.ndarray
    shadow: bool = True

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


def _finish(canvas: np.ndarray, alpha: np.ndarray, factor: int, shadow: bool = True) -> Sprite:
    h, w = alpha.shape
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    rgb = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
    a = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    return Sprite(rgb, np.clip(a, 0.0, 1.0), shadow)


def _shade(h: int, w: int, colour: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A patch of colour lit from above, with a little fabric grain."""
    ramp = np.linspace(1.25, 0.75, h)[:, None, None]
    grain = rng.normal(0.0, 4.0, (h, w, 1))
    return np.clip(np.array(colour, np.float32)[None, None] * ramp + grain, 0, 255)


def make_object(kind: str, height_px: float, colour: tuple[int, int, int], seed: int) -> Sprite:
    """A bag-like object `height_px` tall. Kinds: handbag, backpack, suitcase, parcel, holdall."""
    rng = np.random.default_rng(seed)
    f = 6  # drawn six times larger, then reduced: smooth edges
    bh = max(8, round(height_px * f))
    shapes: dict[str, float] = {
        "handbag": 1.4,
        "backpack": 0.8,
        "suitcase": 0.65,
        "parcel": 1.3,
        "holdall": 2.1,
    }
    bw = round(bh * shapes[kind])
    top = round(bh * 0.45) if kind in ("handbag", "holdall") else round(bh * 0.12)
    ch, cw = bh + top, bw
    canvas = np.zeros((ch, cw, 3), np.float32)
    alpha = np.zeros((ch, cw), np.float32)
    body = _shade(bh, bw, colour, rng)
    m = np.zeros((bh, bw), np.uint8)
    radius = round(min(bh, bw) * (0.08 if kind in ("parcel", "suitcase") else 0.3))
    cv2.rectangle(m, (radius, 0), (bw - 1 - radius, bh - 1), 1, -1)
    cv2.rectangle(m, (0, radius), (bw - 1, bh - 1 - radius), 1, -1)
    for cx, cy in ((radius, radius), (bw - 1 - radius, radius)):
        cv2.circle(m, (cx, cy), radius, 1, -1)
    for cx, cy in ((radius, bh - 1 - radius), (bw - 1 - radius, bh - 1 - radius)):
        cv2.circle(m, (cx, cy), radius, 1, -1)
    dark = tuple(float(c) * 0.55 for c in colour)
    if kind == "suitcase":
        for x in np.linspace(bw * 0.2, bw * 0.8, 4):
            cv2.line(
                body, (int(x), int(bh * 0.06)), (int(x), int(bh * 0.94)), dark, max(1, bw // 40)
            )
        cv2.rectangle(
            canvas, (int(bw * 0.35), 0), (int(bw * 0.65), top), (40, 40, 40), max(2, bw // 25)
        )
        cv2.rectangle(alpha, (int(bw * 0.35), 0), (int(bw * 0.65), top), 1.0, max(2, bw // 25))
    elif kind == "parcel":
        light = tuple(min(255.0, float(c) * 1.3 + 20) for c in colour)
        cv2.rectangle(body, (0, 0), (bw, int(bh * 0.22)), light, -1)
        cv2.rectangle(body, (int(bw * 0.45), 0), (int(bw * 0.55), bh), (170, 190, 200), -1)
    elif kind == "backpack":
        cv2.rectangle(
            body, (int(bw * 0.18), int(bh * 0.55)), (int(bw * 0.82), int(bh * 0.92)), dark, -1
        )
        cv2.line(body, (int(bw * 0.2), int(bh * 0.1)), (int(bw * 0.8), int(bh * 0.1)), dark, 3 * f)
    if kind in ("handbag", "holdall"):
        thick = max(2, round(bh * 0.09))
        axes = (round(bw * (0.3 if kind == "handbag" else 0.22)), top)
        strap = tuple(float(c) * 0.8 for c in colour)
        cv2.ellipse(canvas, (cw // 2, top + thick), axes, 0, 180, 360, strap, thick)
        cv2.ellipse(alpha, (cw // 2, top + thick), axes, 0, 180, 360, 1.0, thick)
    region = m.astype(bool)
    canvas[top:][region] = body[region]
    alpha[top:][region] = 1.0
    return _finish(canvas, alpha, f)


def make_bench(person_h: float, seed: int) -> Sprite:
    """A wooden bench seen from the front: seat and backrest slats on dark legs."""
    rng = np.random.default_rng(seed)
    f = 6
    w, h = round(1.1 * person_h * f), round(0.5 * person_h * f)
    canvas = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    wood = _shade(h, w, (40, 75, 115), rng)
    leg = max(2, w // 30)
    for x in (w // 10, w - w // 10 - leg):
        cv2.rectangle(canvas, (x, h // 3), (x + leg, h - 1), (30, 30, 30), -1)
        cv2.rectangle(alpha, (x, h // 3), (x + leg, h - 1), 1.0, -1)
    for y0, y1 in ((0, h // 8), (h // 6, h // 6 + h // 8), (h // 2, h // 2 + h // 7)):
        canvas[y0:y1] = wood[y0:y1]
        alpha[y0:y1] = 1.0
    return _finish(canvas, alpha, f)


def make_bin(person_h: float, seed: int) -> Sprite:
    """A green litter bin: a rounded cylinder with a darker rim."""
    rng = np.random.default_rng(seed)
    f = 6
    w, h = round(0.32 * person_h * f), round(0.55 * person_h * f)
    canvas = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    side = np.abs(np.linspace(-1.0, 1.0, w))[None, :, None]
    body = _shade(h, w, (45, 85, 45), rng) * (1.1 - 0.5 * side**2)
    canvas[:] = body
    alpha[:] = 1.0
    canvas[: h // 10] *= 0.5
    return _finish(canvas, alpha, f)


def person_sprite(pets: Pets, frame: int, tid: int) -> Sprite:
    """The silhouette of one person of the footage, cut out of one frame."""
    box = next(b for i, b in pets.boxes[frame] if i == tid)
    image = pets.frame(frame)
    mask = pets.silhouette(image, box)
    x1, y1 = max(0, int(box[0]) - 2), max(0, int(box[1]) - 2)
    x2, y2 = min(W, int(box[2]) + 3), min(H, int(box[3]) + 1)
    m = mask[y1:y2, x1:x2].astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m)
    if n > 1:
        m = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    alpha = cv2.GaussianBlur(m.astype(np.float32), (3, 3), 0)
    return Sprite(image[y1:y2, x1:x2].astype(np.float32), alpha, shadow=False)


def isolated_person(pets: Pets, rng: np.random.Generator, min_h: float = 75.0) -> tuple[int, int]:
    """(frame, id) of a whole person, well apart from everyone else, at least `min_h` tall."""
    choices = []
    for f, items in sorted(pets.boxes.items()):
        for i, b in items:
            if b[3] - b[1] < min_h or b[1] < 2 or b[3] > H - 2 or b[0] < 2 or b[2] > W - 2:
                continue
            grown = b + np.array([-25, -10, 25, 10])
            if all(
                j == i or c[2] < grown[0] or c[0] > grown[2] or c[3] < grown[1] or c[1] > grown[3]
                for j, c in items
            ):
                choices.append((f, i))
    return choices[int(rng.integers(len(choices)))]


def resized(sprite: Sprite, height: float) -> Sprite:
    s = height / sprite.size[1]
    size = (max(1, round(sprite.size[0] * s)), max(1, round(height)))
    return Sprite(
        cv2.resize(sprite.rgb, size, interpolation=cv2.INTER_AREA),
        cv2.resize(sprite.alpha, size, interpolation=cv2.INTER_AREA),
        sprite.shadow,
    )


def lying(sprite: Sprite, length: float) -> Sprite:
    """A standing silhouette turned on its side, `length` long."""
    rot = Sprite(
        np.ascontiguousarray(np.rot90(sprite.rgb, -1)),
        np.ascontiguousarray(np.rot90(sprite.alpha, -1)),
        shadow=True,
    )
    return resized(rot, length * rot.size[1] / rot.size[0])


# ------------------------------------------------------------------------------ scenes

Point = tuple[float, float]
Position = Callable[[float], Point | None]


@dataclass
class Layer:
    """A sprite drawn at `position(t)` (foot point, pixels) while that is not None."""

    sprite: Sprite | Callable[[float], Sprite]
    position: Position
    carried_by: int | None = None
    """The real person carrying it: never drawn over it."""

    def at(self, t: float) -> tuple[Sprite, tuple[float, float]] | None:
        p = self.position(t)
        if p is None:
            return None
        sprite = self.sprite(t) if callable(self.sprite) else self.sprite
        return sprite, p


@dataclass
class Scene:
    name: str
    offset: int
    """First PETS frame of the clip."""
    note: str
    layers: list[Layer] = field(default_factory=list)
    light: Callable[[float], float] = lambda t: 1.0
    patches: list[Callable[[float, np.ndarray], None]] = field(default_factory=list)
    expected: list[ExpectedSignal] = field(default_factory=list)


def _crop(cx: float, cy: float, rx: float, ry: float) -> tuple[int, int, int, int]:
    """Bounds, inside the picture, of a box of half-sizes rx, ry around (cx, cy)."""
    return (
        max(0, int(cx - rx)),
        max(0, int(cy - ry)),
        min(W, math.ceil(cx + rx) + 1),
        min(H, math.ceil(cy + ry) + 1),
    )


def _draw(
    image: np.ndarray, sprite: Sprite, foot: tuple[float, float], grain: np.ndarray
) -> np.ndarray:
    """Alpha-blend `sprite` with its bottom centre at `foot` (with a soft contact shadow and
    sensor grain, so that it is not unnaturally clean); returns its box."""
    w, h = sprite.size
    x1, y1 = round(foot[0] - w / 2), round(foot[1] - h)
    box = np.array([x1, y1, x1 + w, y1 + h], np.float64)
    if sprite.shadow:
        sw, sh = max(2, round(w * 0.6)), max(1, round(h * 0.12))
        cx1, cy1, cx2, cy2 = _crop(foot[0], foot[1], 2 * sw, 4 * sh)
        if cx2 > cx1 and cy2 > cy1:
            shade = np.zeros((cy2 - cy1, cx2 - cx1), np.float32)
            centre = (round(foot[0]) - cx1, round(foot[1]) - cy1)
            cv2.ellipse(shade, centre, (sw, sh), 0, 0, 360, 0.35, -1)
            shade = cv2.GaussianBlur(shade, (0, 0), max(1.0, sh / 2))
            part = image[cy1:cy2, cx1:cx2]
            part[:] = np.clip(part * (1.0 - shade[..., None]), 0, 255).astype(np.uint8)
    ix1, iy1, ix2, iy2 = max(0, x1), max(0, y1), min(W, x1 + w), min(H, y1 + h)
    if ix2 <= ix1 or iy2 <= iy1:
        return box
    a = sprite.alpha[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1, None]
    src = sprite.rgb[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1] + grain[iy1:iy2, ix1:ix2]
    dst = image[iy1:iy2, ix1:ix2].astype(np.float32)
    image[iy1:iy2, ix1:ix2] = np.clip(a * src + (1 - a) * dst, 0, 255).astype(np.uint8)
    return box


def render(pets: Pets, scene: Scene, k: int, grain: list[np.ndarray]) -> np.ndarray:
    """Picture `k` of the clip; `grain` is a bank of sensor-noise pictures to cycle through."""
    t = k / FPS
    index = scene.offset + k
    original = pets.frame(index)
    image = original.copy()
    people = pets.boxes.get(index, [])
    drawn = [(layer, d) for layer in scene.layers if (d := layer.at(t)) is not None]
    drawn.sort(key=lambda item: item[1][1][1])  # far (higher in the image) first
    for layer, (sprite, foot) in drawn:
        box = _draw(image, sprite, foot, grain[k % len(grain)])
        for tid, pbox in people:
            if tid == layer.carried_by or pbox[3] <= foot[1]:
                continue  # behind the object
            if pbox[2] < box[0] or pbox[0] > box[2] or pbox[3] < box[1] or pbox[1] > box[3]:
                continue
            mask = pets.silhouette(original, pbox)
            image[mask] = original[mask]
    if not scene.patches and scene.light(t) == 1.0:
        return image
    out = image.astype(np.float32)
    for patch in scene.patches:
        patch(t, out)
    out *= scene.light(t)
    return np.clip(out, 0, 255).astype(np.uint8)


def write_clip(pets: Pets, scene: Scene, path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    grain = [rng.normal(0.0, 2.0, (H, W, 1)).astype(np.float32) for _ in range(8)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for k in range(int(CLIP_S * FPS)):
            img = render(pets, scene, k, grain)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


# --------------------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class Walk:
    """A real passer-by of the footage, seen over the clip."""

    tid: int
    boxes: dict[float, np.ndarray]
    """Clip time → box."""

    def box(self, t: float) -> np.ndarray | None:
        return self.boxes.get(round(t * FPS) / FPS)

    def foot(self, t: float) -> tuple[float, float] | None:
        b = self.box(t)
        return None if b is None else ((b[0] + b[2]) / 2.0, float(b[3]))


def walkers(pets: Pets, offset: int) -> list[Walk]:
    tids = {i for items in pets.boxes.values() for i, _ in items}
    out = []
    for tid in sorted(tids):
        track = pets.track(tid)
        boxes = {
            round((f - offset) / FPS, 1): b
            for f, b in track.items()
            if offset <= f < offset + CLIP_S * FPS
        }
        if boxes:
            out.append(Walk(tid, boxes))
    return out


def _in_plaza(foot: tuple[float, float], margin: float = 40.0) -> bool:
    x, y = foot
    return margin <= x <= W - margin and 190 <= y <= H - 25


def someone_stops_near(
    pets: Pets, offset: int, foot: tuple[float, float], t0: float, t1: float, reach: float = 1.3
) -> bool:
    """Whether a real person of the footage stands still (moves less than a fifth of their
    height in 2 s) within `reach` of their height of `foot` between t0 and t1. Such a person
    attends an object there, so no positive is placed where one does."""
    for walk in walkers(pets, offset):
        for t in np.arange(t0, t1, 0.5):
            now, before = walk.foot(t), walk.foot(t - 2.0)
            if now is None or before is None:
                continue
            h = pets.person_height(now[1])
            if math.dist(now, foot) <= reach * h and math.dist(now, before) < 0.2 * h:
                return True
    return False


def drop_point(
    pets: Pets, t_lo: float, t_hi: float, rng: np.random.Generator, y_lo: float = 190
) -> tuple[int, Walk, float]:
    """A start of clip, a passer-by and a time between t_lo and t_hi when they walk through the
    plaza and go on walking (they are at least 1.5 heights further 4 s later), where nobody of
    the footage stops near their path until the end of the clip."""
    for _ in range(50):
        offset = int(rng.integers(0, len(pets) - int(CLIP_S * FPS)))
        options = []
        for walk in walkers(pets, offset):
            for t in np.arange(t_lo, t_hi, 0.5):
                now, later, before = walk.foot(t), walk.foot(t + 4.0), walk.foot(t - 3.0)
                if now is None or later is None or before is None or not _in_plaza(now):
                    continue
                if now[1] < y_lo:
                    continue
                h = pets.person_height(now[1])
                if math.dist(now, later) < 1.5 * h or math.dist(before, now) < 1.0 * h:
                    continue
                # The object lands a third of a height to either side of the walker's feet.
                if not someone_stops_near(pets, offset, now, t, CLIP_S, reach=1.5):
                    options.append((walk, float(t)))
        if options:
            walk, t = options[int(rng.integers(len(options)))]
            return offset, walk, t
    raise RuntimeError(f"no passer-by to drop an object between {t_lo} and {t_hi} s")


def carried_then_dropped(
    pets: Pets, walk: Walk, t_drop: float, sprite: Sprite, side: float
) -> tuple[Layer, np.ndarray]:
    """The object hangs at the walker's side for 3 s, then stays where it fell.
    Returns the layer and its box on the ground."""
    foot = walk.foot(t_drop)
    assert foot is not None
    h = pets.person_height(foot[1])
    ground = (foot[0] + side * 0.32 * h, foot[1] + 0.02 * h)

    def position(t: float) -> tuple[float, float] | None:
        if t >= t_drop:
            return ground
        if t < t_drop - 3.0:
            return None
        f = walk.foot(t)
        if f is None:
            return None
        ph = pets.person_height(f[1])
        return (f[0] + side * 0.32 * ph, f[1] - 0.42 * ph + sprite.size[1])

    w, sh = sprite.size
    box = np.array([ground[0] - w / 2, ground[1] - sh, ground[0] + w / 2, ground[1]])
    return Layer(sprite, position, carried_by=walk.tid), box


def standing_person(
    pets: Pets,
    cut: Sprite,
    foot: tuple[float, float],
    arrive: float,
    leave: float | None,
    side: float = 1.0,
) -> Layer:
    """A person who walks in over 3 s, stands at `foot` (swaying a pixel), and walks away at
    `leave` (0.8 of their height per second) or stays."""
    h = pets.person_height(foot[1])
    sprite = resized(cut, h)
    speed = 0.8 * h

    def position(t: float) -> tuple[float, float] | None:
        if t < arrive - 3.0:
            return None
        if t < arrive:
            return (foot[0] - side * speed * (arrive - t), foot[1])
        if leave is not None and t >= leave:
            x = foot[0] + side * speed * (t - leave)
            return (x, foot[1]) if -60 < x < W + 60 else None
        return (foot[0] + math.sin(t * 2.1), foot[1])

    return Layer(sprite, position)


def unit_box(box: np.ndarray, grow: float = 6.0) -> list[float]:
    x1, y1, x2, y2 = box
    return [
        round(max(0.0, (x1 - grow) / W), 4),
        round(max(0.0, (y1 - grow) / H), 4),
        round(min(1.0, (x2 + grow) / W), 4),
        round(min(1.0, (y2 + grow) / H), 4),
    ]


def expected(start: float, box: np.ndarray) -> ExpectedSignal:
    return ExpectedSignal(
        situation=SITUATION,
        zone=None,
        start_s=round(start, 1),
        end_s=round(min(CLIP_S, start + MIN_DURATION_S + LATE_S), 1),
        bbox=unit_box(box),
    )


def soft_patch(
    centre: Callable[[float], tuple[float, float]],
    axes: tuple[float, float],
    gain: float,
    fade_in: tuple[float, float] | None = None,
) -> Callable[[float, np.ndarray], None]:
    """Light or shadow: the (float) picture multiplied in place by `gain` inside a soft
    ellipse."""
    blur = max(axes) * 0.25

    def apply(t: float, image: np.ndarray) -> None:
        strength = 1.0
        if fade_in is not None:
            a, b = fade_in
            strength = float(np.clip((t - a) / max(b - a, 1e-6), 0.0, 1.0))
        cx, cy = centre(t)
        x1, y1, x2, y2 = _crop(cx, cy, axes[0] + 3 * blur, axes[1] + 3 * blur)
        if strength <= 0 or x2 <= x1 or y2 <= y1:
            return
        m = np.zeros((y2 - y1, x2 - x1), np.float32)
        centre_px = (round(cx) - x1, round(cy) - y1)
        cv2.ellipse(m, centre_px, (round(axes[0]), round(axes[1])), 0, 0, 360, 1.0, -1)
        m = cv2.GaussianBlur(m, (0, 0), blur)
        image[y1:y2, x1:x2] *= (1.0 + (gain - 1.0) * strength * m)[..., None]

    return apply


# ------------------------------------------------------------------------------ scenarios

DARK = (28, 26, 30)
OBJECTS: list[tuple[str, tuple[int, int, int], float]] = [
    # kind, BGR colour, height as a fraction of a person's height there
    ("handbag", DARK, 0.16),
    ("suitcase", (40, 40, 150), 0.36),
    ("parcel", (70, 120, 160), 0.22),
    ("backpack", (70, 45, 30), 0.26),
    ("holdall", (35, 50, 35), 0.2),
    ("handbag", (45, 40, 38), 0.14),
    ("suitcase", (90, 90, 95), 0.34),
    ("backpack", DARK, 0.22),
]


def scenes(pets: Pets, seed: int) -> list[Scene]:
    rng = np.random.default_rng(seed)
    out: list[Scene] = []

    # Dropped by a passer-by who walks on: one per kind of object.
    for n, (kind, colour, frac) in enumerate(OBJECTS):
        offset, walk, t_drop = drop_point(pets, 12.0, 24.0, rng)
        foot = walk.foot(t_drop)
        assert foot is not None
        sprite = make_object(kind, frac * pets.person_height(foot[1]), colour, seed * 100 + n)
        side = 1.0 if rng.random() < 0.5 else -1.0
        layer, box = carried_then_dropped(pets, walk, t_drop, sprite, side)
        size = "small dark" if colour == DARK and frac < 0.2 else ""
        out.append(
            Scene(
                name=f"abandoned_drop_{n}_{kind}",
                offset=offset,
                note=f"a {size + ' ' if size else ''}{kind} carried by a real passer-by is "
                f"dropped at {t_drop:.1f} s where they walk on; it stays to the end",
                layers=[layer],
                expected=[expected(t_drop, box)],
            )
        )

    # A person puts a bag down, stays beside it, then walks away (positive), or stays (negative).
    for leaves in (True, False):
        offset = int(rng.integers(0, len(pets) - int(CLIP_S * FPS)))
        frame, tid = isolated_person(pets, rng)
        cut = person_sprite(pets, frame, tid)
        while True:
            foot = (float(rng.uniform(120, 520)), float(rng.uniform(300, 420)))
            h = pets.person_height(foot[1])
            bag_foot = (foot[0] + 0.35 * h, foot[1] + 0.03 * h)
            if not someone_stops_near(pets, offset, bag_foot, 14.0, CLIP_S):
                break
        bag = make_object("suitcase" if leaves else "handbag", 0.3 * h, (60, 30, 30), seed + 7)
        person = standing_person(pets, cut, foot, 12.0, 26.0 if leaves else None, side=-1.0)
        bag_layer = Layer(bag, lambda t, p=bag_foot: p if t >= 14.0 else None)
        w, bh = bag.size
        box = np.array([bag_foot[0] - w / 2, bag_foot[1] - bh, bag_foot[0] + w / 2, bag_foot[1]])
        out.append(
            Scene(
                name="abandoned_owner_leaves" if leaves else "attended_bag",
                offset=offset,
                note="a person arrives, puts a suitcase down at 14 s, stands beside it and walks "
                "away at 26 s leaving it"
                if leaves
                else "a person arrives, puts a bag down at 14 s and stands beside it to the end "
                "(attended: no signal)",
                layers=[person, bag_layer],
                expected=[expected(26.0, box)] if leaves else [],
            )
        )

    # A bag dropped, then taken away again 8 s later.
    offset, walk, t_drop = drop_point(pets, 12.0, 20.0, rng)
    foot = walk.foot(t_drop)
    assert foot is not None
    h = pets.person_height(foot[1])
    bag = make_object("handbag", 0.2 * h, DARK, seed + 11)
    layer, box = carried_then_dropped(pets, walk, t_drop, bag, 1.0)

    def until_taken(t: float, layer: Layer = layer, t_take: float = t_drop + 8.0) -> Point | None:
        return layer.position(t) if t < t_take else None

    out.append(
        Scene(
            name="bag_taken_back",
            offset=offset,
            note=f"a dark bag dropped at {t_drop:.1f} s by a passer-by is gone 8 s later, before "
            "the minimum duration (no signal)",
            layers=[Layer(bag, until_taken, carried_by=walk.tid)],
        )
    )

    # A person standing still for a long time; a person lying on the lawn.
    for pose in ("standing", "lying"):
        offset = int(rng.integers(0, len(pets) - int(CLIP_S * FPS)))
        frame, tid = isolated_person(pets, rng)
        cut = person_sprite(pets, frame, tid)
        if pose == "standing":
            foot = (float(rng.uniform(150, 500)), float(rng.uniform(260, 400)))
            layers = [standing_person(pets, cut, foot, 12.0, None)]
            note = "a person walks in at 12 s and stands still to the end (no signal)"
        else:
            foot = (float(rng.uniform(120, 300)), float(rng.uniform(380, 440)))
            body = lying(cut, 0.95 * pets.person_height(foot[1]))
            layers = [Layer(body, lambda t, p=foot: p if t >= 12.0 else None)]
            note = "a person lies still on the lawn from 12 s to the end (no signal)"
        out.append(Scene(name=f"person_{pose}_still", offset=offset, note=note, layers=layers))

    # Light: a global step, a drifting cloud shadow, a patch of sunlight that appears and stays.
    offset = int(rng.integers(0, len(pets) - int(CLIP_S * FPS)))
    out.append(
        Scene(
            name="light_step",
            offset=offset,
            note="the whole picture brightens by 30 % at 20 s and darkens back at 38 s (no signal)",
            light=lambda t: 1.3 if 20.0 <= t < 38.0 else 1.0,
        )
    )
    offset = int(rng.integers(0, len(pets) - int(CLIP_S * FPS)))
    out.append(
        Scene(
            name="cloud_shadow",
            offset=offset,
            note="a soft shadow 200 px wide drifts slowly across the plaza (no signal)",
            patches=[soft_patch(lambda t: (-100 + 16.0 * t, 320 + 0.5 * t), (100, 45), 0.6)],
        )
    )
    offset = int(rng.integers(0, len(pets) - int(CLIP_S * FPS)))
    spot = (float(rng.uniform(200, 450)), float(rng.uniform(260, 380)))
    out.append(
        Scene(
            name="sunlight_patch",
            offset=offset,
            note="a patch of sunlight appears on the ground at 15 s and stays (no signal)",
            patches=[soft_patch(lambda t: spot, (45, 18), 1.45, fade_in=(15.0, 17.0))],
        )
    )

    # Street furniture present from the start.
    offset = int(rng.integers(0, len(pets) - int(CLIP_S * FPS)))
    bench_foot, bin_foot = (250.0, 330.0), (470.0, 270.0)
    bench = make_bench(pets.person_height(bench_foot[1]), seed + 21)
    litter_bin = make_bin(pets.person_height(bin_foot[1]), seed + 22)
    out.append(
        Scene(
            name="bench_and_bin",
            offset=offset,
            note="a bench and a litter bin stand on the plaza from the first frame (no signal)",
            layers=[
                Layer(bench, lambda t: bench_foot),
                Layer(litter_bin, lambda t: bin_foot),
            ],
        )
    )
    return out


def site_config(video: str) -> dict[str, object]:
    return {
        "perception": {"detector": "yolox-nano"},
        "cameras": {
            "cam": {
                "source": video,
                "analysis_fps": 5,
                "situations": {
                    SITUATION: {"enabled": True, "min_duration_s": MIN_DURATION_S},
                },
            }
        },
    }


def write_scenes(pets: Pets, chosen: list[Scene], out_dir: Path, seed: int) -> list[Clip]:
    """Write the clips of `chosen` scenes and their configurations under `out_dir`/abandoned."""
    out_dir = Path(out_dir)
    folder = out_dir / "abandoned"
    folder.mkdir(parents=True, exist_ok=True)
    clips: list[Clip] = []
    for scene in chosen:
        video = folder / f"{scene.name}.mp4"
        write_clip(pets, scene, video, seed * 100_003 + zlib.crc32(scene.name.encode()))
        clip_config = folder / f"{scene.name}.yaml"
        clip_config.write_text(yaml.safe_dump(site_config(video.name), sort_keys=False))
        clips.append(
            Clip(
                name=scene.name,
                video=str(video.relative_to(out_dir)),
                config=str(clip_config.relative_to(out_dir)),
                camera="cam",
                synthetic=True,
                note=f"PETS 2009 S2L1 from frame {scene.offset}: {scene.note}",
                expected=scene.expected,
            )
        )
    return clips


def generate(out_dir: Path, seed: int = 0) -> list[Clip]:
    """Write the abandoned-object clips and their configurations under `out_dir`."""
    pets = Pets(shared_dir())
    return write_scenes(pets, scenes(pets, seed), Path(out_dir), seed)
