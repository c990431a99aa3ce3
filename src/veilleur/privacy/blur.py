"""Blurring of persons in every image that leaves a camera's pipeline (SPEC S6).

A person's whole box, grown by a margin (and by their keypoints where a pose model saw limbs
outside the box), is pixelated into coarse blocks and then blurred: faces, clothing and
silhouettes' details cannot be recovered, while the operator still sees that someone is there.
When detection did not run on a frame, nobody can tell where the persons are: `blur_persons`
then returns None and callers show or store nothing rather than an unblurred picture.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from veilleur.types import PERSON, Detections

#: Keypoints scored below this are guesses; they do not widen a box.
KEYPOINT_MIN_SCORE = 0.1
#: Pixelation blocks per box side (on the longer side): a head, about an eighth of a standing
#: person's height, spans about one block.
BLOCKS_PER_SIDE = 8
#: Smallest block, in pixels: tiny boxes still lose every detail.
MIN_BLOCK_PX = 4


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


def _obscure(region: np.ndarray) -> np.ndarray:
    h, w = region.shape[:2]
    block = max(MIN_BLOCK_PX, math.ceil(max(h, w) / BLOCKS_PER_SIDE))
    small = cv2.resize(
        region,
        (max(1, math.ceil(w / block)), max(1, math.ceil(h / block))),
        interpolation=cv2.INTER_AREA,
    )
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    # The blur melts the blocks' edges, which would otherwise still outline a silhouette.
    k = block | 1
    return cv2.GaussianBlur(coarse, (k, k), 0)


def blur_persons(
    image: np.ndarray, persons: Detections | None, *, margin: float = 0.15
) -> np.ndarray | None:
    """A copy of `image` with every person (class `PERSON`) made unrecognisable.

    Each person box is grown by `margin` of its width and height on every side, and widened by
    the person's keypoints when there are any; the region is pixelated and blurred. Pixels
    outside those regions are unchanged. Returns None when `persons` is None (detection did not
    run or failed on this frame): the caller must then show and store nothing.
    """
    if persons is None:
        return None
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    out = image.copy()
    height, width = out.shape[:2]
    for box in person_regions(persons):
        x1, y1, x2, y2 = _grow(box, margin, width, height)
        if x2 <= x1 or y2 <= y1:
            continue
        out[y1:y2, x1:x2] = _obscure(out[y1:y2, x1:x2])
    return out
