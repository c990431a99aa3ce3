"""Blurring of given persons' boxes (SPEC S6).

A person's whole box, grown by a margin (and by their keypoints where a pose model saw limbs
outside the box), is averaged into coarse blocks spread back smoothly
(`veilleur.privacy.masking.obscure`): faces, clothing and silhouettes' details cannot be
recovered, while the operator still sees that someone is there. The cameras do not stop at the
persons detected: `veilleur.privacy.masking.PrivacyMasker` decides what they hide.
When detection did not run on a frame, nobody can tell where the persons are: `blur_persons`
then returns None and callers show or store nothing rather than an unblurred picture.
"""

from __future__ import annotations

import math

import numpy as np

from veilleur.privacy.masking import PrivacyMask, apply_privacy
from veilleur.types import PERSON, Detections

#: Keypoints scored below this are guesses; they do not widen a box.
KEYPOINT_MIN_SCORE = 0.1


def person_regions(persons: Detections) -> np.ndarray:
    """(N, 4) float boxes x1, y1, x2, y2 of the persons, each widened to take in its confident
    keypoints (an arm or a leg the detector's box cut off)."""
    mask = persons.class_id == PERSON
    boxes = persons.xyxy[mask].astype(np.float64).copy()
    if persons.keypoints is not None and len(boxes):
        kp = persons.keypoints[mask]
        seen = kp[..., 2] >= KEYPOINT_MIN_SCORE
        big = np.float64(np.finfo(np.float32).max)
        xs, ys = kp[..., 0].astype(np.float64), kp[..., 1].astype(np.float64)
        any_seen = seen.any(axis=1)
        x1 = np.where(seen, xs, big).min(axis=1)
        y1 = np.where(seen, ys, big).min(axis=1)
        x2 = np.where(seen, xs, -big).max(axis=1)
        y2 = np.where(seen, ys, -big).max(axis=1)
        boxes[any_seen, 0] = np.minimum(boxes[any_seen, 0], x1[any_seen])
        boxes[any_seen, 1] = np.minimum(boxes[any_seen, 1], y1[any_seen])
        boxes[any_seen, 2] = np.maximum(boxes[any_seen, 2], x2[any_seen])
        boxes[any_seen, 3] = np.maximum(boxes[any_seen, 3], y2[any_seen])
    return boxes


def _grow(box: np.ndarray, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = margin * max(x2 - x1, 0.0), margin * max(y2 - y1, 0.0)
    # Outward rounding: a fraction of a pixel of a person never escapes the region.
    return (
        max(0, math.floor(x1 - mx)),
        max(0, math.floor(y1 - my)),
        min(width, math.ceil(x2 + mx)),
        min(height, math.ceil(y2 + my)),
    )


def blur_persons(
    image: np.ndarray, persons: Detections | None, *, margin: float = 0.15
) -> np.ndarray | None:
    """A copy of `image` with every person (class `PERSON`) made unrecognisable.

    Each person box is grown by `margin` of its width and height on every side, and widened by
    the person's keypoints when there are any; the region is obscured by `apply_privacy`
    (the cameras use `PrivacyMasker`, which hides more than the detected persons). Pixels
    outside those regions are unchanged. Returns None when `persons` is None (detection did not
    run or failed on this frame): the caller must then show and store nothing.
    """
    if persons is None:
        return None
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    height, width = image.shape[:2]
    hidden = np.zeros((height, width), dtype=bool)
    for box in person_regions(persons):
        x1, y1, x2, y2 = _grow(box, margin, width, height)
        hidden[y1:y2, x1:x2] = True
    return apply_privacy(image, PrivacyMask(hidden=hidden))
