"""How many people a zone holds: person scale, a foreground model, and occupancy.

Counting detections fails first where it matters most: in a packed crowd people hide each
other and the detector finds a fraction of them. Three cues here complement it:

- `PersonScale`: the expected height of a person in pixels as a function of where their feet
  are in the image (a straight line fitted on isolated person detections: with a flat ground
  the image height of an upright person is close to linear in the row of their feet). It turns
  pixels into "body heights", so that sizes and speeds mean the same near and far.
- `Foreground`: a background model on a small grey copy of the frame whose learning skips the
  pixels of people (blobs that touch a detected person), so a crowd standing still is not
  absorbed into the background the way a plain mixture model absorbs it within seconds.
- `occupancy`: the foreground pixels that belong to a zone, each worth one over the expected
  foreground area of one person at its row, corrected for the overlap of people placed at
  random: the number of people the zone's foreground holds. Once the zone is covered it can
  only say "at least this many", and it is only used to raise a detection count that
  occlusion has lowered (see `situations/excessive_density.py`).
- `PersonCounter`: the number of people in one picture from a detector run at several
  resolutions (the coarse pass finds the large people, the native one the small ones), the
  passes fused box by box, each fused box counted with its calibrated probability of being a
  person rather than kept or dropped at a threshold (`expected_count`); a person cut by the
  top edge of the picture is counted only when a pose model sees their head inside it
  (`head_in_view`), since a count of people is a count of heads and theirs may be out of view.

Plain numpy/OpenCV, no state outside the objects.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from shapely.geometry import Polygon

from veilleur.perception.flow import small_grey
from veilleur.perception.nms import iou_matrix
from veilleur.types import Detections

#: Where a body pixel sits above the feet, as a share of the body height, on average.
BODY_CENTRE = 0.45

#: Platt calibration of a fused YOLOX-nano person score s (passes at 640 and 1024 px):
#: P(person) = sigmoid(a·logit(s) + b). Fitted on the 38 crowd photos (boxes matched to the
#: annotated heads; bench/density_count.py, which also reports its 5-fold held-out error).
PLATT_YOLOX_NANO = (1.25, 1.32)


def feet(xyxy: np.ndarray) -> np.ndarray:
    """Bottom centre of each box: where it stands."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]], axis=1)


def isolated(xyxy: np.ndarray, margin: float = 2.0) -> np.ndarray:
    """Mask of the boxes that touch no other box (their size is not cut by an occluder)."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if len(b) < 2:
        return np.ones(len(b), dtype=bool)
    ox = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    oy = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    touch = (ox > -margin) & (oy > -margin)
    np.fill_diagonal(touch, False)
    return np.asarray(~touch.any(axis=1))


class PersonScale:
    """Expected person height (pixels) against the row of the feet, learnt from detections.

    Keeps the last `capacity` isolated, whole person boxes and fits `height = a·foot_y + b`
    with one round of outlier rejection. Until `min_samples` boxes were seen, the height is
    `default_share` of the image height everywhere.
    """

    def __init__(
        self,
        image_height: int,
        *,
        default_share: float = 0.12,
        capacity: int = 400,
        min_samples: int = 12,
        refit_every: int = 20,
    ) -> None:
        self.image_height = image_height
        self.default = default_share * image_height
        self.capacity = capacity
        self.min_samples = min_samples
        self.refit_every = refit_every
        self._samples = np.zeros((capacity, 3))  # foot_y, height, width
        self._n = 0
        self._next = 0
        self._since_fit = 0
        self.slope = 0.0
        self.intercept = self.default
        self.width_ratio = 0.4
        """Median width / height of a person box."""
        self.min_height = 0.02 * image_height
        """No person is expected smaller than this: 80 % of the smallest people seen (5th
        percentile), so that rows above where anyone was ever seen (a wall, a window, the sky)
        do not read a patch of foreground as dozens of tiny distant people."""
        self.version = 0
        """Incremented when a refit moves the expected heights by more than 3 %, so users can
        rebuild what depends on the fit."""

    @property
    def fitted(self) -> bool:
        return self._n >= self.min_samples

    def add(self, xyxy: np.ndarray) -> None:
        """Learn from person boxes of one frame (pixels); boxes cut by the image border or
        touching another box are skipped."""
        b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        if not len(b):
            return
        keep = isolated(b) & (b[:, 1] > 1) & (b[:, 3] < self.image_height - 2)
        for x1, y1, x2, y2 in b[keep]:
            self._samples[self._next] = (y2, y2 - y1, x2 - x1)
            self._next = (self._next + 1) % self.capacity
            self._n = min(self._n + 1, self.capacity)
            self._since_fit += 1
        if self.fitted and (self._since_fit >= self.refit_every or self.version == 0):
            self._fit()

    def _fit(self) -> None:
        s = self._samples[: self._n]
        y, h = s[:, 0], s[:, 1]
        self.width_ratio = float(np.clip(np.median(s[:, 2] / np.maximum(h, 1)), 0.2, 0.8))
        slope, intercept = 0.0, float(np.median(h))
        spread = float(np.percentile(y, 90) - np.percentile(y, 10))
        # A line needs feet spread over the image; otherwise one size fits all.
        if spread > 0.1 * self.image_height:
            keep = np.ones(len(y), dtype=bool)
            for _ in range(2):
                a, b = np.polyfit(y[keep], h[keep], 1)
                resid = h - (a * y + b)
                mad = float(np.median(np.abs(resid[keep]))) + 1e-6
                keep = np.abs(resid) <= 3.0 * 1.4826 * mad
                if keep.sum() < self.min_samples:
                    break
            # People far away look smaller, never larger: a negative slope is noise.
            if a >= 0:
                slope, intercept = float(a), float(b)
        self._since_fit = 0
        floor = max(0.02 * self.image_height, 0.8 * float(np.percentile(h, 5)))
        # Keep the fit (and what users built from it) unless it moved by more than 3 %.
        rows = np.array([0.1, 0.25, 0.75]) * self.image_height
        old = self.height_at(rows)
        new = np.maximum(slope * rows + intercept, floor)
        if self.version and np.all(np.abs(new - old) <= 0.03 * old):
            return
        self.slope, self.intercept, self.min_height = slope, intercept, floor
        self.version += 1

    def height_at(self, foot_y: np.ndarray | float) -> np.ndarray:
        """Expected height in pixels of a person whose feet are at row `foot_y`."""
        h = self.slope * np.asarray(foot_y, dtype=np.float64) + self.intercept
        return np.maximum(h, self.min_height)

    def foot_row_of(self, row: np.ndarray) -> np.ndarray:
        """Row of the feet of a person whose body covers `row` (at its average body point)."""
        # row = foot - BODY_CENTRE·(slope·foot + intercept)  ⇒  solve for foot.
        denom = max(1.0 - BODY_CENTRE * self.slope, 0.2)
        foot = (np.asarray(row, dtype=np.float64) + BODY_CENTRE * self.intercept) / denom
        return np.asarray(foot)


def rasterise(polygon: Polygon, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Boolean mask (rows, cols) of a pixel polygon drawn at `scale`."""
    mask = np.zeros(shape, dtype=np.uint8)
    pts = np.round(np.asarray(polygon.exterior.coords)[:, :2] * scale).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def attribution_mask(
    polygon: Polygon | None, shape: tuple[int, int], scale: float, person: PersonScale
) -> np.ndarray:
    """Per pixel (at `scale` of the frame): how much of its person stands in `polygon`.

    A body pixel belongs to someone whose feet are somewhere between its own row and one
    body height below it; the pixel is worth the share of that vertical stretch that lies in
    the zone. So the heads of people standing at the far edge of a zone count for it, and the
    bodies of people in front of it count for it in part. A zone shallower than a body height
    would then count its own people only in part: the mask is divided by the share a person
    standing in the zone typically gets (the median over the zone's pixels: 1 in a zone deeper
    than a body height, where only people at its edges are cut), so that one person inside
    counts as one. `polygon` None is the whole image. Float32 (rows, cols).
    """
    rows, cols = shape
    if polygon is None:
        return np.ones(shape, dtype=np.float32)
    ground = rasterise(polygon, shape, scale)
    top = np.arange(rows)
    foot = person.foot_row_of(top / scale)
    length = np.maximum(np.round(person.height_at(foot) * scale).astype(np.int64), 1)
    # Feet below the picture stand where the zone's bottom row is (or is not).
    g = ground.astype(np.float32)
    extended = np.vstack([g, np.repeat(g[-1:], int(length.max()), axis=0)])
    cum = np.vstack([np.zeros((1, cols), np.float32), np.cumsum(extended, axis=0)])
    share = (cum[top + length] - cum[top]) / length[:, None]
    # What a person standing on each pixel gets: the mean share over their body's rows.
    body = np.maximum(np.round(person.height_at(top / scale) * scale).astype(np.int64), 1)
    first = np.maximum(top - body + 1, 0)
    cs = np.vstack([np.zeros((1, cols), np.float32), np.cumsum(share, axis=0)])
    own = (cs[top + 1] - cs[first]) / (top + 1 - first)[:, None]
    typical = float(np.median(own[ground])) if ground.any() else 1.0
    return np.asarray(share / max(typical, 0.1), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class ForegroundFrame:
    mask: np.ndarray
    """Boolean (rows, cols) at the work scale: pixels that differ from the background."""
    scale: float
    """Work pixels per frame pixel."""
    valid: bool
    """False while the model is warming up or re-learning after a global change (light)."""


class Foreground:
    """Running-average background that does not learn the people standing in it.

    Each update learns every pixel at rate `dt / learn_s` (faster in the first seconds, so
    that the ghosts of people who stood in the first frame fade quickly), except the
    foreground blobs that touch a detected person: they learn `protect_factor` times slower,
    so a crowd standing still stays foreground for minutes. When most of the picture changes at
    once (lights, exposure, a camera knocked), the model re-learns quickly and reports the
    frame as not valid.
    """

    def __init__(
        self,
        *,
        work_width: int = 320,
        threshold: float = 20.0,
        learn_s: float = 10.0,
        protect_factor: float = 30.0,
        warmup_s: float = 10.0,
        global_change: float = 0.5,
    ) -> None:
        self.work_width = work_width
        self.threshold = threshold
        self.learn_s = learn_s
        self.protect_factor = protect_factor
        self.warmup_s = warmup_s
        self.global_change = global_change
        self._bg: np.ndarray | None = None
        self._t0 = 0.0
        self._t_last = 0.0
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    def update(self, image: np.ndarray, t: float, protect: np.ndarray) -> ForegroundFrame:
        """`protect`: (N, 4) boxes (frame pixels) of people: blobs touching them are not
        learnt into the background."""
        small, scale = small_grey(image, self.work_width)
        grey = cv2.GaussianBlur(small, (3, 3), 0).astype(np.float32)
        if self._bg is None or self._bg.shape != grey.shape:
            self._bg, self._t0, self._t_last = grey, t, t
            return ForegroundFrame(np.zeros(grey.shape, dtype=bool), scale, False)
        dt = max(t - self._t_last, 1e-3)
        self._t_last = t
        raw = (cv2.absdiff(grey, self._bg) > self.threshold).astype(np.uint8)
        mask = cv2.morphologyEx(raw, cv2.MORPH_OPEN, self._kernel)
        share = float(mask.mean())
        if share > self.global_change:
            cv2.accumulateWeighted(grey, self._bg, 0.5)
            return ForegroundFrame(mask.astype(bool), scale, False)
        # The background is a running mean of what was seen so far until `learn_s` has passed.
        rate = min(1.0, dt / float(np.clip(t - self._t0, 1.0, self.learn_s)))
        alpha = np.full(grey.shape, rate, dtype=np.float32)
        if len(protect) and mask.any():
            n, labels = cv2.connectedComponents(mask, connectivity=8)
            boxes = np.round(np.asarray(protect, dtype=np.float64).reshape(-1, 4) * scale)
            touched = np.zeros(n, dtype=bool)
            for x1, y1, x2, y2 in boxes.astype(np.int64):
                region = labels[max(0, y1) : max(0, y2) + 1, max(0, x1) : max(0, x2) + 1]
                touched[np.unique(region)] = True
            touched[0] = False
            alpha[touched[labels]] = rate / self.protect_factor
        self._bg += alpha * (grey - self._bg)
        return ForegroundFrame(mask.astype(bool), scale, t - self._t0 >= self.warmup_s)


def row_weights(person: PersonScale, rows: int, scale: float, fill: float) -> np.ndarray:
    """Per work row: one over the foreground area (work pixels) of one person there."""
    foot = person.foot_row_of(np.arange(rows) / scale)
    h = person.height_at(foot) * scale
    area = np.maximum(h * h * person.width_ratio * fill, 1.0)
    return np.asarray(1.0 / area)


def occupancy(
    mask: np.ndarray, zone: np.ndarray, weights: np.ndarray, max_coverage: float = 0.95
) -> float:
    """People in a zone from its foreground, corrected for overlap.

    `zone` is an `attribution_mask`, `weights` the `row_weights`. The foreground summed in
    person areas counts people as if none hid another; where a share `c` of the zone's area
    is covered, people placed at random overlap so that the covered share of n people of
    area a in an area A is 1 - exp(-n·a/A) (the Boolean model of stochastic geometry), so the
    count is the plain sum times -ln(1 - c) / c. `c` is capped at `max_coverage` (a fully
    covered zone says "at least this many", no more: a factor of 3.2 at 0.95).
    """
    fg = mask.astype(np.float32) * zone
    plain = float(fg.sum(axis=1) @ weights)
    total = float(zone.sum())
    if total <= 0 or plain <= 0:
        return 0.0
    c = min(float(fg.sum()) / total, max_coverage)
    return plain * float(-np.log1p(-c) / c)


def fill_ratio(mask: np.ndarray, boxes: np.ndarray, scale: float) -> float | None:
    """Median share of isolated person boxes covered by foreground, or None."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    b = b[isolated(b)]
    shares: list[float] = []
    for x1, y1, x2, y2 in np.round(b * scale).astype(np.int64):
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(mask.shape[1], x2), min(mask.shape[0], y2)
        if (x2 - x1) * (y2 - y1) < 12:
            continue
        shares.append(float(mask[y1:y2, x1:x2].mean()))
    return float(np.median(shares)) if shares else None


def ground_area_m2(polygon: Polygon, to_metres: Callable[[np.ndarray], np.ndarray]) -> float | None:
    """Area on the ground of a pixel polygon, or None when it reaches the horizon.

    `to_metres` maps (N, 2) pixels to (N, 2) metres (`scene.geometry.ground.to_metres`).
    """
    coords = np.asarray(polygon.exterior.coords)[:, :2]
    # Densify the edges: a homography maps straight lines to straight lines, but a crossing
    # of the horizon shows up as a jump between neighbouring edge points.
    dense = np.concatenate(
        [np.linspace(a, b, 8, endpoint=False) for a, b in itertools.pairwise(coords)]
    )
    metres = np.asarray(to_metres(dense))
    if not np.all(np.isfinite(metres)):
        return None
    ground = Polygon(metres)
    if not ground.is_valid or ground.area <= 0:
        return None
    return float(ground.area)


def platt(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    """P(person) = sigmoid(a·logit(score) + b) for each detector score."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.asarray(1.0 / (1.0 + np.exp(-(a * np.log(p / (1 - p)) + b))))


def expected_count(
    scores: np.ndarray, calibration: tuple[float, float] = PLATT_YOLOX_NANO
) -> float:
    """The expected number of people among boxes of these scores: the sum of their calibrated
    probabilities (unbiased where a threshold count drops the half-seen and keeps the doubtful)."""
    return float(platt(scores, *calibration).sum())


def fuse_passes(
    passes: list[tuple[np.ndarray, np.ndarray]], iou: float = 0.45
) -> tuple[np.ndarray, np.ndarray]:
    """Fuse the person boxes of several detector passes over one picture.

    Greedy clustering by score: the best remaining box takes every remaining box that overlaps
    it by `iou` or more; its fused score is the mean over the passes of each pass's best score
    in the cluster (0 for a pass that did not see it), so a box seen by one pass only counts
    for less. Returns (boxes (N, 4), fused scores (N,)), best first.
    """
    parts = [
        (np.asarray(b, np.float64).reshape(-1, 4), np.asarray(c, np.float64)) for b, c in passes
    ]
    if not sum(len(c) for _, c in parts):
        return np.zeros((0, 4)), np.zeros(0)
    boxes = np.concatenate([b for b, _ in parts])
    scores = np.concatenate([c for _, c in parts])
    source = np.concatenate([np.full(len(c), k) for k, (_, c) in enumerate(parts)])
    overlap = iou_matrix(boxes, boxes) >= iou
    free = np.ones(len(scores), dtype=bool)
    out_boxes, out_scores = [], []
    for j in np.argsort(-scores):
        if not free[j]:
            continue
        group = np.flatnonzero(overlap[j] & free)
        free[group] = False
        best = np.zeros(len(parts))
        np.maximum.at(best, source[group], scores[group])
        out_boxes.append(boxes[j])
        out_scores.append(float(best.mean()))
    return np.asarray(out_boxes), np.asarray(out_scores)


#: Head keypoints in the COCO order MoveNet uses: nose, eyes, ears.
HEAD_KEYPOINTS = slice(0, 5)


class PoseDetector(Protocol):
    """A person detector whose `Detections` carry 17 COCO keypoints (`MoveNetDetector`)."""

    def detect(self, image: np.ndarray) -> Detections: ...


def cut_by_top(xyxy: np.ndarray, image_height: int, margin: float = 0.005) -> np.ndarray:
    """Mask of the boxes whose top lies within `margin` of the picture's height of its top edge."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.asarray(b[:, 1] <= margin * image_height)


def head_in_view(pose: PoseDetector, image: np.ndarray, box: np.ndarray, pad: float = 0.3) -> float:
    """How surely the person of `box` (cut by the top edge) shows a head inside the picture.

    The box's column of the picture (a tenth of its width more on each side, from the top edge
    to its bottom) is given to the pose model under a black band of `pad` × its height, where a
    head cut off by the edge can be placed without being seen. Returns the best score of a head
    keypoint lying below the band, for the most confident person found (0 when none).
    """
    h, w = image.shape[:2]
    x1, _, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    margin = 0.1 * (x2 - x1)
    left, right = int(max(0.0, x1 - margin)), int(min(float(w), x2 + margin))
    bottom = int(min(float(h), max(y2, 1.0)))
    if right - left < 2 or bottom < 2:
        return 0.0
    band = max(1, round(pad * bottom))
    canvas = np.zeros((band + bottom, right - left, 3), dtype=np.uint8)
    canvas[band:] = image[:bottom, left:right]
    found = pose.detect(canvas)
    if not len(found) or found.keypoints is None:
        return 0.0
    head = found.keypoints[int(np.argmax(found.confidence)), HEAD_KEYPOINTS]
    inside = head[:, 1] > band + 2
    return float((head[:, 2] * inside).max())


class ScalableDetector(Protocol):
    """A detector that can be fed a picture at a chosen scale (`YoloxDetector`)."""

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections: ...


class PersonCounter:
    """How many people a picture holds, from a person detector run at several resolutions.

    `detector` must accept `detect(image, scale=...)` (YOLOX: any input size) and be built with
    a low score threshold (0.05) so that every pass keeps its doubtful boxes. Each pass feeds
    the picture with its long side at one of `sides` (with `upscale`, a side above the
    picture's own size enlarges it; without, it is capped at it): the coarse pass finds the
    large people, the fine ones the small ones. The passes are fused (`fuse_passes`: a box
    seen by some passes only keeps that share of its score) and the count is the number of
    fused boxes scoring at least `threshold`.

    The defaults (512, 800 and 1280 px, enlarged, IoU 0.4, count at 0.225, head score 0.4) were
    chosen on half of the crowd photos (bench/density_tune.py: even photos tuned, odd ones held
    aside). With `heads` (MoveNet), the mean error per photo is 11.1 % tuned, 10.9 % held aside,
    11.0 % on all 38; without (the counter before), 19.3 %, 12.0 % and 15.6 %; the earlier
    640 + 1024 px at 0.3, 26.9 %, 13.4 % and 20.1 %. On PETS S2L1 (CCTV) the same mean error
    (1.00 person per frame). `threshold=None` counts the expected value instead
    (`expected_count`, the Platt `calibration`): on eye-level crowd photos it gets the total
    closer, but on CCTV the low scores are mostly clutter (poles, bags, shadows) and it
    over-counts (PETS S2L1: 7.7 people for 6.0). `flip` adds the mirrored picture to every
    pass (test-time augmentation: twice the cost, no gain measured on the crowd photos).

    `heads`: a pose model (`MoveNetDetector`) that checks every counted person whose box is
    cut by the top edge (`cut_by_top`): such a person is counted only when a head keypoint
    inside the picture scores at least `head_score` (`head_in_view`). Without it, they count.
    Measured figures: docs/situations/excessive_density.md and bench/density_count.py.
    """

    def __init__(
        self,
        detector: ScalableDetector,
        *,
        sides: tuple[int, ...] = (512, 800, 1280),
        iou: float = 0.4,
        calibration: tuple[float, float] = PLATT_YOLOX_NANO,
        threshold: float | None = 0.225,
        flip: bool = False,
        min_score: float = 0.05,
        upscale: bool = True,
        heads: PoseDetector | None = None,
        head_score: float = 0.4,
    ) -> None:
        self.detector = detector
        self.heads = heads
        self.head_score = head_score
        self.sides = sides
        self.upscale = upscale
        self.iou = iou
        self.calibration = calibration
        self.threshold = threshold
        self.flip = flip
        self.min_score = min_score

    def passes(self, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The person boxes (pixels of `image`) and scores of every pass, before fusion."""
        h, w = image.shape[:2]
        out: list[tuple[np.ndarray, np.ndarray]] = []
        cap = float("inf") if self.upscale else max(h, w)
        for side in sorted({min(s, cap) for s in self.sides}):
            for mirrored in [False, True] if self.flip else [False]:
                view = np.ascontiguousarray(image[:, ::-1]) if mirrored else image
                det = self.detector.detect(view, scale=side / max(h, w))
                keep = (det.class_id == 0) & (det.confidence >= self.min_score)
                b = np.asarray(det.xyxy[keep], dtype=np.float64)
                if mirrored:
                    b[:, [0, 2]] = w - b[:, [2, 0]]
                out.append((b, np.asarray(det.confidence[keep], dtype=np.float64)))
        return out

    def boxes(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The fused person boxes of `image` (pixels) and their fused scores."""
        return fuse_passes(self.passes(image), self.iou)

    def count_fused(self, scores: np.ndarray) -> float:
        """The count from fused scores: expected value, or boxes above `threshold`."""
        if self.threshold is not None:
            return float((np.asarray(scores) >= self.threshold).sum())
        return expected_count(scores, self.calibration)

    def headless(self, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Mask of the fused boxes not to count: cut by the top edge, no head seen by `heads`.

        Only boxes that could count (at least `threshold`, or any with the expected count)
        are checked, each with one pose inference."""
        out = np.zeros(len(scores), dtype=bool)
        if self.heads is None or not len(scores):
            return out
        candidate = cut_by_top(boxes, image.shape[0])
        if self.threshold is not None:
            candidate &= np.asarray(scores) >= self.threshold
        for j in np.flatnonzero(candidate):
            out[j] = head_in_view(self.heads, image, boxes[j]) < self.head_score
        return out

    def count(self, image: np.ndarray) -> float:
        """The number of people in `image` (a float: whole with a threshold, else expected)."""
        boxes, scores = self.boxes(image)
        return self.count_fused(scores[~self.headless(image, boxes, scores)])
