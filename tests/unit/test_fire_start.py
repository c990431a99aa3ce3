"""`fire_start` on synthetic pictures, through the real pipeline with a detector that sees
nothing: the fire logic alone.

Backgrounds are random textures; fires and traps are drawn with the renderers of the fire
scenarios (`evaluation/scenarios/fire.py`), at 5 analysed frames per second as in the product.
Each trap is a case the 2024 field evaluation saw taken for a fire.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.evaluation.scenarios.fire import (
    AMBER,
    BLUE,
    RED,
    WARM_WHITE,
    Flame,
    add_glow,
    exposure,
    lamp,
    pulse_train,
)
from veilleur.perception.fire import FlameCue, FlameParams, GlobalMotion, SmokeCue, periodicity
from veilleur.pipeline import CameraPipeline
from veilleur.types import Detections, Frame, Signal

W, H = 320, 180
FPS = 5.0
Draw = Callable[[np.ndarray, float], None]


class NoDetector:
    name = "none"

    def detect(self, image: np.ndarray) -> Detections:
        return Detections.empty()


def background(seed: int = 0, warm: bool = False) -> np.ndarray:
    """A textured scene: blurred noise with some structure (float32 BGR)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 1.2)
    base = 110 + 25 * noise / noise.std()
    img = np.repeat(base[..., None], 3, axis=2)
    if warm:  # a sunlit brick-orange wall: flame-coloured, and still
        img *= np.array([0.75, 1.0, 1.65], np.float32)
    return img


def frames(draw: Draw, seconds: float, seed: int = 0, warm: bool = False) -> list[np.ndarray]:
    bg = background(seed, warm)
    rng = np.random.default_rng(seed + 1)
    out = []
    for i in range(int(seconds * FPS)):
        img = bg.copy()
        draw(img, i / FPS)
        img += rng.normal(0, 1.5, img.shape).astype(np.float32)  # sensor noise
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


Box = tuple[float, float, float, float]


class BoxDetector:
    """Reports one box of a class, wherever `where(t)` puts it."""

    name = "scripted"

    def __init__(self, where: Callable[[float], Box], class_id: int) -> None:
        self.where = where
        self.class_id = class_id
        self.t = 0.0

    def detect(self, image: np.ndarray) -> Detections:
        return Detections(xyxy=[self.where(self.t)], confidence=[0.9], class_id=[self.class_id])


def run(
    images: list[np.ndarray], detector: BoxDetector | None = None, **params: object
) -> list[Signal]:
    camera: dict[str, object] = {"source": "synthetic", "analysis_fps": FPS}
    zones = params.pop("zone_polygons", None)
    if zones:
        camera["zones"] = {name: {"polygon": poly} for name, poly in zones.items()}  # type: ignore[attr-defined]
    camera["situations"] = {"fire_start": {"enabled": True, **params}}
    site = parse_config({"perception": {"motion_gating": False}, "cameras": {"cam": camera}})
    pipe = CameraPipeline("cam", site, detector=detector or NoDetector())
    out: list[Signal] = []
    for i, img in enumerate(images):
        if detector is not None:
            detector.t = i / FPS
        out += pipe.process(Frame(img, i / FPS, i))
    return out


def fire(start_s: float = 1.0, x: float = 160.0, **kw: object) -> Draw:
    flame = Flame(x=x, base_y=150.0, start_s=start_s, width=10.0, seed=3, **kw)  # type: ignore[arg-type]
    return flame.draw


# --- flames ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def burning() -> list[np.ndarray]:
    """A small fire from 1 s, for 7 s."""
    return frames(fire(start_s=1.0, smoke=False), 7)


def test_flames_raise_one_signal_after_the_minimum_duration(burning: list[np.ndarray]) -> None:
    sigs = run(burning)
    assert len(sigs) == 1
    s = sigs[0]
    assert s.situation == "fire_start" and s.zone is None and s.camera == "cam"
    assert 1.0 <= s.start_s <= 2.0
    assert s.end_s - s.start_s >= 2.0 and s.end_s <= 4.5  # min duration, ~2.4 s of evidence
    x1, y1, x2, y2 = s.bbox
    assert x1 < 0.5 < x2 and y1 < 0.8 < y2  # around the fire at (160, 150) of 320×180
    assert 0.5 <= s.confidence <= 1.0


def test_longer_minimum_duration_delays_the_signal(burning: list[np.ndarray]) -> None:
    early = run(burning)[0].end_s
    late = run(burning, min_duration_s=4.5)[0].end_s
    assert late >= early + 1.5


def test_flames_outside_the_zone_are_not_signalled_inside_are() -> None:
    images = frames(fire(start_s=1.0, x=240.0, smoke=False), 6)
    left = {"left": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}
    right = {"right": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}
    assert run(images, zones=["left"], zone_polygons=left) == []
    sigs = run(images, zones=["right"], zone_polygons=right)
    assert [s.zone for s in sigs] == ["right"]


def test_flames_disabled_see_nothing(burning: list[np.ndarray]) -> None:
    assert run(burning, flames=False, smoke=False) == []


def test_one_signal_per_fire_then_cooldown() -> None:
    # A fire from 1 s to 5 s, out, and again from 11 s: two situations, two signals; with a
    # cool-down longer than the gap the second is not signalled.
    a = Flame(x=160.0, base_y=150.0, start_s=1.0, width=10.0, smoke=False, seed=3)
    b = Flame(x=160.0, base_y=150.0, start_s=11.0, width=10.0, smoke=False, seed=4)

    def draw(img: np.ndarray, t: float) -> None:
        if t < 5.0:
            a.draw(img, t)
        b.draw(img, t)

    images = frames(draw, 15)
    assert [round(s.start_s) for s in run(images, cooldown_s=5, grace_s=3)] == [1, 11]
    assert len(run(images, cooldown_s=60, grace_s=3)) == 1


def test_a_parked_car_on_fire_is_signalled_a_moving_one_explains_its_flicker(
    burning: list[np.ndarray],
) -> None:
    # A car (COCO 2) detected around the fire: still, it burns; moving (a large box sliding
    # over the fire at 30 px/s, covering it throughout), its own motion explains the flicker.
    def parked(t: float) -> Box:
        return (110.0, 90.0, 210.0, 170.0)

    def passing(t: float) -> Box:
        return (-90.0 + 30 * t, 60.0, 230.0 + 30 * t, 175.0)

    assert len(run(burning, BoxDetector(parked, 2))) == 1
    assert run(burning, BoxDetector(passing, 2)) == []
    assert len(run(burning, BoxDetector(passing, 2), ignore_detected=False)) == 1


# --- traps: none of these may raise a signal ----------------------------------------------


def rotating_beacon(hz: float, colour: tuple[float, float, float] = AMBER) -> Draw:
    def level(t: float) -> float:
        return 0.25 + 0.75 * max(0.0, math.cos(2 * math.pi * hz * t)) ** 6

    return lambda img, t: lamp(img, 160.0, 90.0, colour, exposure(level, t), 5.0, 0.3)


def flasher(hz: float, on: list[tuple[float, float]], colour: tuple[float, float, float]) -> Draw:
    return lambda img, t: lamp(
        img, 160.0, 90.0, colour, exposure(lambda s: pulse_train(s, hz, on), t), 5.0, 0.4
    )


def lit_sign(beat_hz: float = 0.0) -> Draw:
    def draw(img: np.ndarray, t: float) -> None:
        if t < 3.0:
            return
        level = 1.0 + (0.15 * math.sin(2 * math.pi * beat_hz * t) if beat_hz else 0.0)
        panel = np.zeros((30, 120, 3), np.float32)
        panel[:] = (10.0, 120.0, 250.0)
        cv2.putText(panel, "CAFE", (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (170, 240, 255), 2)
        img[60:90, 100:220] = panel * level

    return draw


def headlights(img: np.ndarray, t: float) -> None:
    # A car driving through every few seconds, warm lights and their glow on the road.
    x = (40.0 + 90.0 * (t % 4.0)) % W
    for dx in (-8.0, 8.0):
        lamp(img, x + dx, 120.0, WARM_WHITE, 1.5, size=3.0)
        add_glow(img, x + dx, 145.0, 3.0, 20.0, AMBER, 0.5)


def sunset(img: np.ndarray, t: float) -> None:
    ys = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    sky = np.array([60.0, 150.0, 255.0]) * (1 - 0.3 * ys) * (1 - 0.01 * t)
    img[:] = 0.4 * img + 0.6 * sky
    add_glow(img, 200.0, 40.0 + 1.5 * t, 12.0, 12.0, (150.0, 235.0, 255.0), 1.2)


@pytest.mark.parametrize(
    "trap",
    [
        rotating_beacon(1.0),
        rotating_beacon(2.3),
        rotating_beacon(3.7),
        flasher(1.5, [(0.0, 0.5)], AMBER),  # hazard lights
        flasher(4.0, [(0.0, 0.3)], AMBER),  # LED flasher
        flasher(1.5, [(0.0, 0.09), (0.18, 0.27)], RED),  # emergency double flash
        flasher(1.5, [(0.5, 0.59), (0.68, 0.77)], BLUE),
        lit_sign(),
        lit_sign(beat_hz=0.7),
        headlights,
        sunset,
    ],
    ids=[
        "beacon-1Hz",
        "beacon-2.3Hz",
        "beacon-3.7Hz",
        "hazard-lights",
        "led-flasher-4Hz",
        "red-double-flash",
        "blue-double-flash",
        "lit-sign-switched-on",
        "sign-beating",
        "headlights",
        "sunset",
    ],
)
def test_field_traps_raise_nothing(trap: Draw) -> None:
    assert run(frames(trap, 6)) == []


def test_dark_things_passing_in_front_of_a_warm_wall_are_not_flames() -> None:
    # People walking to and fro in front of a sunlit orange wall: its colour keeps coming back
    # to the same values between them.
    def walkers(img: np.ndarray, t: float) -> None:
        for k in range(3):
            x = int(60 + 80 * k + 30 * math.sin(1.3 * t + k))
            img[70:150, x : x + 12] = 40.0

    assert run(frames(walkers, 10, warm=True), smoke=False) == []


def test_a_flapping_tape_is_not_flames() -> None:
    # A red and white barrier tape, 1 pixel high, fluttering by a pixel or two.
    def tape(img: np.ndarray, t: float) -> None:
        rng = np.random.default_rng(int(t * 100))
        for x in range(40, 280):
            y = 100 + round(1.5 * math.sin(x / 9 + 7 * t) + rng.normal(0, 0.5))
            img[y, x] = (60, 60, 240) if (x // 8) % 2 else (240, 240, 250)

    assert run(frames(tape, 6, warm=True)) == []


def test_a_shaking_camera_on_a_warm_wall_is_not_flames() -> None:
    wall = background(5, warm=True)
    rng = np.random.default_rng(9)
    images = []
    for _ in range(40):
        dx, dy = rng.normal(0, 1.5, 2)
        m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        shaken = cv2.warpAffine(wall, m, (W, H), borderMode=cv2.BORDER_REFLECT)
        images.append(np.clip(shaken, 0, 255).astype(np.uint8))
    assert run(images, smoke=False) == []


# --- smoke -------------------------------------------------------------------------------


def plume(start_s: float = 4.0) -> Draw:
    return Flame(x=160.0, base_y=175.0, start_s=start_s, width=12.0, flames=False, seed=2).draw


def test_smoke_alone_is_signalled_after_its_own_minimum_duration() -> None:
    images = frames(plume(), 14)
    sigs = run(images, flames=False)
    assert len(sigs) == 1
    s = sigs[0]
    assert s.start_s >= 4.0 and s.end_s - s.start_s >= 4.0
    assert s.bbox[0] < 0.5 < s.bbox[2]
    assert run(images, flames=False, smoke=False) == []


def test_a_shadow_or_an_opaque_object_is_not_smoke() -> None:
    def shadow(img: np.ndarray, t: float) -> None:
        if t >= 4.0:  # a cloud's shadow drifting in: darker, same texture, no light added
            x = int(min(200, 40 * (t - 4)))
            img[40:170, 60 : 60 + x] *= 0.55

    def grey_box(img: np.ndarray, t: float) -> None:
        if t >= 4.0:  # a grey van parked: hides the texture
            img[80:170, 100:220] = 170.0

    assert run(frames(shadow, 12), flames=False) == []
    assert run(frames(grey_box, 12), flames=False) == []


# --- the cues' pieces --------------------------------------------------------------------


def test_periodicity_separates_lights_from_flicker() -> None:
    t = np.arange(30) / FPS
    rng = np.random.default_rng(0)
    assert periodicity(np.cos(2 * np.pi * 1.0 * t)) > 0.8  # 1 Hz beacon
    assert periodicity(np.cos(2 * np.pi * 3.7 * t)) > 0.8  # aliased to 1.3 Hz
    assert periodicity(np.tile([1.0, 0.0], 15)) > 0.8  # on/off every other frame
    noise = [periodicity(50 + rng.normal(0, 10, 30) + np.arange(30)) for _ in range(20)]
    assert max(noise) < 0.8 and float(np.median(noise)) < 0.5
    assert periodicity(np.ones(30)) == 0.0 and periodicity(np.arange(5.0)) == 0.0


def test_global_motion_finds_the_camera_move_and_ignores_a_moving_object() -> None:
    bg = background(2)
    grey = np.clip(bg[..., 0], 0, 255).astype(np.uint8)
    gm = GlobalMotion()
    assert gm.update(grey) is None
    m = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -2.0]])
    shifted = cv2.warpAffine(grey, m, (W, H), borderMode=cv2.BORDER_REFLECT)
    motion = gm.update(shifted)
    assert motion is not None and np.allclose(motion[:, 2], [3.0, -2.0], atol=0.5)
    assert np.allclose(motion[:, :2], np.eye(2), atol=0.02)
    still = GlobalMotion()
    still.update(grey)
    moved = grey.copy()
    moved[60:120, 150:190] = 20  # something dark crossing a still view
    assert still.update(moved) is None


def test_cues_restart_when_the_frame_size_changes() -> None:
    flame, smoke = FlameCue(), SmokeCue()
    for i, img in enumerate(frames(fire(start_s=0.0, smoke=False), 4)):
        flame.update(img, i / FPS)
        smoke.update(img, i / FPS)
    big = np.zeros((240, 400, 3), np.uint8)
    assert flame.update(big, 1.0) == [] and smoke.update(big, 1.0) == []
    assert flame.tracks == 0


# --- people, moving cameras, recurring pictures (issue 10) ---------------------------------


def test_flicker_inside_a_still_person_box_is_not_flames_beside_it_is(
    burning: list[np.ndarray],
) -> None:
    # The detector reports a person standing still where the flickering warm light is (skin,
    # a red or white shirt moving with breath and gestures): not flames. The same light beside
    # the person, mostly outside their box, is a fire next to someone: signalled.
    def over(t: float) -> Box:
        return (135.0, 60.0, 185.0, 178.0)

    def beside(t: float) -> Box:
        return (40.0, 60.0, 100.0, 178.0)

    def half(t: float) -> Box:  # a person standing behind the fire, covering a third of it
        return (100.0, 20.0, 158.0, 135.0)

    assert run(burning, BoxDetector(over, 0)) == []
    assert len(run(burning, BoxDetector(beside, 0))) == 1
    assert len(run(burning, BoxDetector(half, 0))) == 1
    assert len(run(burning, BoxDetector(over, 0), ignore_detected=False)) == 1


def camera_frames(
    draw: Draw, seconds: float, path: Callable[[float], tuple[float, float, float]]
) -> list[np.ndarray]:
    """Frames of a 480×300 scene seen through a 320×180 window that moves: `path(t)` gives the
    window's offset (x, y) and its rotation in degrees, as a hand-held or panning camera."""
    big_h, big_w = 300, 480
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (big_h, big_w)).astype(np.float32), (0, 0), 1.5)
    base = np.repeat((110 + 30 * noise / noise.std())[..., None], 3, axis=2)
    out = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        img = base.copy()
        draw(img, t)
        dx, dy, angle = path(t)
        m = cv2.getRotationMatrix2D((W / 2 + dx, H / 2 + dy), angle, 1.0)
        m[:, 2] -= (dx, dy)
        view = cv2.warpAffine(img, m, (W, H), borderMode=cv2.BORDER_REFLECT)
        view += rng.normal(0, 1.5, view.shape).astype(np.float32)
        out.append(np.clip(view, 0, 255).astype(np.uint8))
    return out


def test_flames_filmed_by_a_moving_camera_are_signalled_within_3_s() -> None:
    flame = Flame(x=240.0, base_y=220.0, start_s=0.0, width=14.0, smoke=False, seed=3)
    rng = np.random.default_rng(4)
    shake = rng.normal(0, 4.0, (100, 3)) * (1.0, 1.0, 0.5)

    def panning(t: float) -> tuple[float, float, float]:
        return (40.0 + 25.0 * t, 60.0 + 5.0 * math.sin(t), 0.0)

    def hand_held(t: float) -> tuple[float, float, float]:
        k = round(t * FPS)
        return (80.0 + 12.0 * math.sin(1.7 * t) + shake[k, 0], 60.0 + shake[k, 1], shake[k, 2])

    for path in (panning, hand_held):
        signals = run(camera_frames(flame.draw, 5, path), smoke=False)
        assert len(signals) == 1, path.__name__
        assert signals[0].end_s <= 3.0, path.__name__


def test_a_warm_wall_filmed_by_a_moving_camera_is_not_flames() -> None:
    def nothing(img: np.ndarray, t: float) -> None:
        img *= np.array([0.75, 1.0, 1.65], np.float32)  # sunlit brick orange, still

    def hand_held(t: float) -> tuple[float, float, float]:
        return (80.0 + 30.0 * math.sin(1.3 * t), 60.0 + 10.0 * math.sin(2.9 * t), 2 * math.sin(t))

    assert run(camera_frames(nothing, 8, hand_held), smoke=False) == []


def test_an_animated_sign_that_shows_the_same_pictures_again_is_not_flames() -> None:
    # A lit sign that switches, in no regular order, between six pictures of warm light:
    # some parts light up while others go out (not "all together"), its lit area follows no
    # period, but every picture has been seen before. (Its parts also keep coming back to the
    # same levels, which the steadiness test sees; it is set aside here to show the
    # recurrence test on its own.)
    rng = np.random.default_rng(5)
    states = [(rng.random((6, 8)) > 0.3) * rng.uniform(0.8, 1.0, (6, 8)) for _ in range(6)]
    steps = rng.integers(1, 6, 200)  # never the same picture twice in a row
    order = np.cumsum(steps) % 6

    def sign(img: np.ndarray, t: float) -> None:
        on = states[order[round(t * FPS)]]
        for r, c in zip(*np.nonzero(on), strict=True):
            y, x = 60 + 6 * int(r), 130 + 6 * int(c)
            img[y : y + 5, x : x + 5] = np.array([60.0, 170.0, 255.0]) * on[r, c]

    images = frames(sign, 10)
    assert run(images, smoke=False) == []
    assert run(images, smoke=False, max_steadiness=1.0) == []
    # It is the recurrence that tells: without that test the sign passes for flames.
    reasons = set()
    for params in (FlameParams(max_steadiness=1.0), FlameParams(max_steadiness=1.0, min_novelty=0)):
        cue = FlameCue(params)
        for i, img in enumerate(images):
            regions = cue.update(img, i / FPS)
        reasons.add(tuple(sorted({r.reason for r in regions})))
    assert reasons == {("shows the same pictures again (an animated sign, a chaser)",), ("",)}


@pytest.mark.parametrize(
    "trap",
    [
        lambda img, t: rotating_beacon(1.0)(img, t),
        lambda img, t: flasher(1.5, [(0.0, 0.09), (0.18, 0.27)], RED)(img, t),
        lambda img, t: lit_sign()(img, t + 3.0),
    ],
    ids=["beacon-1Hz", "red-double-flash", "lit-sign"],
)
def test_field_traps_filmed_by_a_hand_held_camera_raise_nothing(trap: Draw) -> None:
    # Following the camera must not turn the traps' edges into flicker.
    def hand_held(t: float) -> tuple[float, float, float]:
        return (80.0 + 30.0 * math.sin(1.3 * t), 60.0 + 10.0 * math.sin(2.9 * t), 2 * math.sin(t))

    assert run(camera_frames(trap, 8, hand_held), smoke=False) == []
