"""Scenarios for `fire_start`: the field traps of 2024, and synthetic fires.

Every clip is real CCTV footage (PETS 2009 S2L1, or the Intel car park) with lights drawn on
it, 640×360, at the footage's own frame rate (10 or 12.5 frames/s), H.264. Lights are rendered
physically enough for the cues they trap: a camera integrates light over its shutter time (so
a 60 ms flash may fall between two pictures), bright lights clip to a yellow-white core with a
coloured halo, and coloured lights tint the ground below them.

Negative clips (nothing may be signalled):

- `fire_trap_beacons`: three amber rotating beacons at 1.0, 2.3 and 3.7 Hz and a pair of
  amber hazard lights (1.5 Hz, on half the time) in the car park;
- `fire_trap_emergency`: an emergency vehicle's light bar (red/blue double flashes, 1.5 Hz
  cycle) and a 4 Hz amber LED flasher on the PETS plaza, tinting the pavement;
- `fire_trap_signs`: on the PETS buildings, an orange lit sign switched on, a red sign whose
  light beats at 0.7 Hz (mains/LED flicker against the camera), and a sodium lamp warming up;
- `fire_trap_reflections`: the car park at dusk, headlights and tail-lights driving through
  with their long, rippling reflections on a wet road;
- `fire_trap_sunset`: a warm sunset sky above the PETS plaza, the sun going down, clouds
  drifting, the colour of the whole scene changing slowly.

Positive clips, synthetic (a procedural fire; the only real fire is the FURG clip, see
docs/situations/fire_start.md): `fire_synthetic_flames` (a litter-bin fire with smoke starting
at 6 s on the PETS plaza) and `fire_synthetic_smoke` (smoke only, rising from behind a hedge:
no flame in view). They are made by the same author as the detector and follow the physical
model it relies on (irregular flicker, semi-transparent grey smoke), so they check the logic
and the plumbing, not the real-world recall.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import yaml

from veilleur.evaluation.truth import Clip, ExpectedSignal

W, H = 640, 360
_REPO = Path(__file__).resolve().parents[4]
SITUATION = "fire_start"

Draw = Callable[[np.ndarray, float], None]
"""Draws on a float32 BGR frame (values may exceed 255; clipped when encoded) at time t."""


def shared_data() -> Path:
    return Path(os.environ.get("VEILLEUR_SHARED", str(_REPO.parent / "shared"))) / "data"


SOURCES = {
    "pets": ("pets2009_s2l1/vtest_PETS2009_S2L1_View001.avi", 10.0),
    "carpark": ("intel_cars/car-detection.mp4", 12.5),
}


def background_frames(name: str, seconds: float, start_s: float = 0.0) -> Iterator[np.ndarray]:
    """Frames of a real clip as 640×360 float32 BGR, from `start_s`, for `seconds`."""
    rel, _ = SOURCES[name]
    path = shared_data() / rel
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the fire scenarios draw on real footage from the shared data "
            "folder (set VEILLEUR_SHARED)"
        )
    with av.open(str(path)) as inp:
        for frame in inp.decode(video=0):
            t = float(frame.time or 0.0)
            if t < start_s - 1e-6:
                continue
            if t >= start_s + seconds - 1e-6:
                break
            img = frame.to_ndarray(format="bgr24")
            h, w = img.shape[:2]
            crop_h = round(w * H / W)
            if crop_h < h:  # 4:3 → 16:9: keep the plaza, drop the sky-less top rows
                y0 = min(h - crop_h, round(0.07 * h))
                img = img[y0 : y0 + crop_h]
            yield cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)


# --- light rendering ---------------------------------------------------------------------


def add_glow(
    img: np.ndarray,
    cx: float,
    cy: float,
    sx: float,
    sy: float,
    colour: tuple[float, float, float],
    gain: float,
) -> None:
    """Adds an anisotropic Gaussian of light (σ `sx`, `sy` pixels) centred on (cx, cy)."""
    if gain <= 0:
        return
    h, w = img.shape[:2]
    x1, x2 = max(0, int(cx - 3 * sx)), min(w, int(cx + 3 * sx) + 1)
    y1, y2 = max(0, int(cy - 3 * sy)), min(h, int(cy + 3 * sy) + 1)
    if x1 >= x2 or y1 >= y2:
        return
    xs = (np.arange(x1, x2, dtype=np.float32) - cx) / sx
    ys = (np.arange(y1, y2, dtype=np.float32) - cy) / sy
    g = np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2)) * gain
    img[y1:y2, x1:x2] += g[..., None] * np.asarray(colour, dtype=np.float32)


def exposure(level: Callable[[float], float], t: float, shutter_s: float = 0.02) -> float:
    """Mean of `level` over the shutter time from `t` (a short flash may be missed)."""
    return float(np.mean([level(t + shutter_s * k / 4) for k in range(4)]))


def pulse_train(t: float, hz: float, on: list[tuple[float, float]], phase: float = 0.0) -> float:
    """1 while `t` falls in one of the `on` intervals (fractions of the cycle), else 0."""
    u = (t * hz + phase) % 1.0
    return 1.0 if any(a <= u < b for a, b in on) else 0.0


AMBER = (20.0, 150.0, 255.0)
RED = (40.0, 30.0, 255.0)
BLUE = (255.0, 90.0, 25.0)
SODIUM = (40.0, 150.0, 255.0)
WARM_WHITE = (190.0, 225.0, 255.0)


def lamp(
    img: np.ndarray,
    x: float,
    y: float,
    colour: tuple[float, float, float],
    level: float,
    size: float = 4.0,
    spill: float = 0.0,
) -> None:
    """A light seen by the camera: a clipped core, a halo, and optionally light on the ground."""
    if level <= 0:
        return
    add_glow(img, x, y, size, size * 0.8, colour, 2.2 * level)
    add_glow(img, x, y, size * 3.5, size * 3.0, colour, 0.45 * level)
    if spill > 0:
        add_glow(img, x, y + 6 * size, size * 12, size * 5, colour, spill * level)


# --- procedural fire and smoke -----------------------------------------------------------


def value_noise(
    rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]
) -> np.ndarray:
    """Smooth random field in 0..1 of `shape` (h, w), with about `cells` blobs (rows, cols)."""
    grid = rng.random((cells[0] + 3, cells[1] + 3)).astype(np.float32)
    size = (shape[1] + 3 * shape[1] // cells[1], shape[0] + 3 * shape[0] // cells[0])
    big = cv2.resize(grid, size, interpolation=cv2.INTER_CUBIC)
    return np.clip(big[: shape[0], : shape[1]], 0.0, 1.0)


@dataclass
class Flame:
    """A fire at a fixed base point: irregular flicker, growth, and optional smoke above."""

    x: float
    base_y: float
    start_s: float
    width: float = 14.0
    """Base width in pixels when it starts; it grows to `grow` times that."""
    grow: float = 2.5
    grow_s: float = 15.0
    smoke: bool = True
    flames: bool = True
    seed: int = 0
    _rng: np.random.Generator = field(init=False, repr=False)
    _smoke_field: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._smoke_field = value_noise(self._rng, (480, 160), (14, 5))
        # Incommensurate frequencies and random phases: flicker with no dominant period.
        self._freqs = self._rng.uniform(0.3, 7.0, size=9)
        self._phases = self._rng.uniform(0, 2 * math.pi, size=9)

    def size(self, t: float) -> float:
        age = t - self.start_s
        return self.width * (1.0 + (self.grow - 1.0) * min(1.0, age / self.grow_s))

    def flicker(self, t: float) -> float:
        s = np.sin(2 * math.pi * self._freqs * t + self._phases).mean()
        return float(1.0 + 0.35 * s + 0.15 * self._rng.standard_normal())

    def draw(self, img: np.ndarray, t: float) -> None:
        if t < self.start_s:
            return
        age = t - self.start_s
        w = self.size(t)
        if self.smoke:
            self._draw_smoke(img, t, w, age)
        if self.flames:
            self._draw_flames(img, t, w)

    def _draw_flames(self, img: np.ndarray, t: float, w: float) -> None:
        h = w * 2.4 * self.flicker(t)
        bw, bh = int(w * 2.4) + 6, int(max(h, 4) * 1.5) + 4
        x0, y0 = int(self.x - bw / 2), int(self.base_y - bh)
        fh, fw = img.shape[:2]
        if x0 < 0 or y0 < 0 or x0 + bw > fw or self.base_y > fh:
            return
        xs = np.arange(bw, dtype=np.float32)
        ys = np.arange(bh, dtype=np.float32)
        v = (bh - ys) / max(h, 1.0)  # 0 at the base, 1 at the usual tip
        # Tongues sway sideways more the higher they are, each picture differently.
        sway = (value_noise(self._rng, (bh, 1), (max(2, bh // 8), 1))[:, 0] - 0.5) * w * 0.8
        u = (xs[None, :] - bw / 2 - sway[:, None] * np.clip(v, 0, 1.5)[:, None]) / (w / 2)
        coarse = value_noise(self._rng, (bh, bw), (max(2, bh // 7), max(2, bw // 5)))
        fine = value_noise(self._rng, (bh, bw), (max(2, bh // 3), max(2, bw // 3)))
        turb = 0.6 * coarse + 0.4 * fine
        width_at = 0.95 * np.clip(1.0 - v, 0.05, 1.0)[:, None] ** 0.5 + 0.05
        shape = np.clip(1.0 - (u / width_at) ** 2, 0.0, 1.0)
        heat = shape * (0.25 + 1.2 * turb) - 0.45 * np.clip(v, 0, None)[:, None] ** 2
        heat = cv2.GaussianBlur(np.clip(heat, 0.0, None), (3, 3), 0)
        alpha = np.clip((heat - 0.12) * 2.5, 0.0, 1.0)[..., None]
        # Colour ramp of burning material: deep red at the edges, orange, a yellow-white core.
        k = np.clip(heat, 0.0, 1.3)[..., None]
        colour = np.concatenate(
            [
                np.clip(255 * (k - 0.85) * 2.2, 0, 230),
                np.clip(255 * (k - 0.2) * 1.3, 0, 250),
                np.clip(170 + 170 * k, 0, 255),
            ],
            axis=-1,
        )
        roi = img[y0 : y0 + bh, x0 : x0 + bw]
        roi[:] = roi * (1 - alpha) + colour * alpha
        glow = 0.3 * self.flicker(t + 0.013)
        add_glow(img, self.x, self.base_y - h * 0.3, w * 2.5, w * 1.8, (30.0, 110.0, 255.0), glow)

    def _draw_smoke(self, img: np.ndarray, t: float, w: float, age: float) -> None:
        # A plume from the source, widening and thinning as it rises, drifting with the wind;
        # its texture rises with the hot air.
        grown = min(1.0, age / 10.0)
        height = int(w * (4 + 5 * grown))
        width = int(w * (2.5 + 3 * grown)) + 8
        y0 = int(self.base_y - w * 0.5) - height
        x0 = int(self.x - width / 2)
        fw = img.shape[1]
        if x0 < 0 or x0 + width > fw or height < 4:
            return
        field_h = self._smoke_field.shape[0]
        scroll = int(age * 25) % (field_h // 2)
        tex = self._smoke_field[field_h // 2 - scroll : field_h - scroll]
        tex = cv2.resize(tex, (width, height), interpolation=cv2.INTER_LINEAR)
        z = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None]  # 0 source, 1 top
        drift = 0.25 * width * z**2
        u = (np.arange(width, dtype=np.float32)[None, :] - width / 2 - drift) / (width / 2)
        spread = 0.15 + 0.85 * z
        profile = np.clip(1.0 - (u / spread) ** 2, 0.0, 1.0)
        density = profile * np.clip(1.6 * tex - 0.3, 0.0, 1.0) * (1.0 - z) ** 0.6
        density *= np.clip((1.0 - z) * 8, 0, 1) * min(1.0, age / 3.0)
        alpha = np.clip(0.85 * density, 0.0, 0.8)[max(0, -y0) :, :, None]  # cut at the top
        roi = img[max(0, y0) : y0 + height, x0 : x0 + width]
        roi[:] = roi * (1 - alpha) + np.float32(190.0) * alpha


# --- the clips ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    background: str
    seconds: float
    note: str
    make: Callable[[int], Draw]
    """Builds the drawing function for a seed."""
    fire_from_s: float | None = None
    start_s: float = 0.0
    """Where in the background footage the clip starts."""
    grade: Callable[[np.ndarray, float], np.ndarray] | None = None
    """Colour grading applied to the background before drawing (dusk, sunset)."""


def _beacons(seed: int) -> Draw:
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 1, size=4)
    beacons = [(110.0, 95.0, 1.0), (330.0, 250.0, 2.3), (560.0, 150.0, 3.7)]

    def rotating(hz: float, phase: float) -> Callable[[float], float]:
        # The beam sweeps round: bright when it faces the camera, a dim lit dome otherwise.
        return lambda t: 0.25 + 0.75 * max(0.0, math.cos(2 * math.pi * (hz * t + phase))) ** 6

    def draw(img: np.ndarray, t: float) -> None:
        for (x, y, hz), ph in zip(beacons, phases, strict=False):
            lamp(img, x, y, AMBER, exposure(rotating(hz, ph), t), size=5.0, spill=0.25)
        on = exposure(lambda s: pulse_train(s, 1.5, [(0.0, 0.5)], phases[3]), t)
        for x in (440.0, 480.0):
            lamp(img, x, 300.0, AMBER, on, size=4.0, spill=0.2)

    return draw


def _emergency(seed: int) -> Draw:
    rng = np.random.default_rng(seed)
    phase = float(rng.uniform(0, 1))

    def draw(img: np.ndarray, t: float) -> None:
        red = exposure(lambda s: pulse_train(s, 1.5, [(0.0, 0.09), (0.18, 0.27)], phase), t)
        blue = exposure(lambda s: pulse_train(s, 1.5, [(0.5, 0.59), (0.68, 0.77)], phase), t)
        for dx in (0.0, 10.0):
            lamp(img, 250.0 + dx, 170.0, RED, red, size=4.0)
            lamp(img, 280.0 + dx, 170.0, BLUE, blue, size=4.0)
        add_glow(img, 270.0, 215.0, 70.0, 25.0, RED, 0.5 * red)
        add_glow(img, 270.0, 215.0, 70.0, 25.0, BLUE, 0.5 * blue)
        amber = exposure(lambda s: pulse_train(s, 4.0, [(0.0, 0.32)], phase + 0.3), t)
        lamp(img, 470.0, 205.0, AMBER, amber, size=4.0, spill=0.35)

    return draw


def _signs(seed: int) -> Draw:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 2.0, size=(36, 150, 3)).astype(np.float32)

    def draw(img: np.ndarray, t: float) -> None:
        # An orange panel with light letters, switched on at 4 s (0.3 s warm-up).
        on = float(np.clip((t - 4.0) / 0.3, 0.0, 1.0))
        if on > 0:
            x0, y0 = 300, 40
            panel = np.empty((36, 150, 3), np.float32)
            panel[:] = (10.0, 120.0, 250.0)
            cv2.putText(panel, "CAFE BAR", (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                        (170.0, 240.0, 255.0), 2, cv2.LINE_AA)  # fmt: skip
            roi = img[y0 : y0 + 36, x0 : x0 + 150]
            roi[:] = roi * (1 - on) + (panel + noise) * on
            add_glow(img, x0 + 75, y0 + 18, 60.0, 18.0, (20.0, 90.0, 200.0), 0.25 * on)
        # A red sign whose light beats against the camera's exposure at 0.7 Hz (±15 %).
        if t >= 8.0:
            beat = 1.0 + 0.15 * math.sin(2 * math.pi * 0.7 * t)
            x0, y0 = 120, 60
            sign = np.zeros((30, 90, 3), np.float32)
            cv2.putText(sign, "OPEN", (6, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                        (60.0, 70.0, 255.0), 3, cv2.LINE_AA)  # fmt: skip
            lit = cv2.GaussianBlur(sign, (0, 0), 2.0) * 0.6 + sign
            img[y0 : y0 + 30, x0 : x0 + 90] += lit * beat
        # A sodium lamp warming up over 6 s from 12 s.
        if t >= 12.0:
            level = float(np.clip((t - 12.0) / 6.0, 0.05, 1.0))
            lamp(img, 520.0, 60.0, SODIUM, level, size=5.0, spill=0.3)

    return draw


def _reflections(seed: int) -> Draw:
    rng = np.random.default_rng(seed)
    # Cars: (lane x, direction, start time, speed px/s); down = headlights towards the camera.
    cars = [
        (230.0 + rng.uniform(-10, 10), 1, s, rng.uniform(50, 110)) for s in (1.0, 7.0, 14.0, 21.0)
    ] + [(430.0 + rng.uniform(-10, 10), -1, s, rng.uniform(50, 110)) for s in (3.0, 11.0, 18.0)]
    ripple = value_noise(rng, (720, 64), (90, 8))

    def streak(img: np.ndarray, x: float, y: float, colour: tuple[float, float, float],
               gain: float, t: float) -> None:  # fmt: skip
        # A reflection on wet asphalt: long and thin below the light, broken up by ripples.
        length = 90
        top = int(y + 6)
        y1, y2 = max(0, top), min(img.shape[0], top + length)
        x1, x2 = max(0, int(x - 6)), min(img.shape[1], int(x + 7))
        if y2 <= y1 or x2 <= x1:
            return
        off = int(t * 40) % (ripple.shape[0] - length)
        r = ripple[off + y1 - top : off + y2 - top]
        fall = np.exp(-np.arange(y1 - top, y2 - top, dtype=np.float32) / 45.0)[:, None]
        prof = np.exp(-0.5 * ((np.arange(x1, x2, dtype=np.float32) - x) / 2.5) ** 2)[None, :]
        g = gain * fall * prof * (0.4 + 1.2 * r[:, : x2 - x1])
        img[y1:y2, x1:x2] += g[..., None] * np.asarray(colour, np.float32)

    def draw(img: np.ndarray, t: float) -> None:
        for x, direction, t0, speed in cars:
            age = t - t0
            if age < 0:
                continue
            y = -20 + speed * age if direction > 0 else 380 - speed * age
            if not -30 < y < 390:
                continue
            colour = WARM_WHITE if direction > 0 else RED
            gain = 1.6 if direction > 0 else 1.0
            for dx in (-14.0, 14.0):
                lamp(img, x + dx, y, colour, gain, size=3.5)
                streak(img, x + dx, y, colour, 0.9 * gain, t)
        # A street lamp at the kerb and its rippling reflection: still, but shimmering.
        lamp(img, 600.0, 40.0, SODIUM, 1.0, size=5.0)
        streak(img, 600.0, 120.0, SODIUM, 0.7, t)

    return draw


def _dusk(img: np.ndarray, t: float) -> np.ndarray:
    out = img * np.float32(0.32)
    out[..., 0] *= 1.25  # bluish
    return out


def _sunset_grade(img: np.ndarray, t: float) -> np.ndarray:
    # The light warms and dims slowly over the clip, as the sun goes down.
    k = t / 30.0
    gain = np.array([0.75 - 0.2 * k, 0.85 - 0.15 * k, 1.05], np.float32)
    return img * gain


def _sunset(seed: int) -> Draw:
    rng = np.random.default_rng(seed)
    sky_h = 110
    clouds = value_noise(rng, (sky_h, 2 * W), (6, 24))
    ys = np.linspace(0.0, 1.0, sky_h, dtype=np.float32)[:, None, None]
    top = np.array([120.0, 60.0, 90.0], np.float32)  # dusky purple
    horizon = np.array([60.0, 150.0, 255.0], np.float32)  # orange
    gradient = top * (1 - ys) + horizon * ys

    def draw(img: np.ndarray, t: float) -> None:
        k = t / 30.0
        sky = np.repeat(gradient * (1.0 - 0.25 * k), W, axis=1)
        off = int(t * 3.0) % W
        c = clouds[:, off : off + W, None]
        cloud = np.clip((c - 0.55) * 3.0, 0.0, 1.0)
        sky = sky * (1 - 0.5 * cloud) + np.array([70.0, 110.0, 200.0], np.float32) * 0.5 * cloud
        img[:sky_h] = sky
        add_glow(img, 420.0, 70.0 + 1.5 * t, 14.0, 14.0, (150.0, 235.0, 255.0), 1.3 - 0.4 * k)
        add_glow(img, 420.0, 70.0 + 1.5 * t, 60.0, 40.0, (60.0, 160.0, 255.0), 0.4 - 0.15 * k)

    return draw


def _flames(seed: int) -> Draw:
    fire = Flame(x=200.0, base_y=300.0, start_s=6.0, width=12.0, seed=seed)
    return fire.draw


def _smoke(seed: int) -> Draw:
    fire = Flame(x=130.0, base_y=330.0, start_s=6.0, width=14.0, flames=False, seed=seed)
    return fire.draw


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "fire_trap_beacons",
        "carpark",
        25.0,
        "Car park: three amber rotating beacons (1.0, 2.3, 3.7 Hz) and amber hazard lights "
        "(1.5 Hz), tinting the ground. Nothing to signal.",
        _beacons,
    ),
    Scenario(
        "fire_trap_emergency",
        "pets",
        25.0,
        "PETS plaza: an emergency light bar (red/blue double flashes) and a 4 Hz amber LED "
        "flasher, tinting the pavement. Nothing to signal.",
        _emergency,
    ),
    Scenario(
        "fire_trap_signs",
        "pets",
        25.0,
        "PETS buildings: an orange lit sign switched on at 4 s, a red sign beating at 0.7 Hz "
        "from 8 s, a sodium lamp warming up from 12 s. Nothing to signal.",
        _signs,
        start_s=30.0,
    ),
    Scenario(
        "fire_trap_reflections",
        "carpark",
        25.0,
        "Car park at dusk: headlights and tail-lights driving through with long rippling "
        "reflections on a wet road, and a street lamp's shimmering reflection. Nothing to "
        "signal.",
        _reflections,
        grade=_dusk,
    ),
    Scenario(
        "fire_trap_sunset",
        "pets",
        25.0,
        "PETS plaza under a sunset sky: warm gradient, the sun going down, clouds drifting, "
        "the scene's colour changing slowly. Nothing to signal.",
        _sunset,
        start_s=50.0,
        grade=_sunset_grade,
    ),
    Scenario(
        "fire_synthetic_flames",
        "pets",
        25.0,
        "PETS plaza: a synthetic litter-bin fire (procedural flames and smoke) from 6 s, "
        "growing. To be signalled.",
        _flames,
        fire_from_s=6.0,
    ),
    Scenario(
        "fire_synthetic_smoke",
        "pets",
        25.0,
        "PETS lawn: synthetic smoke only (no flame in view) rising from 6 s and spreading. "
        "To be signalled.",
        _smoke,
        fire_from_s=6.0,
    ),
)


def render(
    scenario: Scenario,
    frames: Iterator[np.ndarray],
    fps: float,
    dest: Path,
    seed: int = 0,
) -> float:
    """Draws `scenario` over `frames` into an H.264 file; returns its duration in seconds."""
    draw = scenario.make(seed)
    n = 0
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for img in frames:
            t = n / fps
            if scenario.grade is not None:
                img = scenario.grade(img, t)
            draw(img, t)
            rgb = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2RGB)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
            n += 1
        for packet in stream.encode():
            out.mux(packet)
    return n / fps


def site_config(video: str) -> dict[str, object]:
    """The configuration each fire clip is analysed with: the product defaults."""
    return {
        "perception": {"detector": "auto"},
        "cameras": {
            "cam": {
                "source": video,
                "analysis_fps": 5,
                "situations": {SITUATION: {"enabled": True}},
            }
        },
    }


def generate(out_dir: Path, seed: int = 0) -> list[Clip]:
    """Writes the fire clips and their configurations under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clips: list[Clip] = []
    for sc in SCENARIOS:
        _, fps = SOURCES[sc.background]
        video = f"{sc.name}.mp4"
        duration = render(
            sc, background_frames(sc.background, sc.seconds, sc.start_s), fps, out_dir / video, seed
        )
        config = f"{sc.name}.yaml"
        (out_dir / config).write_text(yaml.safe_dump(site_config(video), sort_keys=False))
        expected = []
        if sc.fire_from_s is not None:
            expected.append(
                ExpectedSignal(
                    situation=SITUATION, zone=None, start_s=sc.fire_from_s, end_s=duration
                )
            )
        clips.append(
            Clip(
                name=sc.name,
                video=video,
                config=config,
                camera="cam",
                synthetic=True,
                note=sc.note,
                expected=expected,
            )
        )
    return clips
