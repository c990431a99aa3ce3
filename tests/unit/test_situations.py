"""The two geometric situations on scripted detections, through the real pipeline and tracker."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.pipeline import CameraPipeline
from veilleur.types import Detections, Frame, Signal

W, H = 400, 300
Box = tuple[float, float, float, float]


class ScriptedDetector:
    """Returns the boxes a script gives for each frame time: perception replaced by arrays."""

    name = "scripted"

    def __init__(self, script: Callable[[float], list[tuple[Box, int]]]) -> None:
        self.script = script
        self.t = 0.0

    def detect(self, image: np.ndarray) -> Detections:
        items = self.script(self.t)
        return Detections(
            xyxy=[b for b, _ in items] or np.zeros((0, 4)),
            confidence=[0.9] * len(items),
            class_id=[c for _, c in items],
        )


def person_at(cx: float, foot_y: float, w: float = 20, h: float = 60) -> Box:
    return (cx - w / 2, foot_y - h, cx + w / 2, foot_y)


def run(
    camera: dict, script: Callable[[float], list[tuple[Box, int]]], seconds: float, fps: float = 5.0
) -> list[Signal]:
    site = parse_config(
        {
            "perception": {"motion_gating": False},
            "cameras": {"cam": {"source": "synthetic", **camera}},
        }
    )
    det = ScriptedDetector(script)
    pipe = CameraPipeline("cam", site, detector=det)
    image = np.zeros((H, W, 3), dtype=np.uint8)
    out: list[Signal] = []
    for i in range(int(seconds * fps)):
        t = i / fps
        det.t = t
        out += pipe.process(Frame(image, t, i))
    return out


ZONE = {"polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]}  # right half


def intrusion(**params: object) -> dict:
    return {
        "zones": {"right": ZONE},
        "situations": {"zone_intrusion": {"enabled": True, "zones": ["right"], **params}},
    }


def walker(
    x0: float, vx: float, y: float = 200, cls: int = 0
) -> Callable[[float], list[tuple[Box, int]]]:
    return lambda t: [(person_at(x0 + vx * t, y), cls)]


def test_intrusion_after_min_duration_with_start_time() -> None:
    # Walks right at 40 px/s from x=100: enters the right half (x >= 200) at t = 2.5 s.
    sigs = run(intrusion(min_duration_s=1.0), walker(100, 40), 8)
    assert len(sigs) == 1
    s = sigs[0]
    assert s.situation == "zone_intrusion" and s.zone == "right" and s.camera == "cam"
    assert s.start_s == pytest.approx(2.6, abs=0.21)
    assert s.end_s - s.start_s == pytest.approx(1.0, abs=0.21)
    assert 0.5 <= s.bbox[0] <= 1 and s.bbox[2] <= 1
    assert s.confidence == pytest.approx(0.9)
    assert s.model == "scripted+bytetrack" and len(s.config_version) == 12
    assert set(s.to_dict()) == {
        "situation",
        "camera",
        "zone",
        "start_s",
        "end_s",
        "frame",
        "bbox",
        "confidence",
        "model",
        "config_version",
        "episode",
    }


def test_short_presence_below_min_duration_raises_nothing() -> None:
    # In the zone from 2.5 s to 4 s, then out: 1.5 s < 2 s minimum.
    def script(t: float) -> list[tuple[Box, int]]:
        x = 100 + 40 * t if t < 3.5 else 240 - 80 * (t - 3.5)
        return [(person_at(x, 200), 0)]

    assert run(intrusion(min_duration_s=2.0), script, 8) == []


def test_one_signal_per_episode_and_cooldown() -> None:
    # Two people in the zone at once: one situation. Later, after the zone empties, a new
    # episode raises again only once the cool-down has passed.
    def script(t: float) -> list[tuple[Box, int]]:
        items = []
        if 1 <= t < 5:
            items += [(person_at(300, 150), 0), (person_at(350, 250), 0)]
        if 7 <= t < 10 or 20 <= t < 23:
            items += [(person_at(300, 150), 0)]
        return items

    sigs = run(intrusion(min_duration_s=0.5, cooldown_s=10), script, 25)
    assert [round(s.start_s) for s in sigs] == [1, 20]


def test_intrusion_ignores_classes_not_listed() -> None:
    car = walker(100, 40, cls=2)
    assert run(intrusion(min_duration_s=0.5, classes=["person"]), car, 8) == []
    assert len(run(intrusion(min_duration_s=0.5, classes=["vehicle"]), car, 8)) == 1


def test_line_crossing_respects_forbidden_side() -> None:
    cam = {
        "lines": {"gate": {"points": [[0.5, 0.0], [0.5, 1.0]], "forbidden_side": "left"}},
        "situations": {"zone_intrusion": {"enabled": True, "lines": ["gate"], "cooldown_s": 0}},
    }
    # Line drawn downwards at x = 200: walking down it, the left-hand side is +x (y points down).
    rightwards = run(cam, walker(100, 40), 6)
    leftwards = run(cam, walker(300, -40), 6)
    assert len(rightwards) == 1 and rightwards[0].zone == "gate"
    assert rightwards[0].start_s == pytest.approx(2.6, abs=0.21)
    assert leftwards == []


def wrong_way(**params: object) -> dict:
    zone = {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "direction": [1, 0]}
    return {
        "zones": {"corridor": zone},
        "situations": {
            "wrong_way": {"enabled": True, "zones": ["corridor"], "min_distance": 0.2, **params}
        },
    }


def test_wrong_way_fires_against_direction_only() -> None:
    # 0.2 × 300 px = 60 px against the direction; walking left at 40 px/s.
    sigs = run(wrong_way(), walker(350, -40), 6)
    assert len(sigs) == 1 and sigs[0].zone == "corridor"
    assert 1.4 <= sigs[0].end_s - sigs[0].start_s <= 2.2
    assert run(wrong_way(), walker(50, 40), 6) == []


def test_wrong_way_ignores_step_back_sideways_and_jitter() -> None:
    rng = np.random.default_rng(0)

    def step_back(t: float) -> list[tuple[Box, int]]:
        x = 100 + 40 * t if t < 3 else (220 - 40 * (t - 3) if t < 4 else 180 + 40 * (t - 4))
        return [(person_at(x, 200), 0)]

    def sideways(t: float) -> list[tuple[Box, int]]:
        return [(person_at(200 - 3 * t, 80 + 30 * t), 0)]

    def jitter(t: float) -> list[tuple[Box, int]]:
        return [(person_at(200 + rng.normal(0, 4), 200 + rng.normal(0, 4)), 0)]

    assert run(wrong_way(), step_back, 8) == []
    assert run(wrong_way(), sideways, 7) == []
    assert run(wrong_way(), jitter, 10) == []


def test_wrong_way_after_turning_is_measured_from_the_turn() -> None:
    # Walks the right way for 4 s, turns round and walks back: signal ~1.5 s after the turn.
    def script(t: float) -> list[tuple[Box, int]]:
        x = 50 + 40 * t if t < 4 else 210 - 40 * (t - 4)
        return [(person_at(x, 200, w=40), 0)]

    sigs = run(wrong_way(), script, 9)
    assert len(sigs) == 1
    assert sigs[0].start_s == pytest.approx(4.0, abs=0.5)


def test_wrong_way_in_metres_with_calibration() -> None:
    # 400 px ↔ 40 m wide: 4 m against the direction is 40 px.
    cam = wrong_way(min_distance_m=4.0)
    cam["calibration"] = {
        "image_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
        "ground_points": [[0, 0], [40, 0], [40, 30], [0, 30]],
    }
    sigs = run(cam, walker(350, -20), 5)  # 2 m/s against: 4 m after ~2 s
    assert len(sigs) == 1
    assert 1.6 <= sigs[0].end_s - sigs[0].start_s <= 2.6


def test_signals_carry_nothing_about_who() -> None:
    sigs = run(intrusion(min_duration_s=0.2), walker(100, 40), 8)
    assert sigs
    for s in sigs:
        d = s.to_dict()
        assert not any(k in d for k in ("track_id", "tracker_id", "id", "person"))
