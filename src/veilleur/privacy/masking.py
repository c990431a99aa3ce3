"""Where persons may be on a frame, decided for privacy rather than for signalling (SPEC S6).

One `PrivacyMasker` per camera is fed every analysed frame with the boxes the pipeline thinks
may hold a person (`CameraPipeline.person_cues`: detections down to a low privacy score,
tracks the detector lost, pose boxes). It adds what no detector is needed for: everything that
moves or differs from a background it learns itself, like the dynamic privacy masks of camera
firmware. It answers a `PrivacyMask`; `apply_privacy` is the one function that turns a frame
and its mask into the picture that may be shown or stored (snapshots, clips, the live picture,
calibration records). Blurring some background is the accepted price of never missing a person.

Two modes (`PrivacyConfig.mode`):

- ``persons``: the frame as it is, blurred inside every cue box (grown by a margin, held for
  `hold_s` after its last sighting) and every foreground pixel, grown a little.
- ``background`` (privacy first): the learnt background is shown, and everything that differs
  from it, however little, is shown only blurred; a person can appear sharp only once learnt
  into the background (still and undetected for minutes).

The background is a running average at a small working width, learnt quickly where the
picture matches it, slowly (`learn_s`) where it does not, and never under a cue box; a pixel
that has never been seen free of a cue is unknown and counts as foreground, and for `learn_s`
after the cue left it (the person may have stayed, unseen). If the masker is
not told where the persons are (`cues` is None: detection did not run), it answers None and
nothing may be shown or stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from veilleur.config.model import PrivacyConfig
from veilleur.types import Detections

#: Working width of the background model, pixels: a 40-pixel-tall person at 576 rows is still
#: about 20 working pixels tall.
WORK_WIDTH = 320
#: A cue box is grown by this share of its longer side on every side (detector boxes cut off
#: hands, feet and hair).
CUE_MARGIN = 0.15
#: Grey-level difference from the background above which a pixel is foreground.
DIFFERENCE = {"persons": 24.0, "background": 14.0}
#: Foreground blobs smaller than this share of the picture are noise ('persons' mode only).
MIN_BLOB_SHARE = {"persons": 0.0002, "background": 0.0}
#: Foreground is grown by this many working pixels on every side (about 2 % of the picture's
#: width): the edge of a person that matches the background's colour, hair against a dark
#: wall, is taken in.
FOREGROUND_GROW = 6
#: A grown foreground blob filling at least this share of its box, and at most this share of
#: the picture's height tall, is person-like: its whole box is hidden. Sprawling blobs (people
#: merged with their trail, a change of light) are hidden pixel by pixel.
BLOB_FILL = 0.4
BLOB_MAX_HEIGHT = 0.5
#: Time constant, seconds, with which the background follows the picture where they match
#: (slow changes of light).
FAST_LEARN_S = 4.0
#: A held box this much covered by a fresh cue box is let go: the person was found again.
HELD_OVERLAP = 0.3


#: Pixelation blocks per region side (on the longer side): a head, about an eighth of a
#: standing person's height, spans about one block.
BLOCKS_PER_SIDE = 8
#: Smallest block, in pixels: tiny regions still lose every detail.
MIN_BLOCK_PX = 4


def obscure(region: np.ndarray) -> np.ndarray:
    """`region` made unrecognisable: averaged into blocks (`BLOCKS_PER_SIDE` on its longer
    side), then spread back smoothly (bilinear), so that neither detail nor block edges
    outlining a silhouette remain. Costs two resizes, whatever the block size."""
    h, w = region.shape[:2]
    block = max(MIN_BLOCK_PX, math.ceil(max(h, w) / BLOCKS_PER_SIDE))
    small = cv2.resize(
        region,
        (max(1, math.ceil(w / block)), max(1, math.ceil(h / block))),
        interpolation=cv2.INTER_AREA,
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True, slots=True)
class PrivacyMask:
    """What must be hidden on one frame."""

    hidden: np.ndarray
    """The pixels shown only blurred: bool, at the frame's size or at a smaller working size
    (then scaled up to the frame's, each working pixel hiding all it covers)."""
    background: np.ndarray | None = None
    """In the 'background' mode, the learnt background at the frame's size: shown instead of
    the frame where nothing is hidden."""

    @property
    def cover(self) -> float:
        """Share of the picture blurred, 0..1."""
        return cv2.countNonZero(self.hidden.view(np.uint8)) / self.hidden.size


def apply_privacy(image: np.ndarray, mask: PrivacyMask | None) -> np.ndarray | None:
    """The picture of `image` that may be shown or stored: every hidden pixel of `mask`
    pixelated and blurred (on the learnt background in the 'background' mode). None when
    `mask` is None: nobody knows where the persons are, so nothing is shown or stored.

    Each connected group of hidden pixels is obscured as one, with blocks an eighth of its
    size (`obscure`): a group of persons comes out coarser than one, never
    finer."""
    if mask is None:
        return None
    base = mask.background if mask.background is not None else image
    out = base.copy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.hidden.view(np.uint8), connectivity=4
    )
    height, width = image.shape[:2]
    sy, sx = height / labels.shape[0], width / labels.shape[1]
    if (sx, sy) != (1.0, 1.0):
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    for i in range(1, n):
        x, y, w, h = (int(v) for v in stats[i, :4])
        window = (
            slice(math.floor(y * sy), min(height, math.ceil((y + h) * sy))),
            slice(math.floor(x * sx), min(width, math.ceil((x + w) * sx))),
        )
        inside = labels[window] == i
        out[window][inside] = obscure(image[window])[inside]
    return out


class PrivacyMasker:
    """One camera's privacy masking: feed it every analysed frame, in order."""

    def __init__(self, config: PrivacyConfig | None = None) -> None:
        self.config = config or PrivacyConfig()
        self.mode = self.config.mode
        side = 2 * FOREGROUND_GROW + 1
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
        self._open = np.ones((2, 2), np.uint8)
        self.frames = 0
        self.cover_sum = 0.0
        self._shape: tuple[int, int] | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the background and the held boxes (a new picture altogether)."""
        self._held: list[tuple[float, np.ndarray]] = []
        self._bg: np.ndarray | None = None  # working-size float32 background
        self._known: np.ndarray | None = None  # pixels seen free of any cue
        self._full_bg: np.ndarray | None = None  # frame-size float32 ('background' mode)
        self._until: np.ndarray | None = None  # stream time until which a pixel is suspect
        self._t: float | None = None

    def _cue_boxes(self, cues: Detections, t: float, width: int, height: int) -> np.ndarray:
        now = []
        for x1, y1, x2, y2 in cues.xyxy.astype(np.float64):
            # By its longer side on both axes: a standing person's narrow box widened by 15 %
            # of its width would miss an elbow or the edge of a bag.
            mx = my = CUE_MARGIN * max(x2 - x1, y2 - y1, 0.0)
            now.append((x1 - mx, y1 - my, x2 + mx, y2 + my))
        fresh = np.asarray(now, dtype=np.float64).reshape(-1, 4)
        # A still person the detector loses for a few frames stays blurred where last seen.
        # Once a person is found again (a fresh box overlaps the held one), the fresh box
        # stands for them: holding boxes of people who walk on would smear their path.
        hold = self.config.hold_s
        kept = []
        for ts, b in self._held:
            if t - ts > hold or ts > t:
                continue
            if len(fresh):
                b = b[_overlap(b, fresh).max(axis=1) < HELD_OVERLAP]
            if len(b):
                kept.append((ts, b))
        self._held = kept
        boxes = np.concatenate([fresh, *(b for _, b in kept)])
        if len(fresh):
            self._held.append((t, fresh))
        return _clip(boxes, width, height)

    def update(self, image: np.ndarray, t: float, cues: Detections | None) -> PrivacyMask | None:
        """The mask of `image` (at stream time `t`, seconds) given the boxes where a person may
        be; None when `cues` is None (detection did not run)."""
        height, width = image.shape[:2]
        if self._shape != (height, width):
            self.reset()
            self._shape = (height, width)
        dt = 0.0 if self._t is None else max(0.0, t - self._t)
        self._t = t
        if cues is None:
            return None
        ww = WORK_WIDTH
        wh = max(1, round(height * ww / width))
        sx, sy = ww / width, wh / height
        resized = cv2.resize(image, (ww, wh), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(resized, (3, 3), 0).astype(np.float32)
        boxes = self._cue_boxes(cues, t, width, height)
        cued = np.zeros((wh, ww), dtype=bool)
        for x1, y1, x2, y2 in boxes:
            # Outwards: the working pixels hide all of the box once scaled up.
            cued[
                math.floor(y1 * sy) : math.ceil(y2 * sy),
                math.floor(x1 * sx) : math.ceil(x2 * sx),
            ] = True
        if self._bg is None or self._known is None or self._until is None:
            self._bg = small.copy()
            self._known = np.zeros((wh, ww), dtype=bool)
            self._until = np.full((wh, ww), -np.inf, dtype=np.float64)
            started = True
        else:
            started = False
        bg, known, until = self._bg, self._known, self._until
        # A pixel a person cue has covered since the camera started is first seen when the cue
        # leaves it; the person may still be there, unseen: it is taken as it is but counts as
        # foreground for `learn_s`, as long as something that stopped would.
        first = ~known & ~cued
        # Once the camera has run a while, no pixel is seen for the first time on most frames:
        # the masked assignments below are skipped then (same result, less work per frame).
        seen_first = bool(first.any())
        if seen_first:
            if not started:
                until[first] = t + self.config.learn_s
            bg[first] = small[first]
        known |= ~cued
        d = cv2.absdiff(small, bg)
        diff = np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])  # any channel
        fg = (diff > DIFFERENCE[self.mode]) | ~known | (until > t)
        fast, slow = min(1.0, dt / FAST_LEARN_S), min(1.0, dt / self.config.learn_s)
        rate = np.where(fg, np.float32(slow), np.float32(fast))
        rate[cued | first if seen_first else cued] = 0.0
        # bg += rate * (small - bg), in place: `small` is not needed any more.
        np.subtract(small, bg, out=small)
        small *= rate[..., None]
        bg += small
        if seen_first:
            rate[first] = 1.0

        hidden = cued | self._foreground(fg)
        background = None
        if self.mode == "background":
            background = self._background(image, rate)
        mask = PrivacyMask(hidden=hidden, background=background)
        self.frames += 1
        self.cover_sum += mask.cover
        return mask

    def _foreground(self, fg: np.ndarray) -> np.ndarray:
        """The foreground pixels worth hiding, grown; noise specks dropped."""
        raw: np.ndarray = fg.astype(np.uint8)
        if self.mode == "persons":
            raw = cv2.morphologyEx(raw, cv2.MORPH_OPEN, self._open)
            # 16-bit labels: a working picture has fewer pixels than that, and they cost less.
            _, labels, stats, _ = cv2.connectedComponentsWithStats(
                raw, connectivity=8, ltype=cv2.CV_16U
            )
            noise = stats[:, 4] < MIN_BLOB_SHARE["persons"] * raw.size
            noise[0] = False
            if noise.any():
                raw[noise[labels]] = 0  # a lookup per label, not a search per pixel
        grown: np.ndarray = cv2.dilate(raw, self._kernel)
        hidden = grown.astype(bool)
        # A compact blob of a person's size may be a person the cues missed: its whole box is
        # hidden, which takes in the corners the growing rounded off.
        n, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8, ltype=cv2.CV_16U)
        wh = grown.shape[0]
        for x, y, w, h, area in stats[1:n]:
            if area < BLOB_FILL * w * h or h > BLOB_MAX_HEIGHT * wh:
                continue
            hidden[y : y + h, x : x + w] = True
        return hidden

    def _background(self, image: np.ndarray, rate: np.ndarray) -> np.ndarray:
        """The frame-size background, learnt at the working model's per-pixel rates: what is
        shown sharp is only ever what the working model took for background."""
        h, w = image.shape[:2]
        frame = image.astype(np.float32)
        full_rate = cv2.resize(rate, (w, h), interpolation=cv2.INTER_NEAREST)[..., None]
        if self._full_bg is None:
            self._full_bg = frame * full_rate
        else:
            self._full_bg += full_rate * (frame - self._full_bg)
        return np.clip(self._full_bg, 0, 255).astype(np.uint8)

    @property
    def mean_cover(self) -> float:
        """Average share of the picture blurred so far."""
        return self.cover_sum / self.frames if self.frames else 0.0


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) share of each box of `a` covered by each box of `b`."""
    ix = np.clip(
        np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    iy = np.clip(
        np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None
    )
    area = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-9)
    return (ix * iy) / area[:, None]


def _clip(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes rounded outwards to whole pixels inside the frame; empty ones dropped."""
    if not len(boxes):
        return np.zeros((0, 4), dtype=np.int64)
    b = np.asarray(boxes, dtype=np.float64)
    out = np.stack(
        [
            np.clip(np.floor(b[:, 0]), 0, width),
            np.clip(np.floor(b[:, 1]), 0, height),
            np.clip(np.ceil(b[:, 2]), 0, width),
            np.clip(np.ceil(b[:, 3]), 0, height),
        ],
        axis=1,
    ).astype(np.int64)
    return out[(out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])]
