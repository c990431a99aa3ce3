"""Motion detection and the motion gating of the detector."""

from __future__ import annotations

import cv2
import numpy as np

from veilleur.config import parse_config
from veilleur.perception.motion import MotionDetector
from veilleur.pipeline import CameraPipeline, prefetch
from veilleur.types import Detections, Frame


def scene(t: int, square_at: int | None, noise: np.random.Generator) -> np.ndarray:
    img = np.full((240, 320, 3), 90, dtype=np.uint8)
    img[150:, :] = 60  # a ground
    img = np.clip(img + noise.normal(0, 2, img.shape), 0, 255).astype(np.uint8)  # sensor noise
    if square_at is not None:
        img[100:140, square_at : square_at + 30] = 220
    return img


def test_static_scene_has_no_motion_and_moving_square_is_found() -> None:
    rng = np.random.default_rng(1)
    m = MotionDetector()
    first = m.update(scene(0, None, rng))
    assert first.moved  # no background yet: everything counts as new
    for t in range(1, 30):
        res = m.update(scene(t, None, rng))
    assert not res.moved and res.fraction < 0.001
    for t, x in enumerate(range(20, 200, 10)):
        res = m.update(scene(30 + t, x, rng))
    assert res.moved
    x1, y1, x2, y2 = res.regions.max(axis=0)
    # The region covers the square's current place, in pixels of the full frame.
    assert x1 <= 190 + 5 and x2 >= 190 + 25 and y1 <= 105 and y2 >= 135


class CountingDetector:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.calls += 1
        return Detections(xyxy=[[10, 10, 40, 90]], confidence=[0.9], class_id=[0])


def test_gating_skips_static_frames_but_refreshes() -> None:
    site = parse_config(
        {
            "perception": {"motion_gating": True, "refresh_s": 2.0},
            "cameras": {"cam": {"source": "synthetic"}},
        }
    )
    det = CountingDetector()
    pipe = CameraPipeline("cam", site, detector=det)
    rng = np.random.default_rng(2)
    for i in range(50):  # 10 s of a still scene at 5 fps
        pipe.process(Frame(scene(i, None, rng), i / 5, i))
    # The first frames run (no background yet), then one run every refresh_s.
    assert 5 <= det.calls <= 12
    assert pipe.clock.detector_skipped == 50 - det.calls
    # Skipped frames keep the last detections: the tracked object does not vanish.
    assert len(pipe.scene.detections) == 1
    before = det.calls
    for i in range(50, 60):  # something moves: every frame is analysed
        pipe.process(Frame(scene(i, 20 + 10 * (i - 50), rng), i / 5, i))
    assert det.calls - before >= 9


def test_prefetch_keeps_order_and_raises_where_it_failed() -> None:
    assert list(prefetch(range(100), depth=3)) == list(range(100))

    def failing():
        yield 1
        yield 2
        raise ValueError("broken at 3")

    it = prefetch(failing())
    assert next(it) == 1 and next(it) == 2
    try:
        next(it)
    except ValueError as exc:
        assert "broken at 3" in str(exc)
    else:
        raise AssertionError("the producer's error must reach the consumer")


def test_prefetch_can_be_abandoned() -> None:
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    it = prefetch(endless(), depth=2)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()  # stops the producer thread
    n = len(produced)
    import time

    time.sleep(0.3)
    assert len(produced) == n


class FlexibleDetector:
    """Finds bright squares; accepts a crop and a scale like the YOLOX backend."""

    name = "flexible"
    flexible = True
    input_size = 320

    def __init__(self) -> None:
        self.shapes: list[tuple[tuple[int, int], float | None]] = []

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections:
        self.shapes.append((image.shape[:2], scale))
        mask = (image[:, :, 0] > 200).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:n]]
        return Detections(
            xyxy=boxes or np.zeros((0, 4)), confidence=[0.9] * len(boxes), class_id=[0] * len(boxes)
        )


def test_detector_runs_on_a_crop_around_motion_and_keeps_still_objects() -> None:
    site = parse_config(
        {
            "perception": {"motion_gating": True, "refresh_s": 100.0},
            "cameras": {"cam": {"source": "synthetic"}},
        }
    )
    det = FlexibleDetector()
    pipe = CameraPipeline("cam", site, detector=det)
    rng = np.random.default_rng(3)

    def frame(i: int, x: int) -> Frame:
        img = scene(i, None, rng)
        img[20:50, 250:280] = 230  # a still bright object, far from the moving one
        img[100:140, x : x + 30] = 220
        return Frame(img, i / 5, i)

    for i in range(20):
        pipe.process(frame(i, 20))  # background learnt, object still
    for i in range(20, 26):
        pipe.process(frame(i, 20 + 6 * (i - 20)))  # the square moves a little
    crops = [(shape, scale) for shape, scale in det.shapes if shape != (240, 320)]
    assert crops, "motion in one corner should be re-detected on a crop"
    assert all(scale == 1.0 for _, scale in crops)  # the full frame's scale: 320 / 320
    assert pipe.clock.detector_cropped == len(crops)
    boxes = pipe.scene.detections.xyxy
    # The moving square, found in the crop at frame coordinates, and the still object kept.
    assert any(abs(b[0] - (20 + 6 * 5)) <= 1 and abs(b[1] - 100) <= 1 for b in boxes)
    assert any(abs(b[0] - 250) <= 1 and abs(b[1] - 20) <= 1 for b in boxes)
