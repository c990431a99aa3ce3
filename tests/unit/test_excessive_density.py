"""`excessive_density`: its perception cues on arrays, and the situation through the real
pipeline with scripted detections (and drawn people where the foreground matters)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pydantic import ValidationError
from shapely.geometry import Polygon

from veilleur.config import ConfigError, parse_config
from veilleur.config.situations import ExcessiveDensityConfig
from veilleur.perception.density import (
    Foreground,
    PersonCounter,
    PersonScale,
    attribution_mask,
    cut_by_top,
    expected_count,
    fuse_passes,
    isolated,
    occupancy,
    row_weights,
)
from veilleur.pipeline import CameraPipeline
from veilleur.situations.excessive_density import ExcessiveDensity
from veilleur.types import Detections, Frame, Signal

W, H = 400, 300
FPS = 5.0
Box = tuple[float, float, float, float]
RIGHT = {"polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]}


def person(cx: float, foot_y: float, w: float = 16, h: float = 40) -> Box:
    return (cx - w / 2, foot_y - h, cx + w / 2, foot_y)


# ---------------------------------------------------------------------------------------------
# Configuration


def test_limits_per_zone_and_validation() -> None:
    cfg = ExcessiveDensityConfig(max_people={"gate": 10, "hall": 40})
    assert cfg.people_limit("gate") == 10 and cfg.people_limit("other") is None
    assert ExcessiveDensityConfig(max_people=25).people_limit("any") == 25
    assert ExcessiveDensityConfig().max_density_m2 == 4.0
    with pytest.raises(ValidationError):
        ExcessiveDensityConfig(max_people=0)
    with pytest.raises(ValidationError):
        ExcessiveDensityConfig(max_people={"gate": -1})


# ---------------------------------------------------------------------------------------------
# Perception cues


def test_fuse_passes_merges_one_person_seen_twice_and_halves_a_one_pass_box() -> None:
    a = (np.array([[10, 10, 50, 110], [200, 10, 240, 110]]), np.array([0.8, 0.6]))
    b = (np.array([[12, 8, 52, 112]]), np.array([0.4]))
    boxes, scores = fuse_passes([a, b])
    assert len(boxes) == 2
    np.testing.assert_allclose(scores, [0.6, 0.3])  # mean over passes, 0 where unseen
    assert [x.shape for x in fuse_passes([])] == [(0, 4), (0,)]


def test_expected_count_weighs_boxes_by_calibrated_probability() -> None:
    assert expected_count(np.array([0.999, 0.999])) == pytest.approx(2.0, abs=0.01)
    assert expected_count(np.array([0.01] * 10)) < 0.3
    assert expected_count(np.zeros(0)) == 0.0


class _Fake:
    """A detector that finds one person at any scale and a second one only at full size."""

    def __init__(self) -> None:
        self.scales: list[float] = []

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections:
        assert scale is not None
        self.scales.append(scale)
        boxes = [[100, 100, 140, 200]] + ([[300, 50, 310, 75]] if scale >= 1 else [])
        return Detections(
            xyxy=np.array(boxes, dtype=np.float32),
            confidence=np.array([0.9, 0.7][: len(boxes)]),
            class_id=np.zeros(len(boxes)),
        )


def test_person_counter_passes_upscale_only_when_asked_and_fuse() -> None:
    fake = _Fake()
    counter = PersonCounter(fake, sides=(640, 1024), threshold=0.3, upscale=False)
    image = np.zeros((576, 768, 3), dtype=np.uint8)
    assert counter.count(image) == 2.0  # 0.9 and 0.35 (seen by one pass of two) >= 0.3
    assert fake.scales == pytest.approx([640 / 768, 1.0])
    fake = _Fake()
    PersonCounter(fake, sides=(512, 1280)).count(image)  # enlarges by default
    assert fake.scales == pytest.approx([512 / 768, 1280 / 768])
    flipped = PersonCounter(_Fake(), sides=(768,), flip=True)
    boxes, _ = flipped.boxes(image)
    np.testing.assert_allclose(boxes[0], [100, 100, 140, 200])  # the mirror maps back
    expected = PersonCounter(_Fake(), sides=(640, 1024), threshold=None, upscale=False)
    assert expected.count(image) == pytest.approx(expected_count(np.array([0.9, 0.35])), rel=1e-6)


class _TopCut:
    """A detector that finds one person standing clear and one whose box the top edge cuts."""

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections:
        return Detections(
            xyxy=np.array([[100, 100, 140, 200], [300, 0, 340, 90]], dtype=np.float32),
            confidence=np.array([0.9, 0.9]),
            class_id=np.zeros(2),
        )


class _Pose:
    """A pose model that puts one head keypoint at row `head_y` of what it is given."""

    def __init__(self, head_y: float, score: float = 0.6) -> None:
        self.head_y, self.score = head_y, score
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, image: np.ndarray) -> Detections:
        self.shapes.append(image.shape)
        keypoints = np.zeros((1, 17, 3), dtype=np.float32)
        keypoints[0, 0] = (10.0, self.head_y, self.score)  # the nose
        keypoints[0, 5] = (10.0, self.head_y + 20, 0.9)  # a shoulder, no head keypoint
        return Detections(
            xyxy=np.array([[0, 0, 20, 80]], dtype=np.float32),
            confidence=np.array([0.8]),
            class_id=np.zeros(1),
            keypoints=keypoints,
        )


def test_a_person_cut_by_the_top_edge_counts_only_with_a_head_in_view() -> None:
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    assert cut_by_top(np.array([[0, 1, 5, 5], [0, 2, 5, 5]]), 300).tolist() == [True, False]
    assert PersonCounter(_TopCut(), sides=(400,)).count(image) == 2.0  # no pose model: both
    # The column given to the pose model sits under a black band (0.3 x 90 = 27 rows): a head
    # placed in the band is off the picture, one below it is in view.
    seen = _Pose(head_y=40.0)
    assert PersonCounter(_TopCut(), sides=(400,), heads=seen).count(image) == 2.0
    assert seen.shapes == [(27 + 90, 48, 3)]  # only the cut box, widened by a tenth each side
    assert PersonCounter(_TopCut(), sides=(400,), heads=_Pose(head_y=10.0)).count(image) == 1.0
    weak = _Pose(head_y=40.0, score=0.1)
    assert PersonCounter(_TopCut(), sides=(400,), heads=weak, head_score=0.2).count(image) == 1.0


def test_person_scale_learns_height_against_foot_row() -> None:
    scale = PersonScale(H)
    assert not scale.fitted and scale.height_at(100.0) == pytest.approx(0.12 * H)
    rng = np.random.default_rng(0)
    for _ in range(30):
        y = rng.uniform(80, 290)
        h = 0.3 * y + 10 + rng.normal(0, 1)
        x = rng.uniform(20, 380)
        scale.add(np.array([[x - 0.2 * h, y - h, x + 0.2 * h, y]]))
    assert scale.fitted
    assert scale.slope == pytest.approx(0.3, abs=0.03)
    assert scale.height_at(200.0) == pytest.approx(70.0, abs=3.0)
    assert scale.width_ratio == pytest.approx(0.4, abs=0.02)
    # Boxes touching each other or cut by the bottom edge say nothing about a person's size.
    before = scale.version
    pair = np.array([[100, 100, 120, 150], [110, 100, 130, 150]])
    assert not isolated(pair).any()
    scale.add(pair)
    scale.add(np.array([[100, 250, 120, 300]] * 1))
    assert scale._n == 30 and scale.version == before


def test_no_person_is_expected_smaller_than_the_smallest_seen() -> None:
    """Above the rows where people stand (a wall, a window), the fitted line goes to zero; a
    reflection there must not read as dozens of tiny people (UP-Fall, an indoor camera)."""
    scale = PersonScale(H)
    for i in range(30):
        y = 150 + 4.5 * i  # feet from row 150 down
        h = 0.8 * y - 60  # 60 px at row 150, falling to 0 at row 75
        scale.add(np.array([[200 - 0.2 * h, y - h, 200 + 0.2 * h, y]]))
    assert scale.fitted and scale.slope == pytest.approx(0.8, abs=0.01)
    smallest = 0.8 * 150 - 60
    assert scale.height_at(80.0) == pytest.approx(0.8 * smallest, rel=0.1)
    assert scale.height_at(250.0) == pytest.approx(0.8 * 250 - 60, abs=1.0)
    weights = row_weights(scale, H, 1.0, 0.5)
    assert weights[:100].max() <= 1.0 / (0.5 * scale.width_ratio * (0.8 * smallest * 0.9) ** 2)


def _fixed_scale(height: float = 40.0) -> PersonScale:
    """A person scale fitted on boxes of one size spread over the picture."""
    scale = PersonScale(H)
    for i in range(20):
        y = 60 + 11 * i
        scale.add(np.array([[200 + 30 * (i % 3), y - height, 216 + 30 * (i % 3), y]]))
    assert scale.fitted and scale.slope == pytest.approx(0.0, abs=1e-6)
    return scale


def _draw(mask: np.ndarray, boxes: np.ndarray) -> None:
    for x1, y1, x2, y2 in boxes.astype(int):
        mask[max(0, y1) : y2, max(0, x1) : x2] = True


def test_occupancy_counts_people_hiding_each_other() -> None:
    scale = _fixed_scale()
    zone = Polygon([(100, 100), (300, 100), (300, 220), (100, 220)])
    attr = attribution_mask(zone, (H, W), 1.0, scale)
    weights = row_weights(scale, H, 1.0, fill=1.0)  # the drawn people fill their boxes
    rng = np.random.default_rng(1)
    for n in (8, 40):
        x = rng.uniform(110, 290, n)
        y = rng.uniform(110, 215, n)
        mask = np.zeros((H, W), dtype=bool)
        _draw(mask, np.stack([x - 8, y - 40, x + 8, y], axis=1))
        plain = float((mask * attr).sum(axis=1) @ weights)
        estimate = occupancy(mask, attr, weights)
        assert estimate == pytest.approx(n, rel=0.3), (n, estimate)
        if n == 40:
            # Overlaps hide a good share of the people from a plain sum of areas.
            assert plain < 0.7 * n and estimate > 1.3 * plain


def test_attribution_counts_a_person_once_in_a_shallow_zone_and_not_in_front_of_it() -> None:
    scale = _fixed_scale()
    shallow = Polygon([(50, 150), (350, 150), (350, 165), (50, 165)])  # 15 px deep, bodies 40
    attr = attribution_mask(shallow, (H, W), 1.0, scale)
    weights = row_weights(scale, H, 1.0, fill=1.0)
    inside = np.zeros((H, W), dtype=bool)
    _draw(inside, np.array([[150, 118, 166, 158]]))
    in_front = np.zeros((H, W), dtype=bool)
    _draw(in_front, np.array([[150, 200, 166, 240]]))  # feet 75 px below the zone
    assert float((inside * attr).sum(axis=1) @ weights) == pytest.approx(1.0, abs=0.35)
    assert float((in_front * attr).sum(axis=1) @ weights) < 0.05


def test_foreground_keeps_people_standing_still_but_forgets_the_rest() -> None:
    rng = np.random.default_rng(2)
    ground = rng.integers(90, 110, (H, W, 3), dtype=np.uint8)
    fg = Foreground(work_width=W, learn_s=5.0, warmup_s=1.0)
    standing = np.array([[100.0, 100.0, 120.0, 150.0]])  # detected as a person
    last = None
    for i in range(int(60 * FPS)):
        t = i / FPS
        img = ground.copy()
        if t >= 2.0:
            img[100:150, 100:120] = 220
            img[100:150, 300:320] = 220  # an object nobody detects as a person
        last = fg.update(img, t, standing if t >= 2.0 else np.zeros((0, 4)))
    assert last is not None and last.valid
    assert last.mask[110:140, 105:115].mean() > 0.9  # the standing person stays foreground
    assert last.mask[110:140, 305:315].mean() < 0.1  # the object became background
    lit = fg.update(np.full((H, W, 3), 250, np.uint8), 60.2, standing)
    assert not lit.valid  # a global change is not a crowd


# ---------------------------------------------------------------------------------------------
# The situation through the pipeline


class Scripted:
    name = "scripted"

    def __init__(self, script: Callable[[float], list[Box]]) -> None:
        self.script = script
        self.t = 0.0

    def detect(self, image: np.ndarray) -> Detections:
        boxes = self.script(self.t)
        return Detections(
            xyxy=np.array(boxes, dtype=np.float32).reshape(-1, 4),
            confidence=np.full(len(boxes), 0.9),
            class_id=np.zeros(len(boxes)),
        )


def run(
    camera: dict,
    script: Callable[[float], list[Box]],
    seconds: float,
    draw: Callable[[float], np.ndarray] | None = None,
) -> tuple[list[Signal], ExcessiveDensity]:
    site = parse_config(
        {
            "perception": {"motion_gating": False},
            "cameras": {"cam": {"source": "synthetic", "analysis_fps": FPS, **camera}},
        }
    )
    det = Scripted(script)
    pipe = CameraPipeline("cam", site, detector=det)
    situation = pipe.situations[0]
    assert isinstance(situation, ExcessiveDensity)
    blank = np.full((H, W, 3), 100, np.uint8)
    out: list[Signal] = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        det.t = t
        out += pipe.process(Frame(draw(t) if draw else blank, t, i))
    return out, situation


def density(**params: object) -> dict:
    return {
        "zones": {"right": RIGHT},
        "situations": {"excessive_density": {"enabled": True, "zones": ["right"], **params}},
    }


def arrivals(first: float, every: float, most: int) -> Callable[[float], list[Box]]:
    """People arriving in the right half, one every `every` seconds from `first`, up to `most`."""

    def script(t: float) -> list[Box]:
        n = 0 if t < first else min(most, 1 + int((t - first) / every))
        return [person(220 + 22 * (i % 8), 100 + 45 * (i // 8)) for i in range(n)]

    return script


def test_count_above_max_people_for_min_duration_raises_one_signal() -> None:
    # 9th person at 1 + 8 × 0.5 = 5 s: above 8 from then on.
    signals, situation = run(
        density(max_people=8, min_duration_s=3.0), arrivals(1.0, 0.5, 14), 12.0
    )
    assert len(signals) == 1
    s = signals[0]
    assert s.situation == "excessive_density" and s.zone == "right"
    assert 5.0 <= s.start_s <= 7.0  # the 3 s median lags the count a little
    assert s.end_s - s.start_s == pytest.approx(3.0, abs=0.21)
    assert s.bbox[0] >= 0.5  # around the people in the right half
    reading = situation.readings["right"]
    assert reading.detected == 14 and reading.limit == 8 and reading.density_m2 is None


def test_count_at_the_limit_or_a_short_spike_raises_nothing() -> None:
    assert run(density(max_people=8), arrivals(1.0, 0.5, 8), 12.0)[0] == []

    def spike(t: float) -> list[Box]:
        return arrivals(0.0, 0.1, 14 if 4.0 <= t < 6.0 else 6)(t)

    assert run(density(max_people=8, min_duration_s=3.0), spike, 12.0)[0] == []


def test_people_outside_the_zone_do_not_count() -> None:
    def script(t: float) -> list[Box]:
        left = [person(20 + 18 * (i % 9), 100 + 50 * (i // 9)) for i in range(20)]
        return [*left, person(300, 200), person(340, 200)]

    signals, situation = run(density(max_people=5), script, 12.0)
    assert signals == [] and situation.readings["right"].detected == 2


def test_density_per_square_metre_with_a_ground_calibration() -> None:
    # The picture is a 20 m × 15 m ground seen from above: the right half is 150 m².
    calibration = {
        "image_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
        "ground_points": [[0, 0], [20, 0], [20, 15], [0, 15]],
    }
    camera = {"calibration": calibration, **density(max_density_m2=0.1, min_duration_s=2.0)}
    signals, situation = run(camera, arrivals(1.0, 0.25, 20), 10.0)
    reading = situation.readings["right"]
    assert reading.limit == pytest.approx(15.0)
    assert reading.density_m2 == pytest.approx(20 / 150, rel=0.01)
    assert len(signals) == 1 and 4.5 <= signals[0].start_s <= 6.5  # 16th person at 4.75 s
    assert run(camera, arrivals(1.0, 0.25, 15), 10.0)[0] == []


def test_whole_image_when_no_zone_is_given() -> None:
    camera = {"situations": {"excessive_density": {"enabled": True, "max_people": 5}}}
    signals, _ = run(camera, arrivals(0.0, 0.2, 8), 10.0)
    assert len(signals) == 1 and signals[0].zone is None


def test_no_limit_to_apply_is_a_configuration_error() -> None:
    # Without a calibration there is no people per m²: a limit per zone must be given.
    with pytest.raises(ConfigError, match="give max_people"):
        run(density(), arrivals(0.0, 0.1, 30), 6.0)


def _crowd_scene() -> tuple[Callable[[float], list[Box]], Callable[[float], np.ndarray]]:
    """12 s of four people walking about apart (the scale and the background are learnt),
    then 30 people packed in the right half of whom the detector finds only 10."""
    rng = np.random.default_rng(4)
    ground = rng.integers(95, 105, (H, W, 3), dtype=np.uint8)
    textures = [rng.integers(150, 255, (40, 16, 3), dtype=np.uint8) for _ in range(30)]
    packed = [
        person(x, y)
        for x, y in zip(rng.uniform(215, 385, 30), rng.uniform(130, 290, 30), strict=True)
    ]

    def walkers(t: float) -> list[Box]:
        return [person(40 + (15 * t + 90 * i) % 320, 120 + 45 * i) for i in range(4)]

    def boxes(t: float) -> list[Box]:
        return walkers(t) if t < 12.0 else packed[:10]

    def draw(t: float) -> np.ndarray:
        img = ground.copy()
        shown = walkers(t) if t < 12.0 else packed
        for tex, (x1, y1, x2, y2) in zip(textures[: len(shown)], shown, strict=True):
            img[int(y1) : int(y2), int(x1) : int(x2)] = tex[: int(y2) - int(y1)]
        return img

    return boxes, draw


def test_occupancy_raises_the_count_where_the_detector_misses_hidden_people() -> None:
    boxes, draw = _crowd_scene()
    camera = density(max_people=20, min_duration_s=2.0)
    signals, situation = run(camera, boxes, 22.0, draw)
    reading = situation.readings["right"]
    assert reading.detected == 10
    assert reading.occupancy is not None and reading.smoothed == pytest.approx(30, rel=0.35)
    assert len(signals) == 1 and 12.0 <= signals[0].start_s <= 15.0
    # Detections only: 10 people, below the limit.
    counted = density(max_people=20, min_duration_s=2.0, occlusion_factor=1.0)
    assert run(counted, boxes, 22.0, draw)[0] == []
