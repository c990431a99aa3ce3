"""`person_on_ground` on synthetic postures through the real pipeline: a scripted detector gives
the person boxes, a scripted pose model the 17 keypoints, ByteTrack and the scene do the rest.

Bodies are drawn from five joint centres (head, shoulders, hips, knees, ankles) and a side
vector, in pixels of a 640×480 frame; an upright person is 200 px tall.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.config.situations import PersonOnGroundConfig
from veilleur.perception.posture import (
    Observation,
    Reference,
    is_upright,
    lying_score,
    measure,
    merge_poses,
)
from veilleur.pipeline import CameraPipeline
from veilleur.scene.state import Scene
from veilleur.situations.base import SituationContext
from veilleur.situations.person_on_ground import PersonOnGround
from veilleur.types import Detections, Frame, Signal

W, H = 640, 480
FPS = 5.0
TALL = 200.0
Point = tuple[float, float]


@dataclass(frozen=True)
class Body:
    """A person: 17 keypoints and a box."""

    keypoints: np.ndarray
    box: tuple[float, float, float, float]


def body(
    head: Point, shoulders: Point, hips: Point, knees: Point, ankles: Point, side: Point
) -> Body:
    """A figure from its joint centres; `side` points from the body's middle to its right."""
    s = np.asarray(side, dtype=np.float64)
    h, sh, hp, kn, an = (
        np.asarray(p, dtype=np.float64) for p in (head, shoulders, hips, knees, ankles)
    )
    pts = [
        h,
        h - 0.15 * s,
        h + 0.15 * s,
        h - 0.3 * s,
        h + 0.3 * s,
        sh - s,
        sh + s,
        (sh + hp) / 2 - 1.1 * s,
        (sh + hp) / 2 + 1.1 * s,
        hp - 1.1 * s,
        hp + 1.1 * s,
        hp - 0.6 * s,
        hp + 0.6 * s,
        kn - 0.5 * s,
        kn + 0.5 * s,
        an - 0.5 * s,
        an + 0.5 * s,
    ]
    kp = np.zeros((17, 3))
    kp[:, :2] = np.stack(pts)
    kp[:, 2] = 0.6
    # The box reaches past the head's top and the feet.
    top = h + 0.5 * (h - sh)
    allp = np.vstack([kp[:, :2], top, an + 0.1 * (an - kn)])
    pad = 4.0
    x1, y1 = allp.min(axis=0) - pad
    x2, y2 = allp.max(axis=0) + pad
    return Body(kp, (float(x1), float(y1), float(x2), float(y2)))


def standing(x: float, foot: float, tall: float = TALL) -> Body:
    return body(
        (x, foot - 0.93 * tall),
        (x, foot - 0.8 * tall),
        (x, foot - 0.5 * tall),
        (x, foot - 0.27 * tall),
        (x, foot),
        (0.12 * tall, 0),
    )


def lying_across(x: float, ground: float, tall: float = TALL) -> Body:
    """Lying on the floor, seen from the side: feet at `x`, head to the right."""
    y = ground - 0.08 * tall
    return body(
        (x + 0.93 * tall, y),
        (x + 0.8 * tall, y),
        (x + 0.5 * tall, y),
        (x + 0.27 * tall, y),
        (x, y),
        (0, 0.05 * tall),
    )


def lying_towards_camera(x: float, feet_y: float, tall: float = TALL) -> Body:
    """Lying along the line of sight of an elevated camera, head nearest: the body looks
    shortened and upside down, arms spread."""
    k = 0.6 * tall
    return body(
        (x, feet_y + 0.93 * k),
        (x, feet_y + 0.8 * k),
        (x, feet_y + 0.5 * k),
        (x, feet_y + 0.27 * k),
        (x, feet_y),
        (0.3 * tall, 0),
    )


def sitting(x: float, foot: float, tall: float = TALL) -> Body:
    """Seated on a chair, facing the camera: hips at seat height, knees forward, feet down."""
    seat = foot - 0.27 * tall
    return body(
        (x, seat - 0.43 * tall),
        (x, seat - 0.3 * tall),
        (x, seat),
        (x, seat + 0.03 * tall),
        (x, foot),
        (0.12 * tall, 0),
    )


def sitting_on_ground(x: float, foot: float, tall: float = TALL) -> Body:
    """Seated on the ground, legs stretched out sideways: trunk upright, legs level with hips."""
    hips = foot - 0.04 * tall
    return body(
        (x, hips - 0.43 * tall),
        (x, hips - 0.3 * tall),
        (x, hips),
        (x + 0.25 * tall, hips),
        (x + 0.5 * tall, hips),
        (0.12 * tall, 0),
    )


def bending(x: float, foot: float, tall: float = TALL) -> Body:
    """Bent forward at the waist to pick something up: hips high, torso horizontal."""
    hips = foot - 0.48 * tall
    return body(
        (x + 0.4 * tall, hips + 0.08 * tall),
        (x + 0.3 * tall, hips + 0.03 * tall),
        (x, hips),
        (x + 0.03 * tall, foot - 0.26 * tall),
        (x, foot),
        (0, 0.06 * tall),
    )


def crouching(x: float, foot: float, tall: float = TALL) -> Body:
    """Squatting down: hips just above the heels, torso leaning forward a little."""
    hips = foot - 0.2 * tall
    return body(
        (x + 0.12 * tall, hips - 0.38 * tall),
        (x + 0.09 * tall, hips - 0.27 * tall),
        (x, hips),
        (x + 0.02 * tall, foot - 0.3 * tall),
        (x, foot),
        (0.12 * tall, 0),
    )


def blend(a: Body, b: Body, u: float) -> Body:
    """Part way (u in 0..1) from posture `a` to posture `b`."""
    u = float(np.clip(u, 0.0, 1.0))
    kp = (1 - u) * a.keypoints + u * b.keypoints
    box = tuple((1 - u) * va + u * vb for va, vb in zip(a.box, b.box, strict=True))
    return Body(kp, box)  # type: ignore[arg-type]


Script = Callable[[float], list[Body]]


class ScriptedDetector:
    """Person boxes from a script (no keypoints), optionally losing people whose box is wider
    than tall — as a COCO detector does with many people lying on the ground."""

    name = "scripted"

    def __init__(self, script: Script, *, loses_lying: bool = False) -> None:
        self.script = script
        self.loses_lying = loses_lying
        self.t = 0.0

    def detect(self, image: np.ndarray) -> Detections:
        bodies = self.script(self.t)
        if self.loses_lying:
            bodies = [b for b in bodies if b.box[2] - b.box[0] < b.box[3] - b.box[1]]
        return Detections(
            xyxy=[b.box for b in bodies] or np.zeros((0, 4)),
            confidence=[0.9] * len(bodies),
            class_id=[0] * len(bodies),
        )


class ScriptedPose:
    """The same script's bodies with their keypoints, at keypoint score `score`."""

    name = "scripted-pose"

    def __init__(self, script: Script, score: float = 0.6) -> None:
        self.script = script
        self.score = score
        self.t = 0.0

    def detect(self, image: np.ndarray) -> Detections:
        bodies = self.script(self.t)
        kp = np.stack([b.keypoints for b in bodies]) if bodies else np.zeros((0, 17, 3))
        if len(kp):
            kp[..., 2] = self.score
        return Detections(
            xyxy=[b.box for b in bodies] or np.zeros((0, 4)),
            confidence=[0.5] * len(bodies),
            class_id=[0] * len(bodies),
            keypoints=kp,
        )


def camera(**params: object) -> dict:
    return {
        "source": "synthetic",
        "analysis_fps": FPS,
        "zones": {"left": {"polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}},
        "situations": {"person_on_ground": {"enabled": True, "min_duration_s": 2.0, **params}},
    }


def run(
    script: Script,
    seconds: float,
    *,
    keypoint_score: float = 0.6,
    **params: object,
) -> list[Signal]:
    site = parse_config(
        {"perception": {"motion_gating": False}, "cameras": {"cam": camera(**params)}}
    )
    det, pose = ScriptedDetector(script), ScriptedPose(script, keypoint_score)
    pipe = CameraPipeline("cam", site, detector=det, pose=pose)
    image = np.zeros((H, W, 3), dtype=np.uint8)
    out: list[Signal] = []
    for i in range(int(seconds * FPS)):
        det.t = pose.t = i / FPS
        out += pipe.process(Frame(image, i / FPS, i))
    return out


def fall(before: Callable[[float], Body], after: Body, at: float, takes: float = 0.6) -> Script:
    """Upright (`before(t)`) until `at`, then down to `after` in `takes` seconds, and stays."""

    def script(t: float) -> list[Body]:
        if t < at:
            return [before(t)]
        return [blend(before(at), after, (t - at) / takes)]

    return script


def test_fall_sideways_raises_one_signal_after_min_duration() -> None:
    sigs = run(fall(lambda t: standing(150 + 10 * t, 400), lying_across(100, 420), at=3.0), 12)
    assert len(sigs) == 1
    s = sigs[0]
    assert s.situation == "person_on_ground" and s.zone is None and s.camera == "cam"
    # Start: the last upright moment, just before the fall; raised 2 s after the first lying
    # posture (the fall takes 0.6 s).
    assert 2.5 <= s.start_s <= 3.2
    assert 4.6 <= s.end_s <= 5.6
    x1, y1, x2, y2 = s.bbox
    assert x1 < 110 / W and x2 > 290 / W and y2 > 400 / H and y1 > 300 / H  # the lying body
    assert s.confidence >= 0.7


def test_fall_seen_from_above_head_towards_camera() -> None:
    sigs = run(fall(lambda t: standing(320, 300), lying_towards_camera(320, 290), at=2.0), 8)
    assert len(sigs) == 1
    assert 1.4 <= sigs[0].start_s <= 2.2


def test_min_duration_and_getting_up() -> None:
    # Down for 1.4 s then back on their feet: shorter than the 2 s minimum.
    def trip(t: float) -> list[Body]:
        if t < 3 or t >= 5:
            return [standing(200, 400)]
        return [blend(standing(200, 400), lying_across(150, 420), (t - 3) / 0.6)]

    assert run(trip, 10) == []
    assert len(run(trip, 10, min_duration_s=1.0)) == 1


@pytest.mark.parametrize(
    "posture",
    [sitting(200, 400), crouching(200, 400), sitting_on_ground(200, 400)],
    ids=["sitting-on-a-chair", "crouching", "sitting-on-the-ground"],
)
def test_sitting_and_crouching_are_not_falls(posture: Body) -> None:
    # Standing, then quickly down into the posture, held for 8 s.
    assert run(fall(lambda t: standing(200, 400), posture, at=2.0, takes=0.6), 12) == []


def test_bending_to_pick_something_up_is_not_a_fall() -> None:
    def pick_up(t: float) -> list[Body]:
        u = max(0.0, 1 - abs(t - 3.0) / 0.8)  # down and up again over 1.6 s
        return [blend(standing(200, 400), bending(200, 400), 1.6 * u)]

    assert run(pick_up, 8) == []
    # Even held bent over for a while, the hips stay high: no lying posture.
    held = fall(lambda t: standing(200, 400), bending(200, 400), at=2.0)
    assert run(held, 8) == []


def test_walking_people_never_fire() -> None:
    def walkers(t: float) -> list[Body]:
        return [standing(50 + 40 * t, 300), standing(600 - 30 * t, 420, tall=240)]

    assert run(walkers, 12) == []


def test_already_lying_fires_only_without_require_fall() -> None:
    sleeper: Script = lambda t: [lying_across(100, 420)]  # noqa: E731
    assert run(sleeper, 8) == []
    sigs = run(sleeper, 8, require_fall=False)
    assert len(sigs) == 1 and sigs[0].end_s - sigs[0].start_s == pytest.approx(2.0, abs=0.25)


def test_lying_down_slowly_is_not_a_fall() -> None:
    # Sits down on the ground, stays 4 s, then stretches out: longer than fall_window_s.
    def slow(t: float) -> list[Body]:
        if t < 2:
            return [standing(200, 400)]
        if t < 6:
            return [blend(standing(200, 400), sitting_on_ground(200, 400), (t - 2) / 0.6)]
        return [blend(sitting_on_ground(200, 400), lying_across(200, 420), (t - 6) / 0.6)]

    assert run(slow, 14) == []
    assert len(run(slow, 14, fall_window_s=6.0)) == 1


def test_moving_a_lot_while_low_is_not_staying_down() -> None:
    # Down, then sliding across the floor at 200 px/s (1.25 body heights a second) for 2.2 s.
    tall = 160.0

    def slide(t: float) -> list[Body]:
        if t < 2:
            return [standing(60, 400, tall)]
        x = 200 * float(np.clip(t - 2.6, 0.0, 2.2))
        return [blend(standing(60, 400, tall), lying_across(x, 420, tall), (t - 2) / 0.6)]

    assert run(slide, 6) == []
    assert len(run(slide, 6, max_motion=5.0)) == 1
    # Once still long enough, the person is down where they stopped.
    assert len(run(slide, 16)) == 1


def test_box_shape_alone_when_keypoints_are_unsure() -> None:
    script = fall(lambda t: standing(200, 400), lying_across(100, 420), at=2.0)
    # Keypoints scored 0.1, under min_keypoint_score: judged on box shape and height only.
    assert len(run(script, 8, keypoint_score=0.1)) == 1
    # A bent-over box is not flat enough to pass for lying on its own.
    held = fall(lambda t: standing(200, 400), bending(200, 400), at=2.0)
    assert run(held, 8, keypoint_score=0.1) == []


def test_zones_and_cooldown() -> None:
    left = fall(lambda t: standing(120, 400), lying_across(60, 420), at=2.0)
    right = fall(lambda t: standing(480, 400), lying_across(420, 420), at=2.0)
    sigs = run(left, 8, zones=["left"])
    assert [s.zone for s in sigs] == ["left"]
    assert run(right, 8, zones=["left"]) == []

    def two(t: float) -> list[Body]:
        return left(t) + right(t)

    # Two people down at once in the whole image: one signal within the cool-down.
    assert len(run(two, 10)) == 1
    assert len(run(two, 10, cooldown_s=0)) == 2


def test_signals_carry_nothing_about_who() -> None:
    sigs = run(fall(lambda t: standing(200, 400), lying_across(150, 420), at=2.0), 8)
    assert sigs
    assert set(sigs[0].to_dict()) == {
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
    assert sigs[0].model == "scripted+scripted-pose+bytetrack"


# --- a person only the pose model keeps --------------------------------------------------------


def scene_run(script: Script, seconds: float, *, expose_poses: bool) -> list[Signal]:
    """The scene and the situation fed directly: the detector loses the person once lying;
    with `expose_poses` the scene also carries the pose model's persons (`Scene.poses`)."""
    site = parse_config({"cameras": {"cam": camera()}})
    scene = Scene("cam", site.cameras["cam"])
    cfg = site.cameras["cam"].situations.person_on_ground
    assert isinstance(cfg, PersonOnGroundConfig)
    situation = PersonOnGround(cfg, SituationContext("cam", "scripted", "v"))
    det, pose = ScriptedDetector(script, loses_lying=True), ScriptedPose(script)
    image = np.zeros((H, W, 3), dtype=np.uint8)
    out: list[Signal] = []
    for i in range(int(seconds * FPS)):
        det.t = pose.t = t = i / FPS
        tracked = det.detect(image)
        tracked.track_id = np.arange(len(tracked)) + 7
        poses = pose.detect(image)
        scene.update(Frame(image, t, i), tracked, poses=poses)
        if not expose_poses:
            scene.poses = Detections.empty()  # keypoints on tracks only, as before Scene.poses
        out += situation.update(scene)
    return out


def test_person_lost_by_the_detector_is_kept_by_the_pose_model() -> None:
    script = fall(lambda t: standing(200, 400), lying_across(100, 420), at=2.0)
    assert len(scene_run(script, 8, expose_poses=True)) == 1
    # Without the pose model's persons the lying person is simply not seen.
    assert scene_run(script, 8, expose_poses=False) == []


def test_merge_poses_completes_a_partial_detector_box() -> None:
    whole = lying_across(100, 420)
    legs = np.array([100.0, 395.0, 170.0, 440.0])  # the detector's box: the legs only (IoU < 0.3)
    other = standing(500, 400)
    tracked = [
        Observation(legs, None, 0.4, track_id=3),
        Observation(np.array(other.box), None, 0.9, 4),
    ]
    poses = Detections(
        xyxy=[whole.box, other.box, (10, 10, 60, 120)],
        confidence=[0.4, 0.5, 0.3],
        class_id=[0, 0, 0],
        keypoints=np.stack([whole.keypoints, other.keypoints, standing(35, 120, 110).keypoints]),
    )
    merged = merge_poses(tracked, poses)
    assert len(merged) == 3
    assert merged[0].track_id == 3 and merged[0].keypoints is not None
    assert np.allclose(merged[0].box, whole.box)
    # The scene already attached the second pose to track 4 (same box): left as it was.
    assert merged[1].track_id == 4 and merged[1].keypoints is None
    assert merged[2].track_id is None and np.allclose(merged[2].box, (10, 10, 60, 120))


def test_posture_cues() -> None:
    ref = Reference(TALL, 0.3 * TALL)

    def score(b: Body) -> float:
        return lying_score(measure(np.array(b.box), b.keypoints), ref)

    assert score(standing(200, 400)) == 0.0
    assert score(lying_across(100, 420)) >= 0.9
    assert score(lying_towards_camera(200, 300)) >= 0.7
    for seated in (sitting(200, 400), sitting_on_ground(200, 400), crouching(200, 400)):
        assert score(seated) < 0.5
    assert score(bending(200, 400)) < 0.6
    p = measure(np.array(standing(200, 400).box), standing(200, 400).keypoints)
    assert p.torso_angle == pytest.approx(0.0, abs=1) and is_upright(p, ref, 0.0)
    lying = measure(np.array(lying_across(100, 420).box), lying_across(100, 420).keypoints)
    assert lying.torso_angle == pytest.approx(90.0, abs=1)
    flipped = lying_towards_camera(200, 300)
    assert measure(np.array(flipped.box), flipped.keypoints).torso_angle == pytest.approx(
        180, abs=1
    )
