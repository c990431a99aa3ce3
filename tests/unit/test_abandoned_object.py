"""`abandoned_object` and its static-foreground cue on synthetic pictures.

The pictures are a textured ground with painted shapes: a dark bag, grey "persons" (with
scripted person boxes, as a detector would give them), a bench-sized block, a change of light.
They go through the real pipeline, tracker and scene; only the detector is scripted. Each trap
of the field is checked next to the case that must fire, so that a rule that rejects everything
fails here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from pydantic import ValidationError

from veilleur.config import parse_config
from veilleur.config.situations import AbandonedObjectConfig
from veilleur.perception.static_foreground import StaticForeground
from veilleur.pipeline import CameraPipeline
from veilleur.situations.abandoned_object import AbandonedObject, PersonHeight
from veilleur.types import PERSON, Detections, Frame, Signal

W, H = 320, 240
FPS = 5.0
Box = tuple[float, float, float, float]
SUITCASE, CAR = 28, 2

_rng = np.random.default_rng(7)
#: Paving: a blurred random texture, grey levels about 90-150.
GROUND = np.clip(
    120 + 12 * _rng.standard_normal((H // 4, W // 4, 1)).repeat(4, 0).repeat(4, 1), 0, 255
).repeat(3, axis=2)
GROUND = (GROUND + _rng.normal(0, 6, GROUND.shape)).clip(0, 255).astype(np.uint8)

BAG: Box = (150.0, 150.0, 166.0, 162.0)  # 16 × 12 px, feet at y = 162
PERSON_H = 60.0


@dataclass
class Thing:
    """A painted shape, and the box a detector reports for it (class, or None: unseen)."""

    box: Callable[[float], Box | None]
    colour: int
    detected_as: int | None = None
    seen: Callable[[float], bool] = lambda t: True


def person_path(points: list[tuple[float, float, float]]) -> Callable[[float], Box | None]:
    """Feet at (x, y) at time t, linear in between, absent outside [first t, last t]."""
    ts = [p[0] for p in points]

    def box(t: float) -> Box | None:
        if t < ts[0] or t > ts[-1]:
            return None
        x = float(np.interp(t, ts, [p[1] for p in points]))
        y = float(np.interp(t, ts, [p[2] for p in points]))
        return (x - 10, y - PERSON_H, x + 10, y)

    return box


def during(box: Box, t0: float, t1: float = 1e9) -> Callable[[float], Box | None]:
    return lambda t: box if t0 <= t < t1 else None


class World:
    """Paints the things on the ground and scripts the detector's boxes for them."""

    name = "scripted"

    def __init__(self, things: list[Thing], light: Callable[[float], float] | None = None):
        self.things = things
        self.light = light or (lambda t: 1.0)
        self.t = 0.0
        self._noise = [_rng.normal(0, 2.0, GROUND.shape) for _ in range(4)]
        self._runs = 0

    def image(self, t: float, i: int) -> np.ndarray:
        img = GROUND.astype(np.float64) + self._noise[i % 4]
        for th in self.things:
            b = th.box(t)
            if b is not None:
                x1, y1, x2, y2 = (round(v) for v in b)
                img[y1:y2, x1:x2] = th.colour
        return np.clip(img * self.light(t), 0, 255).astype(np.uint8)

    def detect(self, image: np.ndarray) -> Detections:
        self._runs += 1
        items = []
        for th in self.things:
            b = th.box(self.t)
            if b is not None and th.detected_as is not None and th.seen(self.t):
                items.append((b, th.detected_as))
        return Detections(
            xyxy=[b for b, _ in items] or np.zeros((0, 4)),
            confidence=[0.9 if c != SUITCASE else 0.6 for _, c in items],
            class_id=[c for _, c in items],
        )


def run(
    world: World, seconds: float, camera: dict | None = None, **params: object
) -> tuple[list[Signal], AbandonedObject]:
    situation = {
        "enabled": True,
        "min_duration_s": 8.0,
        "background_learn_s": 3.0,
        "work_width": 160,
        **params,
    }
    site = parse_config(
        {
            "perception": {"motion_gating": False},
            "cameras": {
                "cam": {
                    "source": "synthetic",
                    **(camera or {}),
                    "situations": {"abandoned_object": situation},
                }
            },
        }
    )
    pipe = CameraPipeline("cam", site, detector=world)
    sit = pipe.situations[0]
    assert isinstance(sit, AbandonedObject)
    out: list[Signal] = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        world.t = t
        out += pipe.process(Frame(world.image(t, i), t, i))
    return out, sit


def dropper(t_drop: float, leave_to: float = 300.0) -> Thing:
    """Walks in from the left, passes the bag's place at t_drop and walks on."""
    foot = (BAG[0] + BAG[2]) / 2 - 12
    return Thing(
        person_path(
            [(t_drop - 3, foot - 90, 164), (t_drop, foot, 164), (t_drop + 4, leave_to, 164)]
        ),
        200,
        PERSON,
    )


def out_of_reach(t_drop: float) -> float:
    """When `dropper(t_drop)` is more than the owner distance (one height, 60 px, feet to
    feet) from the bag: the bag is unattended from then."""
    foot_x = (BAG[0] + BAG[2]) / 2
    speed = (300.0 - (foot_x - 12)) / 4.0
    return t_drop + (float(np.sqrt(PERSON_H**2 - 2.0**2)) + 12) / speed


def test_bag_left_by_a_passer_by_is_signalled_once() -> None:
    bag = Thing(during(BAG, 6.0), 30)
    sigs, _ = run(World([dropper(6.0), bag]), 30.0)
    assert len(sigs) == 1
    s = sigs[0]
    assert s.situation == "abandoned_object" and s.zone is None
    # Unattended once the dropper is out of reach, though the background model shows the bag
    # only ~3 s after it stopped, when they have gone: the carrier is traced back through the
    # people seen since it stopped (held-aside real footage: cups dropped by a passer-by were
    # signalled from before he walked on).
    assert s.start_s == pytest.approx(out_of_reach(6.0), abs=0.8)
    assert s.end_s - s.start_s == pytest.approx(8.0, abs=0.3)
    x1, y1, x2, y2 = (v * d for v, d in zip(s.bbox, (W, H, W, H), strict=True))
    assert abs(x1 - BAG[0]) <= 3 and abs(y1 - BAG[1]) <= 3
    assert abs(x2 - BAG[2]) <= 3 and abs(y2 - BAG[3]) <= 3
    assert s.confidence == pytest.approx(0.6)


def test_bag_taken_back_before_the_minimum_duration_is_not_signalled() -> None:
    bag = Thing(during(BAG, 6.0, 12.0), 30)
    assert run(World([dropper(6.0), bag]), 30.0)[0] == []


def test_attended_bag_is_signalled_only_once_its_owner_has_left() -> None:
    # The owner stands beside the bag from 5 s to 20 s, then walks away.
    foot_x = BAG[2] + 14
    owner = Thing(
        person_path([(2.0, 20.0, 164.0), (5.0, foot_x, 164.0), (20.0, foot_x, 164.0),
                     (25.0, 310.0, 164.0)]),
        200,
        PERSON,
    )  # fmt: skip
    bag = Thing(during(BAG, 6.0), 30)
    sigs, _ = run(World([owner, bag]), 26.0)
    assert sigs == []  # still within the minimum duration after the owner left
    sigs, _ = run(World([owner, bag]), 34.0)
    assert len(sigs) == 1
    assert sigs[0].start_s == pytest.approx(20.0, abs=1.5)


def test_passers_by_do_not_attend_a_bag() -> None:
    bag = Thing(during(BAG, 6.0), 30)
    walkers = [
        Thing(person_path([(t, 10.0, 175.0), (t + 6, 310.0, 175.0)]), 200, PERSON)
        for t in (9.0, 12.0, 15.0)
    ]
    sigs, _ = run(World([dropper(6.0), bag, *walkers]), 30.0)
    assert len(sigs) == 1


def test_owner_standing_over_the_bag_then_walking_off() -> None:
    # The failure of issue 10 on real footage: the owner sets the bag down and stands over it,
    # fidgeting (their box jumps, so they are never "still"), then walks off at 16 s. Their
    # box covered the bag while it became still: once they are seen walking elsewhere, those
    # pixels are no longer "a person", and the bag is unattended from when they left.
    foot_x = (BAG[0] + BAG[2]) / 2

    def owner_box(t: float) -> Box | None:
        if t < 2.0 or t > 22.0:
            return None
        if t < 5.0:
            x = float(np.interp(t, [2.0, 5.0], [20.0, foot_x]))
        elif t < 16.0:
            x = foot_x + (6.0 if round(t * FPS) % 4 < 2 else -6.0)  # shifting about
        else:
            x = float(np.interp(t, [16.0, 22.0], [foot_x, 310.0]))
        return (x - 10, 164.0 - PERSON_H, x + 10, 164.0)

    owner = Thing(owner_box, 200, PERSON)
    bag = Thing(during(BAG, 5.0), 30)
    sigs, _ = run(World([bag, owner]), 34.0)
    assert len(sigs) == 1
    # Unattended once the owner is more than `owner_distance` (one height, 60 px) away: they
    # walk off at 25 px/s from 16 s.
    left = 16.0 + PERSON_H / ((310.0 - foot_x) / 6.0)
    assert sigs[0].start_s == pytest.approx(left, abs=1.0)
    # Before the minimum duration after the owner left: nothing yet.
    assert run(World([bag, owner]), left + 7.0)[0] == []


def test_something_that_appears_with_nobody_there_is_not_an_object() -> None:
    # A dark patch appearing with no person anywhere near (a reflection, a wet stain, the ghost
    # of something that left): objects do not come on their own.
    patch = Thing(during(BAG, 6.0), 30)
    sigs, sit = run(World([patch]), 25.0)
    assert sigs == []
    assert any(c.reason == "nobody brought it" for c in sit.candidates)
    # The same patch set down by a passer-by is an object.
    assert len(run(World([dropper(6.0), patch]), 25.0)[0]) == 1


def walkers(seconds: float, rows: tuple[float, ...] = (140.0, 185.0, 230.0)) -> list[Thing]:
    """People crossing the picture along a few rows, from whom the person size is learnt."""
    return [
        Thing(person_path([(t, 10.0, rows[i % len(rows)]), (t + 5, 310.0, rows[i % len(rows)])]),
              200, PERSON)
        for i, t in enumerate(np.arange(0.0, seconds, 2.5))
    ]  # fmt: skip


def test_person_sitting_still_is_not_an_object() -> None:
    # A seated person (a block half a person's height) still from 4 s on; the detector sees
    # them only one frame in ten after 10 s (seated or lying people are often missed).
    foot = (160.0, 170.0)
    box = (foot[0] - 8, foot[1] - 30, foot[0] + 8, foot[1])
    seated = Thing(during(box, 4.0), 200, PERSON, seen=lambda t: t < 10 or round(t * FPS) % 10 == 0)
    sigs, sit = run(World([*walkers(30.0), seated]), 30.0)
    assert sigs == []
    assert any(c.reason == "a person" for c in sit.candidates)
    # The same block never seen as a person is taken for an object: the veto is the person.
    sigs, _ = run(World([*walkers(30.0), Thing(during(box, 4.0), 200)]), 30.0)
    assert len(sigs) == 1


def test_large_things_are_not_objects() -> None:
    # A person lying across the ground (1 person height long), missed by the detector, and a
    # bench dropped off by a van: too large for a bag at that place.
    lying = (100.0, 150.0, 100 + 1.1 * PERSON_H, 162.0)
    assert run(World([Thing(during(lying, 5.0), 60)]), 25.0)[0] == []
    # With the person size learnt from the people seen, the limit follows perspective.
    sigs, sit = run(World([*walkers(25.0, (200.0, 230.0)), Thing(during(lying, 5.0), 60)]), 25.0)
    assert sigs == []
    assert sit.heights is not None and sit.heights.at(200.0) == pytest.approx(PERSON_H, rel=0.1)


def test_changes_of_light_are_not_objects() -> None:
    # The whole picture brightens by 30 % at 8 s and stays so.
    sigs, sit = run(World([], light=lambda t: 1.3 if t >= 8 else 1.0), 25.0)
    assert sigs == []
    assert sit.fg.gain == pytest.approx(1.3, abs=0.05) and sit.fg.resets == 0


def test_things_there_from_the_start_are_part_of_the_scene() -> None:
    # A bin painted from the first frame, and a suitcase the detector reports from the start.
    bin_ = Thing(during((60.0, 120.0, 76.0, 150.0), 0.0), 40)
    case = Thing(during((220.0, 150.0, 236.0, 170.0), 0.0), 128, SUITCASE)
    assert run(World([bin_, case]), 25.0)[0] == []


def test_ignore_zones_and_watched_zones() -> None:
    bag = Thing(during(BAG, 6.0), 30)
    around = {"polygon": [[0.4, 0.5], [0.6, 0.5], [0.6, 0.8], [0.4, 0.8]]}
    elsewhere = {"polygon": [[0.0, 0.0], [0.3, 0.0], [0.3, 0.3], [0.0, 0.3]]}
    camera = {"zones": {"bench": around, "hall": elsewhere}}
    assert run(World([dropper(6.0), bag]), 25.0, camera, ignore_zones=["bench"])[0] == []
    assert run(World([dropper(6.0), bag]), 25.0, camera, zones=["hall"])[0] == []
    sigs, _ = run(World([dropper(6.0), bag]), 25.0, camera, zones=["bench"])
    assert [s.zone for s in sigs] == ["bench"]
    with pytest.raises(ValueError, match="ignore_zones names nowhere"):
        run(World([]), 1.0, camera, ignore_zones=["nowhere"])


def test_bag_seen_only_by_the_detector() -> None:
    # Same grey as the ground: the background model cannot see it; the detector can.
    case = Thing(during(BAG, 6.0), 120, SUITCASE)
    sigs, _ = run(World([dropper(6.0), case]), 25.0)
    assert len(sigs) == 1 and sigs[0].confidence == pytest.approx(0.6)
    # Carried along by someone walking: never still.
    carried = Thing(person_path([(6.0, 10.0, 170.0), (26.0, 300.0, 170.0)]), 120, SUITCASE)
    assert run(World([carried]), 25.0)[0] == []


def test_parked_vehicle_is_not_an_object() -> None:
    car = Thing(during((120.0, 140.0, 150.0, 162.0), 6.0), 50, CAR)
    assert run(World([car]), 25.0)[0] == []


def test_one_signal_per_place_within_the_cooldown() -> None:
    # A bag left, taken away at 22 s, another put at the same place at 26 s.
    first = Thing(during(BAG, 5.0, 22.0), 30)
    second = Thing(during(BAG, 26.0), 30)
    sigs, _ = run(World([dropper(5.0), first, dropper(26.0), second]), 45.0)
    assert len(sigs) == 1
    sigs, _ = run(World([dropper(5.0), first, dropper(26.0), second]), 45.0, cooldown_s=2.0)
    assert len(sigs) == 2


# --- the static-foreground cue alone -----------------------------------------------------------


def feed(
    sf: StaticForeground,
    paint: Callable[[float, np.ndarray], None],
    seconds: float,
    start: float = 0.0,
) -> list:
    regions: list = []
    for i in range(int(seconds * FPS)):
        t = start + i / FPS
        img = (GROUND.astype(np.float64) + _rng.normal(0, 2.0, GROUND.shape)).astype(np.float64)
        paint(t, img)
        regions = sf.update(np.clip(img, 0, 255).astype(np.uint8), t)
    return regions


def test_static_foreground_finds_a_stopped_object_and_forgets_it_when_taken() -> None:
    sf = StaticForeground(work_width=160, warmup_s=3.0)

    def paint(t: float, img: np.ndarray) -> None:
        if 5.0 <= t < 15.0:
            img[150:162, 150:166] = 30

    regions = feed(sf, paint, 12.0)
    assert len(regions) == 1
    r = regions[0]
    assert np.allclose(r.box, [150, 150, 166, 162], atol=2)
    assert 4.0 <= r.static_s <= 7.0  # stopped at 5 s, learnt by the fast model a little later
    cues = sf.cues(r)
    assert cues.edge_contrast > 2.0 and cues.texture_match < 0.5
    sf2 = StaticForeground(work_width=160, warmup_s=3.0)
    assert feed(sf2, paint, 17.0) == []  # taken away at 15 s


def test_static_foreground_ignores_moving_things() -> None:
    sf = StaticForeground(work_width=160, warmup_s=3.0)

    def paint(t: float, img: np.ndarray) -> None:
        x = int(20 + 25 * t) % 280
        img[100:160, x : x + 20] = 210

    for _ in range(3):
        assert feed(sf, paint, 8.0) == []


def test_static_foreground_ghost_and_light_cues() -> None:
    # Something there while the scene is learnt, gone afterwards: its ghost has the outline in
    # the background, not in the picture; absorbing it makes it part of the scene.
    sf = StaticForeground(work_width=160, warmup_s=3.0)

    def paint(t: float, img: np.ndarray) -> None:
        if t < 4.0:
            img[60:90, 40:60] = 220
        if t >= 6.0:  # a soft patch of light that stays
            yy, xx = np.mgrid[0:H, 0:W]
            img *= (1.0 + 0.5 * np.exp(-(((xx - 240) / 20.0) ** 2 + ((yy - 80) / 12.0) ** 2)))[
                ..., None
            ]

    regions = feed(sf, paint, 12.0)
    ghost = [r for r in regions if r.box[0] < 100]
    light = [r for r in regions if r.box[0] > 180]
    assert len(ghost) == 1 and sf.cues(ghost[0]).edge_contrast < 1.0
    assert light and all(sf.cues(r).texture_match > 0.6 for r in light)
    sf.absorb(ghost[0])
    assert all(r.box[0] > 100 for r in feed(sf, paint, 2.0, start=12.0))


def test_surround_cue_sees_a_plain_bag_on_a_patterned_pavement() -> None:
    # Large high-contrast tiles: their joints outweigh a plain bag's outline, so the edge cue
    # alone called such a bag a ghost (the real pavement of issue 10). Its colour against the
    # ground around it tells: far from it now, while the background there matched its ground.
    yy, xx = np.mgrid[0:H, 0:W]
    tiles = np.where(((xx // 12) + (yy // 12)) % 2 == 0, 150.0, 95.0)[..., None].repeat(3, 2)
    rng = np.random.default_rng(3)

    def frames(paint: Callable[[float, np.ndarray], None], seconds: float) -> list:
        sf = StaticForeground(work_width=160, warmup_s=3.0)
        regions: list = []
        for i in range(int(seconds * FPS)):
            t = i / FPS
            img = tiles + rng.normal(0, 2.0, tiles.shape)
            paint(t, img)
            regions = sf.update(np.clip(img, 0, 255).astype(np.uint8), t)
        return [(r, sf.cues(r)) for r in regions]

    def bag(t: float, img: np.ndarray) -> None:
        if t >= 5.0:
            img[146:166, 146:170] = 35

    def ghost(t: float, img: np.ndarray) -> None:
        if t < 4.0:
            img[146:166, 146:170] = 35

    (_, on_tiles), *_ = frames(bag, 12.0)
    assert on_tiles.surround_contrast > 2.0
    (_, gone), *_ = frames(ghost, 12.0)
    assert gone.surround_contrast < 1.0 and gone.edge_contrast < 1.0


def test_static_foreground_restarts_on_a_change_of_the_whole_picture() -> None:
    sf = StaticForeground(work_width=160, warmup_s=3.0)

    def paint(t: float, img: np.ndarray) -> None:
        if t >= 6.0:  # the camera turns: half of the picture is different
            img[:, : W // 2] *= 0.4

    assert feed(sf, paint, 8.0) == []
    assert sf.resets == 1 and not sf.ready
    assert feed(sf, paint, 4.0, start=8.0) == []
    assert sf.ready


def test_person_height_follows_perspective() -> None:
    model = PersonHeight(480)
    for y in np.linspace(150, 450, 60):
        model.add(np.array([0.0, y - (0.25 * y + 15), 20.0, y]))
    assert model.at(300) == pytest.approx(0.25 * 300 + 15, rel=0.02)
    assert PersonHeight(480).at(300) is None


def test_configuration_is_checked() -> None:
    with pytest.raises(ValidationError, match="min_size"):
        AbandonedObjectConfig(min_size=0.8, max_size=0.5)
    cfg = AbandonedObjectConfig()
    assert cfg.min_duration_s == 60.0 and cfg.cooldown_s == 300.0
    assert AbandonedObject.required_classes == frozenset({24, 26, 28})
    assert "person lying" in AbandonedObject.known_limits
