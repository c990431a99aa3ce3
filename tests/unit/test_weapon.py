"""`weapon` on scripted detections and poses, through the real pipeline, tracker and scene.

No real or synthetic footage here shows a weapon, so the rules are checked on scripted boxes and
keypoints: a knife scored high enough, near a wrist, confirmed over several frames on which the
detector ran, raises one signal; low scores, knives away from the hands, flicker, stale
detections, persons without wrists and held objects of other classes (phones, umbrellas,
scissors) raise none. The plug-in path for a firearm detector is checked with a tiny ONNX model
of the YOLOX layout, built here, that "detects" pure red.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from veilleur.config import parse_config
from veilleur.config.situations import WeaponConfig
from veilleur.pipeline import CameraPipeline
from veilleur.situations.weapon import KNIFE, Weapon
from veilleur.types import PERSON, Detections, Frame, Signal

W, H = 400, 300
Box = tuple[float, float, float, float]
PHONE, UMBRELLA, SCISSORS = 67, 25, 76

PERSON_BOX: Box = (180.0, 100.0, 220.0, 220.0)  # 120 px tall, feet at y = 220
RIGHT_WRIST = (224.0, 160.0)
LEFT_WRIST = (176.0, 162.0)


class Scripted:
    """A detector (or pose model) whose boxes come from a script of the frame time.

    Like a real detector on real video, its boxes differ slightly from one run to the next
    (a tenth of a pixel): the situation tells a new detector run from detections handed on by
    motion gating by whether they changed at all."""

    name = "scripted"

    def __init__(self, script: Callable[[float], Detections]) -> None:
        self.script = script
        self.t = 0.0
        self.runs = 0

    def detect(self, image: np.ndarray) -> Detections:
        dets = self.script(self.t)
        self.runs += 1
        dets.xyxy += np.float32(0.1 * (self.runs % 2))
        return dets


def keypoints(wrists: tuple[tuple[float, float], tuple[float, float]], score: float) -> np.ndarray:
    """17 keypoints in the person's box, wrists where given with `score`."""
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0], kp[:, 1], kp[:, 2] = 200.0, 140.0, 0.6
    kp[9, :2], kp[10, :2] = wrists[0], wrists[1]
    kp[9, 2] = kp[10, 2] = score
    return kp


def pose_script(wrist_score: float = 0.8) -> Callable[[float], Detections]:
    return lambda t: Detections(
        xyxy=[PERSON_BOX],
        confidence=[0.8],
        class_id=[PERSON],
        keypoints=keypoints((LEFT_WRIST, RIGHT_WRIST), wrist_score)[None],
    )


def knife_at(x: float, y: float, size: float = 14.0) -> Box:
    return (x - size / 2, y - size / 4, x + size / 2, y + size / 4)


def scene_script(
    held: Callable[[float], list[tuple[Box, int, float]]],
) -> Callable[[float], Detections]:
    """A standing person, plus whatever `held(t)` lists as (box, class, score)."""

    def script(t: float) -> Detections:
        items = [(PERSON_BOX, PERSON, 0.9), *held(t)]
        return Detections(
            xyxy=[b for b, _, _ in items],
            confidence=[s for _, _, s in items],
            class_id=[c for _, c, _ in items],
        )

    return script


def run(
    held: Callable[[float], list[tuple[Box, int, float]]],
    seconds: float = 5.0,
    fps: float = 5.0,
    *,
    pose: Callable[[float], Detections] | None = None,
    camera: dict | None = None,
    gating: bool = False,
    image: Callable[[float], np.ndarray] | None = None,
    **params: object,
) -> list[Signal]:
    cam = camera or {}
    situations = {"weapon": {"enabled": True, **params}}
    site = parse_config(
        {
            "perception": {"motion_gating": gating},
            "cameras": {"cam": {"source": "synthetic", **cam, "situations": situations}},
        }
    )
    det = Scripted(scene_script(held))
    pose_model = Scripted(pose or pose_script())
    pipe = CameraPipeline("cam", site, detector=det, pose=pose_model)
    black = np.zeros((H, W, 3), np.uint8)
    out: list[Signal] = []
    for i in range(int(seconds * fps)):
        t = i / fps
        det.t = pose_model.t = t
        out += pipe.process(Frame(image(t) if image else black, t, i))
    return out


def in_hand(t0: float = 1.0, t1: float = 99.0, cls: int = KNIFE, score: float = 0.8):
    knife = knife_at(RIGHT_WRIST[0] + 6, RIGHT_WRIST[1] + 2)
    return lambda t: [(knife, cls, score)] if t0 <= t < t1 else []


def test_knife_in_hand_confirmed_over_frames_raises_one_signal() -> None:
    sigs = run(in_hand(1.0), seconds=8.0)
    assert len(sigs) == 1
    s = sigs[0]
    assert s.situation == "weapon" and s.zone is None and s.camera == "cam"
    # Seen from 1.0 s on every 0.2 s: the third sighting confirms it at 1.4 s.
    assert s.start_s == pytest.approx(1.0, abs=0.01)
    assert s.end_s == pytest.approx(1.4, abs=0.01)
    assert s.confidence == pytest.approx(0.8, abs=1e-3)
    # The box covers the person and the knife.
    x1, y1, x2, y2 = s.bbox
    assert x1 == pytest.approx(180 / W, abs=0.01) and y1 == pytest.approx(100 / H, abs=0.01)
    assert x2 >= (RIGHT_WRIST[0] + 6) / W and y2 == pytest.approx(220 / H, abs=0.01)
    assert s.model.startswith("scripted+scripted")


def test_score_below_the_high_threshold_raises_nothing() -> None:
    assert run(in_hand(1.0, score=0.45), seconds=6.0) == []
    assert len(run(in_hand(1.0, score=0.45), seconds=6.0, knife_confidence=0.4)) == 1


def test_knife_away_from_the_hands_raises_nothing() -> None:
    # On the ground a metre beside the person's feet, then at the belt while the wrists are up.
    far = knife_at(290.0, 216.0)
    assert run(lambda t: [(far, KNIFE, 0.9)], seconds=6.0) == []
    belt = knife_at(200.0, 175.0)
    raised = lambda t: Detections(  # noqa: E731
        xyxy=[PERSON_BOX],
        confidence=[0.8],
        class_id=[PERSON],
        keypoints=keypoints(((180.0, 105.0), (220.0, 104.0)), 0.8)[None],
    )
    assert run(lambda t: [(belt, KNIFE, 0.9)], seconds=6.0, pose=raised) == []


def test_flicker_below_the_confirmation_raises_nothing() -> None:
    # Seen on 2 of every 5 frames: never 3 of the last 5.
    knife = knife_at(RIGHT_WRIST[0], RIGHT_WRIST[1])
    flicker = lambda t: [(knife, KNIFE, 0.9)] if round(t * 5) % 5 < 2 else []  # noqa: E731
    assert run(flicker, seconds=8.0) == []
    assert len(run(flicker, seconds=8.0, confirm_frames=2)) == 1


def test_wrists_unseen_count_only_when_allowed() -> None:
    unseen = pose_script(wrist_score=0.05)
    assert run(in_hand(1.0), seconds=6.0, pose=unseen) == []
    sigs = run(in_hand(1.0), seconds=6.0, pose=unseen, require_wrist=False)
    assert len(sigs) == 1


@pytest.mark.parametrize("cls", [PHONE, UMBRELLA, SCISSORS])
def test_other_things_held_are_not_weapons(cls: int) -> None:
    assert run(in_hand(1.0, cls=cls, score=0.95), seconds=6.0) == []


def test_detections_kept_by_motion_gating_confirm_nothing() -> None:
    # A still picture: the detector runs once every refresh_s (2 s) and its boxes are handed
    # on in between; one sighting every 2 s never makes 3 within window_s.
    assert run(in_hand(0.0), seconds=10.0, gating=True) == []

    # The same knife, with the picture changing so that the detector runs every frame.
    def moving(t: float) -> np.ndarray:
        img = np.zeros((H, W, 3), np.uint8)
        x = int(20 + 30 * t) % (W - 40)
        img[20:60, x : x + 30] = 255
        return img

    assert len(run(in_hand(0.0), seconds=10.0, gating=True, image=moving)) == 1


def test_one_signal_per_person_and_zone_rules() -> None:
    zone = {"polygon": [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]}  # left half
    camera = {"zones": {"left": zone}}
    # The person's feet are at x = 200 = the zone's edge: inside (edges count).
    sigs = run(in_hand(1.0), seconds=20.0, camera=camera, zones=["left"], cooldown_s=0)
    assert [s.zone for s in sigs] == ["left"]
    right = {"polygon": [[0.6, 0.0], [1.0, 0.0], [1.0, 1.0], [0.6, 1.0]]}
    camera = {"zones": {"right": right}}
    assert run(in_hand(1.0), seconds=6.0, camera=camera, zones=["right"]) == []


def test_configuration_is_checked() -> None:
    with pytest.raises(ValidationError, match="confirm_frames"):
        WeaponConfig(confirm_frames=6, window_frames=5)
    with pytest.raises(ValidationError, match="class_map is empty"):
        WeaponConfig.model_validate({"extra_model": {"path": "x.onnx", "class_map": {}}})
    with pytest.raises(ValidationError, match="num_classes"):
        WeaponConfig.model_validate(
            {"extra_model": {"path": "x.onnx", "class_map": {3: "firearm"}, "num_classes": 2}}
        )
    with pytest.raises(ValidationError):
        WeaponConfig.model_validate({"extra_model": {"path": "x", "class_map": {0: "phone"}}})


def test_known_limits_say_what_the_default_cannot_see() -> None:
    text = Weapon.known_limits.lower()
    assert "cannot see firearms" in text and "rarely" in text
    assert Weapon.required_classes == frozenset({KNIFE}) and Weapon.needs_pose


# --- a detector of one's own ------------------------------------------------------------------


def red_detector(path: Path) -> Path:
    """A YOLOX-layout ONNX model with one class whose score is high on pure red: each cell of
    strides 8/16/32 averages its pixels, `sigmoid(0.1 R - 0.05 (G + B) - 10)`, box = the cell."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, parts = [], [], []
    for s in (8, 16, 32):
        w = np.zeros((6, 3, 1, 1), np.float32)
        b = np.zeros(6, np.float32)
        b[0] = b[1] = 0.5  # box centre in the middle of the cell; log w = log h = 0: one cell
        w[4, :, 0, 0] = w[5, :, 0, 0] = (-0.05, -0.05, 0.1)  # B, G, R
        b[4] = b[5] = -10.0
        inits += [numpy_helper.from_array(w, f"w{s}"), numpy_helper.from_array(b, f"b{s}")]
        nodes += [
            helper.make_node(
                "AveragePool", ["images"], [f"p{s}"], kernel_shape=[s, s], strides=[s, s]
            ),
            helper.make_node("Conv", [f"p{s}", f"w{s}", f"b{s}"], [f"c{s}"]),
            helper.make_node("Reshape", [f"c{s}", "shape"], [f"r{s}"]),
        ]  # fmt: skip
        parts.append(f"r{s}")
    inits += [
        numpy_helper.from_array(np.array([1, 6, -1], np.int64), "shape"),
        numpy_helper.from_array(np.array([4, 2], np.int64), "split"),
    ]
    nodes += [
        helper.make_node("Concat", parts, ["cat"], axis=2),
        helper.make_node("Transpose", ["cat"], ["rows"], perm=[0, 2, 1]),
        helper.make_node("Split", ["rows", "split"], ["box", "logit"], axis=2),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
        helper.make_node("Concat", ["box", "prob"], ["output"], axis=2),
    ]
    anchors = sum((416 // s) ** 2 for s in (8, 16, 32))
    graph = helper.make_graph(
        nodes,
        "red",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 416, 416])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, anchors, 6])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_extra_model_finds_a_firearm_in_the_hand(tmp_path: Path) -> None:
    model = red_detector(tmp_path / "red_gun.onnx")
    extra = {"path": str(model), "class_map": {0: "firearm"}, "confidence": 0.5}

    def picture(colour: tuple[int, int, int]) -> Callable[[float], np.ndarray]:
        def image(t: float) -> np.ndarray:
            img = np.zeros((H, W, 3), np.uint8)
            if t >= 1.0:
                x, y = int(RIGHT_WRIST[0]), int(RIGHT_WRIST[1])
                img[y - 12 : y + 12, x - 4 : x + 28] = colour
            return img

        return image

    sigs = run(lambda t: [], seconds=5.0, image=picture((0, 0, 255)), extra_model=extra)
    assert len(sigs) == 1
    assert sigs[0].start_s == pytest.approx(1.0, abs=0.01)
    assert "red_gun@" in sigs[0].model and sigs[0].confidence > 0.9
    # A blue object in the same hand is nothing to that model; nor is red away from the hands.
    assert run(lambda t: [], seconds=5.0, image=picture((255, 0, 0)), extra_model=extra) == []

    def far(t: float) -> np.ndarray:
        img = np.zeros((H, W, 3), np.uint8)
        img[250:280, 20:60] = (0, 0, 255)
        return img

    assert run(lambda t: [], seconds=5.0, image=far, extra_model=extra) == []


def test_extra_model_file_must_exist_and_match(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        run(lambda t: [], seconds=0.2, extra_model={"path": str(tmp_path / "no.onnx"),
                                                    "class_map": {0: "firearm"}})  # fmt: skip
    model = red_detector(tmp_path / "red.onnx")
    with pytest.raises(ValueError, match="num_classes"):
        run(lambda t: [], seconds=0.2, extra_model={"path": str(model),
                                                    "class_map": {2: "knife"}})  # fmt: skip
