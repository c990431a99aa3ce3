"""Persons are made unrecognisable; nothing else in the picture changes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from veilleur.privacy import blur_persons, person_regions
from veilleur.types import PERSON, Detections


def _textured(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    # Noise is the hardest case: every pixel is detail that must not survive.
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _persons(*boxes: tuple[float, float, float, float], cls: int = PERSON) -> Detections:
    n = len(boxes)
    return Detections(xyxy=np.array(boxes, np.float32), confidence=np.ones(n), class_id=[cls] * n)


def _high_frequency(img: np.ndarray) -> float:
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def test_person_region_changes_beyond_recognition() -> None:
    img = _textured()
    out = blur_persons(img, _persons((100, 60, 160, 200)))
    assert out is not None
    before, after = img[60:200, 100:160], out[60:200, 100:160]
    # Detail (high frequencies) is gone and what remains does not resemble the original.
    assert _high_frequency(after) < 0.02 * _high_frequency(before)
    corr = np.corrcoef(before.astype(np.float64).ravel(), after.astype(np.float64).ravel())[0, 1]
    assert abs(corr) < 0.2


def test_a_real_structure_is_not_recoverable() -> None:
    # A sharp pattern (stand-in for a face) inside the box: its correlation with what is left
    # is low even though the pattern is smooth enough to survive mild blurs.
    img = np.full((240, 320, 3), 128, np.uint8)
    yy, xx = np.mgrid[0:140, 0:60]
    img[60:200, 100:160] = (((xx // 3 + yy // 3) % 2) * 255)[..., None].astype(np.uint8)
    out = blur_persons(img, _persons((100, 60, 160, 200)))
    assert out is not None
    a = img[60:200, 100:160].astype(np.float64).ravel()
    b = out[60:200, 100:160].astype(np.float64).ravel()
    corr = np.corrcoef(a, b)[0, 1] if b.std() > 0 else 0.0
    assert abs(corr) < 0.2


def test_pixels_outside_the_grown_box_are_untouched() -> None:
    img = _textured()
    out = blur_persons(img, _persons((100, 60, 160, 200)), margin=0.15)
    assert out is not None
    # Grown by 15 % of 60 × 140: 9 px left and right, 21 px above and below.
    inside = np.zeros(img.shape[:2], bool)
    inside[39:221, 91:169] = True
    assert np.array_equal(out[~inside], img[~inside])
    assert not np.array_equal(out[inside], img[inside])
    # The margin itself is obscured too, not only the detector's box.
    assert not np.array_equal(out[39:60, 91:169], img[39:60, 91:169])


def test_none_means_nothing_can_be_shown() -> None:
    assert blur_persons(_textured(), None) is None


def test_input_is_not_modified_and_no_person_means_an_equal_copy() -> None:
    img = _textured()
    keep = img.copy()
    out = blur_persons(img, _persons((10, 10, 50, 90)))
    assert np.array_equal(img, keep)
    assert out is not None and not np.array_equal(out, img)
    empty = blur_persons(img, Detections.empty())
    assert empty is not None and empty is not img and np.array_equal(empty, img)


def test_only_persons_are_blurred() -> None:
    img = _textured()
    out = blur_persons(img, _persons((100, 60, 160, 200), cls=2))  # a car
    assert out is not None and np.array_equal(out, img)


def test_keypoints_widen_the_region() -> None:
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, :, :2] = (130, 120)
    kp[0, :, 2] = 0.9
    kp[0, 9] = (230, 110, 0.8)  # a wrist far to the right of the box
    kp[0, 10] = (20, 20, 0.01)  # a guess: ignored
    dets = Detections(xyxy=[[100, 60, 160, 200]], confidence=[0.9], class_id=[PERSON], keypoints=kp)
    np.testing.assert_allclose(person_regions(dets), [[100, 60, 230, 200]])
    img = _textured()
    out = blur_persons(img, dets, margin=0.0)
    assert out is not None
    assert not np.array_equal(out[60:200, 200:230], img[60:200, 200:230])
    assert np.array_equal(out[:, 231:], img[:, 231:])
    assert np.array_equal(out[:20, :20], img[:20, :20])


def test_boxes_at_the_border_and_degenerate_ones() -> None:
    img = _textured()
    out = blur_persons(img, _persons((-30, -20, 40, 50), (300, 200, 400, 300), (50, 50, 50, 50)))
    assert out is not None and out.shape == img.shape
    assert not np.array_equal(out[:50, :40], img[:50, :40])
    with pytest.raises(ValueError):
        blur_persons(img, _persons((0, 0, 1, 1)), margin=-1)
