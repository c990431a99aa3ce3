"""`detect_every`: the detector on one analysed frame in N, the frames between bridged by the
tracks seen on both sides (docs/pipeline.md, Against the tutorial pipeline)."""

from __future__ import annotations

import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.pipeline import CameraPipeline
from veilleur.pipeline.camera import interpolate_tracks
from veilleur.types import Detections, Frame

W, H = 640, 360
STEP = 20.0  # px per frame: 40 px between two detected frames, more than the box's width


def person_at(i: int) -> tuple[float, float, float, float]:
    x = 20.0 + STEP * i
    return (x, 100.0, x + 30.0, 180.0)


def frames(n: int) -> list[Frame]:
    out = []
    for i in range(n):
        image = np.zeros((H, W, 3), np.uint8)
        x1, y1, x2, y2 = (int(v) for v in person_at(i))
        image[y1:y2, x1:x2] = 255
        out.append(Frame(image, i / 5.0, i))
    return out


class BrightBoxes:
    """Finds the bright box of the picture, as a person: what the frame shows, nothing else."""

    name = "bright-boxes"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.calls += 1
        ys, xs = np.nonzero(image[:, :, 0] > 128)
        if len(xs) == 0:
            return Detections.empty()
        box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
        return Detections(xyxy=np.array(box, np.float32), confidence=[0.9], class_id=[0])


def site() -> object:
    return parse_config(
        {
            "perception": {"motion_gating": False},
            "cameras": {
                "cam": {
                    "source": "x",
                    "analysis_fps": 5,
                    "zones": {"right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
                    "situations": {
                        "zone_intrusion": {
                            "enabled": True,
                            "zones": ["right"],
                            "min_duration_s": 0.4,
                        }
                    },
                }
            },
        }
    )


def analyse(n: int, every: int) -> tuple[BrightBoxes, CameraPipeline, list, list]:
    detector = BrightBoxes()
    pipe = CameraPipeline("cam", site(), detector=detector, privacy_cues=False, detect_every=every)  # type: ignore[arg-type]
    seen: list[tuple[int, np.ndarray]] = []

    def on_frame(frame: Frame, _: list) -> None:
        seen.append((frame.index, pipe.tracked.xyxy.copy()))

    signals = list(pipe.run(frames(n), on_frame=on_frame))
    return detector, pipe, seen, signals


def test_every_frame_is_reported_in_order_with_half_the_detections() -> None:
    detector, pipe, seen, _ = analyse(n=9, every=2)
    assert [i for i, _ in seen] == list(range(9))
    assert detector.calls == 5  # frames 0, 2, 4, 6, 8
    assert pipe.clock.bridged == 4 and pipe.clock.frames == 9


def test_a_bridged_frame_gets_the_track_where_it_was_then() -> None:
    _, _, seen, _ = analyse(n=9, every=2)
    for i, boxes in seen:
        if i >= 3:  # the track is confirmed from its second detection (frame 2)
            assert len(boxes) == 1, i
            assert np.allclose(boxes[0], person_at(i), atol=1.0), (i, boxes)


def test_frames_left_waiting_at_the_end_get_their_own_detection() -> None:
    detector, _, seen, _ = analyse(n=10, every=2)
    assert [i for i, _ in seen] == list(range(10))
    assert detector.calls == 6  # 0, 2, 4, 6, 8, then 9 with nothing after it
    assert np.allclose(seen[-1][1][0], person_at(9), atol=1.0)


def test_the_same_intrusion_is_signalled_as_with_every_frame() -> None:
    *_, every_frame = analyse(n=25, every=1)
    *_, bridged = analyse(n=25, every=2)
    assert [s.zone for s in every_frame] == [s.zone for s in bridged] == ["right"]
    assert abs(every_frame[0].start_s - bridged[0].start_s) <= 0.2 + 1e-9


def test_interpolation_keeps_only_tracks_seen_on_both_sides() -> None:
    a = Detections(xyxy=[[0, 0, 10, 20], [100, 0, 110, 20]], confidence=[0.9, 0.8], class_id=[0, 0])
    a.track_id = np.array([1, 2])
    b = Detections(
        xyxy=[[20, 0, 30, 20], [300, 0, 310, 20]], confidence=[0.7, 0.9], class_id=[0, 0]
    )
    b.track_id = np.array([1, 3])
    mid = interpolate_tracks((1.0, a), (2.0, b), 1.25)
    assert mid.track_id.tolist() == [1]
    assert np.allclose(mid.xyxy[0], [5, 0, 15, 20])
    assert mid.confidence[0] == pytest.approx(0.7)
    assert len(interpolate_tracks((1.0, a), (2.0, Detections.empty()), 1.5)) == 0


def test_a_bridged_frame_is_blurred_wherever_the_frames_around_it_saw_someone() -> None:
    detector = BrightBoxes()
    pipe = CameraPipeline("cam", site(), detector=detector, detect_every=2)  # type: ignore[arg-type]
    cues: dict[int, np.ndarray] = {}

    def on_frame(frame: Frame, _: list) -> None:
        cues[frame.index] = pipe.person_cues().xyxy.copy()

    for frame in frames(5):
        pipe.step(frame, on_frame)
    assert sorted(cues) == [0, 1, 2, 3, 4]
    # Frame 1 (bridged, before the track is confirmed): the persons of frames 0 and 2.
    for i in (0, 2):
        assert any(np.allclose(box, person_at(i), atol=1.0) for box in cues[1]), i
    # Frame 3 (bridged): its interpolated track, where the person is then, among them.
    assert any(np.allclose(box, person_at(3), atol=1.0) for box in cues[3])
    # A detected frame has its own.
    assert any(np.allclose(box, person_at(4), atol=1.0) for box in cues[4])
    assert not any(np.allclose(box, person_at(2), atol=1.0) for box in cues[4])


def test_step_holds_frames_back_until_the_next_detection() -> None:
    pipe = CameraPipeline("cam", site(), detector=BrightBoxes(), privacy_cues=False, detect_every=3)  # type: ignore[arg-type]
    done: list[int] = []
    clip = frames(8)
    for frame in clip:
        pipe.step(frame, lambda f, _: done.append(f.index))
    assert done == [0, 1, 2, 3, 4, 5, 6]  # 7 waits for frame 9's detection
    pipe.finish(lambda f, _: done.append(f.index))
    assert done == list(range(8))
    with pytest.raises(ValueError, match="1 or more"):
        CameraPipeline("cam", site(), detector=BrightBoxes(), detect_every=0)  # type: ignore[arg-type]


def test_situations_measured_to_miss_events_when_bridged_are_named_with_the_fix(
    tmp_path: object,
) -> None:
    import warnings
    from pathlib import Path

    from typer.testing import CliRunner

    from veilleur.cli import app
    from veilleur.situations import BridgingCaveat, bridging_caveats

    raw = {
        "perception": {"detect_every": 2},
        "cameras": {
            "hall": {
                "source": "x",
                "zones": {"right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
                "situations": {
                    "person_on_ground": {"enabled": True},
                    "zone_intrusion": {"enabled": True, "zones": ["right"]},
                },
            }
        },
    }
    hall = parse_config(raw)
    caveats = bridging_caveats(hall.cameras["hall"], "hall", 2)
    assert len(caveats) == 1  # zone intrusion lost nothing on the real clips
    assert "person_on_ground" in caveats[0] and "detect_every: 1" in caveats[0]
    assert bridging_caveats(hall.cameras["hall"], "hall", 1) == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        CameraPipeline("hall", hall, detector=BrightBoxes(), pose=BrightBoxes())  # type: ignore[arg-type]
    assert [str(w.message) for w in caught if w.category is BridgingCaveat] == caveats

    import yaml

    config = Path(str(tmp_path)) / "site.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["config", "check", str(config)])
    assert result.exit_code == 0
    assert "person_on_ground with perception.detect_every 2" in result.output
