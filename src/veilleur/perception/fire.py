"""Image cues of a fire starting: flickering flames and spreading smoke.

No detector is needed, though the boxes of people, when given, veto flames on them. The flame
cue needs no background model either; it follows a moving camera (`GlobalMotion`: shaking,
panning, hand-held), carrying its evidence along with the picture. The smoke cue compares
with a slowly learnt background and restarts it when the camera moves or the light changes.

**Flames** (`FlameCue`). A pixel is *flame-coloured* when it is bright and warm (red channel
high, R ≥ G ≥ B, red well above blue): loose on purpose, because compressed CCTV shows flames
as pale orange, no more saturated than a sunlit brick or pink wall. Colour alone therefore
decides nothing; what decides is how the colour behaves over the last seconds:

- *flicker*: a flame-coloured pixel (in this frame or the previous one) whose grey level
  changed by `flicker_delta` counts a flicker event. Pixels that flickered in a share of the
  last `window_s` and were flame-coloured at least twice form candidate regions. A lit sign, a
  lamp, a brick wall or a sunset is flame-coloured but still: it never becomes a candidate;
- each region is tracked, and confirmed as flames (`FlameEvidence`, `_flame_verdict`) only
  if, over its recent history, it is seen in most frames and flickers in most of them (not a
  person passing once), lies mostly outside the boxes of people (skin, faces and clothes
  moving with a person), is not much wider than tall (flames rise; a row of lights on a road
  does not), is a blob rather than a line (a flapping tape, an edge), does not go dark
  between flashes (strobes, hazard lights), flickers *incoherently* — some pixels brighten
  while others darken — (a beacon, a sign's beat or a change of light moves every pixel the
  same way), stays in place (headlights and their reflections travel), shows no dominant
  period in its area or brightness (rotating beacons at 1–4 Hz, aliased or not at 5
  frames/s), does not keep returning to the same grey levels (a still warm wall that people
  walk in front of) nor to the same pictures (an animated neon sign, a chaser: flames never
  show the same picture twice), and passed on at least 2 of its latest 3 frames.

**Smoke** (`SmokeCue`), on a grid of cells: against a background learnt over ~10 s, smoke is
semi-transparent. The texture behind it is still there but attenuated (the current picture's
fine detail is a scaled-down copy of the background's: correlation high, gain between
`min_gain` and `max_gain`), and the light it adds (the "airlight" `(Y − gain·B) / (1 − gain)`)
is bright and grey. A shadow also lowers contrast but adds no light; an opaque object (a
person, a car) hides the texture and is usually coloured; the ghost of something that left
the background does not move. Cells smoky for a share of the window form regions, tracked
like flames, which must last and stay roughly in place.

Times are seconds of the stream, so the behaviour depends little on the analysed frame rate
(the verdicts need `min_samples` frames). Work is done on a copy scaled to `work_width`
pixels; see bench/fire_cost.py for the cost (about 3 ms per frame for both cues).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import cv2
import numpy as np

Kind = Literal["flame", "smoke"]


@dataclass(frozen=True, slots=True)
class FlameParams:
    """Thresholds of the flame cue (the situation's configuration sets the main ones)."""

    min_red: int = 200
    """Red channel (0..255) a flame-coloured pixel reaches at least."""
    min_red_blue: int = 30
    """How much the red channel exceeds the blue one, at least (white light does not)."""
    flicker_delta: int = 15
    """Change of grey level between two analysed frames that counts as a flicker event."""
    flicker_share: float = 0.3
    """Share of the frame pairs of the window in which a pixel must flicker to be a candidate."""
    window_s: float = 2.0
    """Pixel evidence (colour, flicker) is counted over this many seconds."""
    min_area: float = 0.0004
    """Smallest region, as a fraction of the image area."""
    min_presence: float = 0.8
    """Share of the frames since a region appeared in which it must be seen."""
    min_flicker_frames: float = 0.8
    """Share of its frames in which a region must have flickering pixels."""
    max_dark_frames: float = 0.3
    """Largest share of its frames in which the region is dark (under 10 % of its largest
    flame-coloured area): a strobe or a flashing light goes dark between flashes."""
    max_steadiness: float = 0.6
    """Largest share of the frames in which a region's pixels, when flame-coloured, show their
    usual (median) grey level within `steady_delta`: a warm wall that people pass in front of
    keeps coming back to the same picture; flames seldom do."""
    steady_delta: int = 6
    """Grey levels within which a pixel counts as showing its usual value."""
    max_coherence: float = 0.9
    """Largest median coherence of the brightness changes, 0..1: 1 when every pixel
    brightens or darkens together (a beacon, a sign's flicker, a change of light)."""
    max_periodicity: float = 0.8
    """Largest autocorrelation at a lag of 2 frames or more (or anticorrelation at a lag of
    1) of the region's area or brightness: above it the light is periodic."""
    min_samples: int = 10
    """Frames a region must have been seen in before it can be confirmed (the periodicity
    of a shorter series means little)."""
    min_passes: int = 2
    """Of the latest 3 verdicts on a region, how many must pass before it is confirmed."""
    min_novelty: float = 0.3
    """Smallest novelty of a region's picture: how far its latest pictures are from the
    closest of the earlier ones (two frames back or more), relative to how much it changes
    from frame to frame. Flames never show the same picture twice; a sign's animation, a
    chaser or a beacon cycles through a few pictures and comes back to each (about 0.1)."""
    recur_frames: int = 20
    """How many recent frames the novelty compares with (4 s at 5 frames/s)."""
    max_width_ratio: float = 4.0
    """Largest width of a region over its height (median over its frames): flames rise, so a
    flame region is seldom much wider than tall; a row of headlights or tail lights on a
    distant road, a lit strip or a reflection along the ground is."""
    max_on_person: float = 0.5
    """Largest share of a region (median over its frames) inside the boxes of detected
    people: above it, the warm, changing pixels are skin or clothing moving with the person
    (a face, a red or white shirt). A fire beside or in front of someone keeps most of its
    area outside their box."""
    max_travel: float = 1.5
    """Largest distance the region's centre may move over its history, in region sizes."""
    min_solidity: float = 0.15
    """Share of a region's flickering pixels that must be inside a solid patch (3×3 all
    flickering): flames are blobs; a flapping tape, a wire or the edge of a moving object is
    a line one or two pixels wide."""
    history_s: float = 6.0
    """Region statistics are judged over at most this many seconds."""
    gap_s: float = 1.0
    """A region unseen for longer than this is forgotten."""


@dataclass(frozen=True, slots=True)
class SmokeParams:
    """Thresholds of the smoke cue."""

    cell: int = 8
    """Cell size in pixels of the working copy."""
    background_s: float = 10.0
    """Time constant of the background, seconds."""
    min_texture: float = 3.0
    """Background detail (RMS of the fine structure, grey levels) a cell needs: smoke is seen
    only against texture."""
    min_correlation: float = 0.5
    """Correlation of a cell's fine structure with the background's: the texture behind smoke
    stays visible."""
    min_gain: float = 0.1
    max_gain: float = 0.75
    """Range of the contrast left by smoke (1: unchanged, 0: hidden)."""
    min_airlight: float = 110.0
    """Grey level of the light the smoke adds, at least (a shadow adds none)."""
    max_tint: float = 40.0
    """Largest spread between the colour channels (0..255) of the light a smoky cell adds:
    smoke adds grey; a coloured object (clothes, a vehicle) does not pass."""
    min_change: float = 5.0
    """Smallest change of a cell's mean grey level against the background."""
    min_activity: float = 3.0
    """Smallest mean change of a cell's grey levels per second (measured from the previous
    frame): smoke billows; the ghost of something that left the background, or haze, stays
    still."""
    window_s: float = 2.0
    """A cell must be smoky in `min_share` of this many last seconds."""
    min_share: float = 0.5
    """Share of the window's frames in which a cell must be smoky."""
    min_cells: int = 4
    """Smallest smoke region, in cells."""
    max_travel: float = 2.0
    """Largest distance the region's centre may move over its history, in region sizes."""
    min_presence: float = 0.8
    """Share of the frames since a region appeared in which it must be seen."""
    min_samples: int = 12
    """Frames a region must have been seen in before it can be confirmed."""
    max_changed: float = 0.75
    """Share of cells that differ from the background above which the background is
    restarted (the camera moved, the light changed)."""
    learn_s: float = 3.0
    """After a (re)start, no smoke is reported for this long."""
    history_s: float = 6.0
    """Region statistics are judged over at most this many seconds."""
    gap_s: float = 1.0
    """A region unseen for longer than this is forgotten."""


@dataclass(frozen=True, slots=True)
class FireRegion:
    """A region that looks like flames or smoke now, with the evidence gathered so far."""

    kind: Kind
    box: np.ndarray
    """x1, y1, x2, y2 in pixels of the input image."""
    first_t: float
    """When the region was first seen (seconds of the stream)."""
    confirmed: bool
    """Whether every test passes now."""
    confidence: float
    """0..1, from the strength of the evidence (meaningful when confirmed)."""
    reason: str
    """The first test that fails, or "" when confirmed (for tuning and tests)."""


@dataclass(slots=True)
class _Obs:
    t: float
    box: np.ndarray  # work pixels
    area: float  # candidate area, work pixels
    colour: float  # flame-coloured (or smoky) pixels inside
    flicker: float  # flickering pixels inside
    coherence: float
    brightness: float
    centre: np.ndarray
    solid: float = 1.0  # share of candidate pixels whose 3×3 neighbourhood is all candidate
    on_person: float = 0.0  # share of the region inside the box of a person


@dataclass
class _Track:
    first_t: float
    last_t: float
    box: np.ndarray
    obs: deque[_Obs] = field(default_factory=deque)
    passed: deque[bool] = field(default_factory=lambda: deque(maxlen=3))
    """Whether each of the latest verdicts found every test passed."""


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes `a` (N, 4) against `b` (M, 4)."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9))


def periodicity(x: np.ndarray) -> float:
    """How periodic a short series is, about 0..1 (the unbiased estimate can exceed 1 a little).

    The largest normalised autocorrelation at lags 2..n/2 (a period of two frames or more,
    seen at least twice), or minus the autocorrelation at lag 1 (on/off alternation from frame
    to frame, what a fast strobe becomes at a low frame rate). A linear trend (a growing fire)
    is removed first. Flames give low values; series shorter than 8 samples give 0.
    """
    n = len(x)
    if n < 8:
        return 0.0
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2
    y = np.asarray(x, dtype=np.float64)
    y = y - y.mean()
    y = y - t * float(t @ y) / float(t @ t)  # remove the least-squares line
    var = float(y @ y)
    if var <= 1e-9 * max(1.0, float(np.abs(x).max()) ** 2 * n):
        return 0.0
    # Unbiased estimate at each lag, so long lags are not shrunk towards 0.
    lags = np.arange(1, n // 2 + 1)
    ac = np.correlate(y, y, "full")[n - 1 + lags] / (n - lags) * n / var
    return float(max(-ac[0], ac[1:].max(initial=0.0)))


def _scale_box(box: np.ndarray, scale: float) -> np.ndarray:
    return np.asarray(box, dtype=np.float64) / scale


class _Tracker:
    """Links a cue's regions from frame to frame by overlap."""

    def __init__(self, gap_s: float, history_s: float) -> None:
        self.gap_s = gap_s
        self.history_s = history_s
        self.tracks: list[_Track] = []

    def update(self, t: float, observations: list[_Obs]) -> None:
        live = self.tracks
        taken: set[int] = set()
        if live and observations:
            iou = _iou(np.stack([tr.box for tr in live]), np.stack([o.box for o in observations]))
            # Greedy by overlap: regions are few and rarely ambiguous.
            for flat in np.argsort(-iou, axis=None):
                i, j = divmod(int(flat), len(observations))
                if iou[i, j] <= 0.05:
                    break
                if j in taken or live[i].last_t == t:
                    continue
                taken.add(j)
                self._extend(live[i], observations[j])
        for j, o in enumerate(observations):
            if j not in taken:
                tr = _Track(first_t=t, last_t=t, box=o.box)
                self._extend(tr, o)
                live.append(tr)
        self.tracks = [tr for tr in live if t - tr.last_t <= self.gap_s]

    def _extend(self, tr: _Track, o: _Obs) -> None:
        tr.obs.append(o)
        tr.last_t = o.t
        tr.box = o.box
        while tr.obs and tr.obs[0].t < o.t - self.history_s:
            tr.obs.popleft()

    def reset(self) -> None:
        self.tracks = []


class _Window:
    """Per-pixel counts of boolean maps over the last `window_s` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.items: deque[tuple[float, list[np.ndarray]]] = deque()
        self.sums: list[np.ndarray] = []

    def push(self, t: float, maps: list[np.ndarray]) -> None:
        if not self.sums or self.sums[0].shape != maps[0].shape:
            self.items.clear()
            self.sums = [np.zeros(m.shape, np.uint16) for m in maps]
        self.items.append((t, maps))
        for s, m in zip(self.sums, maps, strict=True):
            s += m
        while self.items and self.items[0][0] <= t - self.window_s:
            _, old = self.items.popleft()
            for s, m in zip(self.sums, old, strict=True):
                s -= m

    def __len__(self) -> int:
        return len(self.items)

    def remap(self, move: Callable[[np.ndarray], np.ndarray]) -> None:
        """Apply `move` to every map kept (the camera moved), and count them again."""
        if not self.items:
            return
        self.items = deque((t, [move(m) for m in maps]) for t, maps in self.items)
        self.sums = [np.zeros(s.shape, np.uint16) for s in self.sums]
        for _, maps in self.items:
            for s, m in zip(self.sums, maps, strict=True):
                s += m

    def clear(self) -> None:
        self.items.clear()
        self.sums = []


def _work_copy(image: np.ndarray, work_width: int) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    if w <= work_width:
        return image, 1.0
    scale = work_width / w
    size = (work_width, max(1, round(h * scale)))
    # Area averaging keeps small flames' colour; it is cheap at an integer ratio only.
    exact = abs(w / work_width - round(w / work_width)) < 1e-6
    interp = cv2.INTER_AREA if exact else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interp), scale


def _mask_boxes(
    shape: tuple[int, ...], boxes: np.ndarray | None, scale: float
) -> np.ndarray | None:
    """Boolean map of the work copy covered by `boxes` (input pixels), or None."""
    if boxes is None or len(boxes) == 0:
        return None
    m = np.zeros(shape, dtype=bool)
    h, w = shape
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64) * scale:
        m[
            max(0, int(y1)) : min(h, int(np.ceil(y2))), max(0, int(x1)) : min(w, int(np.ceil(x2)))
        ] = True
    return m


class GlobalMotion:
    """How the whole picture moved since the previous frame (a camera shaking, panning, zooming
    or hand-held): a similarity (shift, rotation, scale) fitted by RANSAC to corners tracked
    with pyramidal Lucas-Kanade on a half-size copy, about 0.5 ms at 320×180. Things moving in
    a still view (people, cars, flames) are a minority of the corners and fall out as
    outliers."""

    def __init__(
        self,
        min_move: float = 0.3,
        max_corners: int = 150,
        min_inliers: int = 12,
        min_inlier_share: float = 0.1,
        min_still_share: float = 0.3,
    ) -> None:
        self.min_move = min_move
        """A motion that moves no corner of the frame by this many pixels counts as none."""
        self.max_corners = max_corners
        self.min_inliers = min_inliers
        self.min_inlier_share = min_inlier_share
        """Share of the tracked corners the fitted motion must explain within two pixels (a
        hand-held camera swinging fast blurs and tilts the picture: few fit closely)."""
        self.min_still_share = min_still_share
        """Share of the tracked corners that, left in place (within a pixel), mean a still
        camera."""
        self._prev: np.ndarray | None = None
        self._points: np.ndarray | None = None

    def update(self, grey: np.ndarray) -> np.ndarray | None:
        """The 2×3 matrix taking pixels of the previous frame to `grey`, or None when the
        picture did not move (or its motion cannot be told with confidence)."""
        # Corners are found and tracked on a half-size copy: four times cheaper, and still
        # within a fifth of a pixel once scaled back.
        h, w = grey.shape
        small = cv2.resize(grey, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        prev, points = self._prev, self._points
        self._prev = small
        self._points = cv2.goodFeaturesToTrack(small, self.max_corners, 0.01, 4, blockSize=3)
        if prev is None or prev.shape != small.shape or points is None:
            return None
        if len(points) < self.min_inliers:
            return None
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            prev,
            small,
            points,
            None,  # type: ignore[call-overload]
            winSize=(11, 11),
            maxLevel=3,
        )
        ok = status.ravel() == 1
        if int(ok.sum()) < self.min_inliers:
            return None
        # A still camera first: when a good part of the picture has not moved, what moved is
        # in the scene (a person sitting down, a car), whatever a fit to the rest would say.
        still = np.linalg.norm((moved - points).reshape(-1, 2)[ok], axis=1) < 0.5
        if int(still.sum()) >= max(self.min_inliers, self.min_still_share * int(ok.sum())):
            return None
        m, inliers = cv2.estimateAffinePartial2D(
            points[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0
        )
        if m is None or inliers is None:
            return None
        n_in = int(inliers.sum())
        if n_in < self.min_inliers or n_in < self.min_inlier_share * int(ok.sum()):
            return None
        m = np.asarray(m, dtype=np.float64)
        m[:, 2] *= 2.0  # back to full-size pixels
        if _displacement(m, grey.shape) < self.min_move:
            return None
        return m


def _warped(
    grey: np.ndarray, colour: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`grey` and `colour` moved by the 2×3 matrix `m`, and the mask of pixels that were in
    view."""
    h, w = grey.shape
    grey2 = cv2.warpAffine(grey, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    colour2 = cv2.warpAffine(colour, m, (w, h), flags=cv2.INTER_NEAREST)
    valid = cv2.warpAffine(np.ones((h, w), np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
    return grey2, colour2, valid


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2×3 matrix of `b` then `a`."""
    return np.asarray(a[:, :2] @ b, dtype=np.float64) + np.hstack([np.zeros((2, 2)), a[:, 2:]])


def _displacement(m: np.ndarray, shape: tuple[int, ...]) -> float:
    """Furthest a corner of a frame of `shape` (rows, columns) moves under `m`, pixels."""
    h, w = shape[:2]
    corners = np.array([[0.0, 0.0], [w, 0.0], [0.0, h], [w, h]])
    return float(np.abs(corners @ m[:, :2].T + m[:, 2] - corners).max())


def _clip_box(box: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`box` rounded out to whole pixels inside a picture of `shape`."""
    h, w = shape[:2]
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    return np.array([x1, y1, max(x1 + 1, x2), max(y1 + 1, y2)], dtype=np.float64)


def _move_points(m: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return np.asarray(xy, dtype=np.float64) @ m[:, :2].T + m[:, 2]


def _move_box(m: np.ndarray, box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    p = _move_points(m, np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]))
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


class FlameCue:
    """Finds flickering, flame-coloured regions; see the module docstring."""

    def __init__(self, params: FlameParams | None = None, work_width: int = 320) -> None:
        self.p = params or FlameParams()
        self.work_width = work_width
        self._window = _Window(self.p.window_s)
        self._prev: tuple[np.ndarray, np.ndarray] | None = None  # grey, colour mask
        self._tracker = _Tracker(self.p.gap_s, self.p.history_s)
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self._square = np.ones((3, 3), np.uint8)
        self._scale = 1.0
        # Recent grey pictures, each with the 2×3 matrix that takes it to the current frame's
        # pixels (None while the camera has not moved): warped only where a region is judged.
        self._pictures: deque[tuple[float, np.ndarray, np.ndarray | None]] = deque()
        self._pending: np.ndarray | None = None  # camera motion not yet applied to the evidence
        self._motion = GlobalMotion()
        self.camera_moved = False
        """Whether the picture moved between the last two frames (a moving camera)."""

    def colour_mask(self, work: np.ndarray) -> np.ndarray:
        """Flame-coloured pixels of a BGR image: 1 where bright and warm, else 0 (uint8)."""
        b, g, r = (work[..., i].astype(np.int16) for i in range(3))
        m = (r >= self.p.min_red) & (r >= g) & (g + 5 >= b) & (r - b >= self.p.min_red_blue)
        return m.astype(np.uint8)

    def update(
        self,
        image: np.ndarray,
        t: float,
        ignore: np.ndarray | None = None,
        people: np.ndarray | None = None,
    ) -> list[FireRegion]:
        """Take in one analysed frame; returns the regions tracked now.

        `ignore`: boxes (N, 4, input pixels) of moving things already explained (people and
        vehicles on the move); flicker inside them does not count. `people`: boxes of every
        person seen, still or moving; a region lying mostly inside them is skin or clothing.
        """
        p = self.p
        work, self._scale = _work_copy(image, self.work_width)
        grey = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
        colour = self.colour_mask(work)
        prev = self._prev
        self._prev = (grey, colour)
        motion = self._motion.update(grey)
        self.camera_moved = motion is not None
        if prev is None or prev[0].shape != grey.shape:
            self._window.clear()
            self._pictures.clear()
            self._pending = None
            self._tracker.reset()
            return []
        prev_grey, prev_colour = prev
        valid = None
        if motion is not None:
            # The camera moved: compare each pixel with where it was, not with what was there,
            # and carry the evidence gathered so far along with the picture.
            prev_grey, prev_colour, valid = _warped(prev_grey, prev_colour, motion)
            self._follow(motion)
        signed = cv2.subtract(grey, prev_grey, dtype=cv2.CV_16S)
        d = p.flicker_delta
        if valid is None:
            changed = (cv2.absdiff(grey, prev_grey) >= d).astype(np.uint8)
        else:
            # Registration is never exact: on a moving camera a change counts only beyond what
            # the previous frame had within one pixel, or every sharp warm edge would flicker.
            brighter = cv2.subtract(grey, cv2.dilate(prev_grey, self._square)) >= d
            darker = cv2.subtract(cv2.erode(prev_grey, self._square), grey) >= d
            changed = (brighter | darker).astype(np.uint8) & valid
        flicker = (colour | prev_colour) & changed
        # Whether a detected thing moves is told from its box moving in the picture: on a
        # moving camera every box moves (a burning car too), so nothing is excluded then.
        skip = _mask_boxes(grey.shape, ignore, self._scale) if motion is None else None
        if skip is not None:
            flicker[skip] = 0
        self._window.push(t, [colour, flicker])
        self._pictures.append((t, grey, None))
        while len(self._pictures) > max(p.recur_frames, len(self._window)):
            self._pictures.popleft()
        on_people = _mask_boxes(grey.shape, people, self._scale)
        observations = self._regions(t, colour, flicker, signed, grey, on_people)
        self._tracker.update(t, observations)
        return [self._judge(tr, t) for tr in self._tracker.tracks if tr.last_t == t]

    def _follow(self, m: np.ndarray) -> None:
        """Move the evidence with the picture (2×3 matrix `m` from the previous frame to this
        one): the recent pictures at once (a matrix each), the per-pixel counts and the tracked
        regions once the motion not yet applied to them reaches a pixel (a still camera's
        sub-pixel jitter costs nothing)."""
        self._pictures = deque(
            (t, g, m if tm is None else _compose(m, tm)) for t, g, tm in self._pictures
        )
        pending = m if self._pending is None else _compose(m, self._pending)
        if _displacement(pending, self._prev[0].shape if self._prev else (1, 1)) < 1.0:
            self._pending = pending
            return
        self._pending = None
        h, w = self._prev[0].shape if self._prev is not None else (0, 0)

        def counts(a: np.ndarray) -> np.ndarray:  # what comes into view has no evidence yet
            return cv2.warpAffine(a, pending, (w, h), flags=cv2.INTER_NEAREST)

        self._window.remap(counts)
        for tr in self._tracker.tracks:
            tr.box = _move_box(pending, tr.box)
            for o in tr.obs:
                o.box = _move_box(pending, o.box)
                o.centre = _move_points(pending, o.centre[None, :])[0]

    def _crops(self, box: np.ndarray, last: int) -> list[np.ndarray]:
        """The `box` (work pixels, whole) of the `last` recent pictures, in the current
        frame's pixels."""
        x1, y1, x2, y2 = (int(v) for v in box)
        out = []
        for _, g, m in list(self._pictures)[-last:]:
            if m is None:
                out.append(g[y1:y2, x1:x2])
            else:
                crop = m.copy()
                crop[:, 2] -= (x1, y1)
                out.append(
                    cv2.warpAffine(g, crop, (x2 - x1, y2 - y1), borderMode=cv2.BORDER_REPLICATE)
                )
        return out

    def _regions(
        self,
        t: float,
        colour: np.ndarray,
        flicker: np.ndarray,
        signed: np.ndarray,
        grey: np.ndarray,
        people: np.ndarray | None = None,
    ) -> list[_Obs]:
        p = self.p
        pairs = len(self._window)
        if pairs < 2:
            return []
        n_colour, n_flicker = self._window.sums
        need = max(2, int(np.ceil(p.flicker_share * pairs)))
        raw = ((n_colour >= 2) & (n_flicker >= need)).astype(np.uint8)
        core = cv2.erode(raw, self._square)
        cand = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, self._kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
        min_px = p.min_area * cand.size
        out: list[_Obs] = []
        for i in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area < min_px:
                continue
            inside = labels[y : y + h, x : x + w] == i
            col = colour[y : y + h, x : x + w].astype(bool) & inside
            fl = flicker[y : y + h, x : x + w].astype(bool) & inside
            n_raw = int(raw[y : y + h, x : x + w][inside].sum())
            solid = float(core[y : y + h, x : x + w][inside].sum()) / max(n_raw, 1)
            n_col = int(col.sum())
            n_fl = int(fl.sum())
            on_person = 0.0
            if people is not None:
                on_person = float(people[y : y + h, x : x + w][inside].sum()) / max(area, 1)
            s = signed[y : y + h, x : x + w][fl].astype(np.float64)
            coherence = float(abs(s.sum()) / max(np.abs(s).sum(), 1.0)) if n_fl else 1.0
            g = grey[y : y + h, x : x + w]
            if n_col:
                ys, xs = np.nonzero(col)
                centre = np.array([x + xs.mean(), y + ys.mean()])
                bright = float(g[col].mean())
            else:
                centre = np.array([x + w / 2, y + h / 2])
                bright = 0.0
            out.append(
                _Obs(
                    t,
                    np.array([x, y, x + w, y + h], dtype=np.float64),
                    float(area),
                    float(n_col),
                    float(n_fl),
                    coherence,
                    bright,
                    centre,
                    solid,
                    on_person,
                )
            )
        return out

    def _steadiness(self, box: np.ndarray) -> float:
        """Share of the (pixel, frame) pairs of the window where a pixel of `box` (work pixels)
        that was flame-coloured at least twice is flame-coloured and shows its usual grey level
        (within `steady_delta` of its median over the frames where it is flame-coloured)."""
        box = _clip_box(box, self._window.sums[0].shape)
        x1, y1, x2, y2 = (int(v) for v in box)
        where = self._window.sums[0][y1:y2, x1:x2] >= 2
        if not where.any():
            return 0.0
        crops = self._crops(box, len(self._window))
        greys = np.stack([g[where] for g in crops]).astype(np.float32)
        lit = np.stack([m[0][y1:y2, x1:x2][where] for _, m in self._window.items]) > 0
        # Median over the lit frames only: unlit values sort last, take the middle lit one.
        ordered = np.sort(np.where(lit, greys, np.inf), axis=0)
        middle = ((lit.sum(axis=0) - 1) // 2)[None, :]
        median = np.take_along_axis(ordered, middle, axis=0)
        close = lit & (np.abs(greys - median) <= self.p.steady_delta)
        return float(close.sum() / max(int(lit.sum()), 1))

    def _novelty(self, box: np.ndarray) -> float:
        """How new the region's latest pictures are: for each of the last frames, the mean
        grey difference to the closest frame two or more before it, over the median
        difference between consecutive frames (pixels of `box`, work pixels, that were
        flame-coloured at least twice in the window). About 1 or more for flames."""
        box = _clip_box(box, self._window.sums[0].shape)
        x1, y1, x2, y2 = (int(v) for v in box)
        where = self._window.sums[0][y1:y2, x1:x2] >= 2
        if not where.any() or len(self._pictures) < 6:
            return 1.0
        crops = self._crops(box, self.p.recur_frames)
        g = np.stack([im[where] for im in crops]).astype(np.float32)
        n = len(g)
        step = float(np.median(np.abs(g[1:] - g[:-1]).mean(axis=1)))
        if step < 1.0:  # still: other tests judge it
            return 1.0
        closest = [
            float(np.abs(g[i][None, :] - g[: i - 1]).mean(axis=1).min()) for i in range(n - 3, n)
        ]
        return float(np.median(closest)) / step

    def _judge(self, tr: _Track, t: float) -> FireRegion:
        box = _scale_box(tr.box, self._scale)
        if len(tr.obs) < self.p.min_samples:
            return FireRegion("flame", box, tr.first_t, False, 0.0, "too short to judge")
        evidence = FlameEvidence(
            list(tr.obs), lambda: self._steadiness(tr.box), lambda: self._novelty(tr.box)
        )
        reason, confidence = _flame_verdict(evidence, tr.first_t, t, self.p)
        tr.passed.append(reason == "")
        if reason == "" and sum(tr.passed) < self.p.min_passes:
            # One verdict that tips over on a single frame is noise (a face at the edge of the
            # picture, a shirt catching the light): flames keep passing.
            reason, confidence = "passed on too few of its latest frames", 0.0
        return FireRegion("flame", box, tr.first_t, reason == "", confidence, reason)

    @property
    def tracks(self) -> int:
        return len(self._tracker.tracks)


def _frame_step(obs: list[_Obs]) -> float:
    if len(obs) < 2:
        return 0.2
    return float(np.median(np.diff([o.t for o in obs])))


class FlameEvidence:
    """What a flame track's history says, each value computed when first asked for (the
    verdict stops at the first failed test, so most tracks never pay for the dear ones)."""

    def __init__(
        self,
        obs: list[_Obs],
        steadiness: Callable[[], float],
        novelty: Callable[[], float] = lambda: 1.0,
    ) -> None:
        self.obs = obs
        self._steadiness = steadiness
        self._novelty = novelty
        self.colours = np.array([o.colour for o in obs])
        self.areas = np.array([o.area for o in obs])

    @cached_property
    def presence(self) -> float:
        """Share of the frames since the track began in which its region was seen."""
        step = _frame_step(self.obs)
        span = self.obs[-1].t - self.obs[0].t
        return len(self.obs) / (span / step + 1) if step > 0 else 1.0

    @cached_property
    def solidity(self) -> float:
        """Upper quartile of the share of solid pixels: a fire coming into view or catching
        starts sparse and fills in; a tape or an edge stays thin throughout."""
        return float(np.percentile([o.solid for o in self.obs], 75))

    @cached_property
    def width_ratio(self) -> float:
        """Median width over height of the region's box."""
        boxes = np.stack([o.box for o in self.obs])
        w, h = boxes[:, 2] - boxes[:, 0], np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        return float(np.median(w / h))

    @cached_property
    def on_person(self) -> float:
        """Median share of the region inside the boxes of people."""
        return float(np.median([o.on_person for o in self.obs]))

    @cached_property
    def flickering(self) -> float:
        """Share of frames with flickering pixels (at least 5 % of the region)."""
        flicker = np.array([o.flicker for o in self.obs])
        return float(np.mean(flicker >= np.maximum(2.0, 0.05 * self.areas)))

    @cached_property
    def steadiness(self) -> float:
        return self._steadiness()

    @cached_property
    def novelty(self) -> float:
        return self._novelty()

    @cached_property
    def dark(self) -> float:
        """Share of frames with under 10 % of the largest flame-coloured area."""
        return float(np.mean(self.colours < 0.1 * max(float(self.colours.max()), 1.0)))

    @cached_property
    def coherence(self) -> float:
        coherent = [o.coherence for o in self.obs if o.flicker > 0]
        return float(np.median(coherent)) if coherent else 1.0

    @cached_property
    def periodicity(self) -> float:
        brightness = np.array([o.brightness for o in self.obs])
        return max(periodicity(self.colours), periodicity(brightness))

    @cached_property
    def travel(self) -> float:
        """Furthest the centre went from where it started, in region sizes."""
        centres = np.stack([o.centre for o in self.obs])
        size = float(np.sqrt(max(float(np.median(self.areas)), 1.0)))
        return float(np.linalg.norm(centres - centres[0], axis=1).max()) / size

    @cached_property
    def growth(self) -> float:
        c = self.colours
        return float(np.clip((c[-1] - c[0]) / max(c[0], 1.0), 0.0, 1.0))

    def as_dict(self) -> dict[str, float]:
        names = ("presence", "width_ratio", "solidity", "on_person", "flickering",
                 "steadiness", "dark", "coherence", "periodicity", "novelty", "travel",
                 "growth")  # fmt: skip
        return {n: float(getattr(self, n)) for n in names}


def _flame_verdict(
    ev: FlameEvidence, first_t: float, t: float, p: FlameParams
) -> tuple[str, float]:
    """The first failed test ("" if none) and a confidence for a flame track."""
    if len(ev.obs) < p.min_samples:
        return "too short to judge", 0.0
    if ev.presence < p.min_presence:
        return "intermittent", 0.0
    if ev.on_person > p.max_on_person:
        return "on a person (skin, clothing)", 0.0
    if ev.width_ratio > p.max_width_ratio:
        return "much wider than tall (a row of lights, a lit strip)", 0.0
    if ev.solidity < p.min_solidity:
        return "thin (a flapping tape, an edge)", 0.0
    if ev.flickering < p.min_flicker_frames:
        return "flickers too rarely", 0.0
    if ev.dark > p.max_dark_frames:
        return "goes dark (flashing light)", 0.0
    if ev.coherence > p.max_coherence:
        return "changes as one (lamp or light change)", 0.0
    if ev.travel > p.max_travel:
        return "travels", 0.0
    if ev.periodicity > p.max_periodicity:
        return "periodic", 0.0
    if ev.steadiness > p.max_steadiness:
        return "a still background passed over (people, vehicles, a flag)", 0.0
    if ev.novelty < p.min_novelty:
        return "shows the same pictures again (an animated sign, a chaser)", 0.0
    evidence = [
        ev.flickering,
        1.0 - ev.steadiness,
        1.0 - max(ev.periodicity, 0.0),
        min(1.0, float(np.median(ev.colours)) / 100.0),
        min(1.0, (t - first_t) / 4.0),
    ]
    confidence = 0.3 + 0.6 * float(np.mean(evidence)) + 0.1 * ev.growth
    return "", float(np.clip(confidence, 0.0, 1.0))


def _cell_means(img: np.ndarray, cell: int) -> np.ndarray:
    """Mean of each `cell`×`cell` block (the image is cut to whole cells)."""
    h, w = img.shape[0] // cell, img.shape[1] // cell
    # Area resampling by a whole factor is an exact block mean, and much faster than numpy's.
    cut = np.ascontiguousarray(img[: h * cell, : w * cell], dtype=np.float32)
    return np.asarray(cv2.resize(cut, (w, h), interpolation=cv2.INTER_AREA))


class SmokeCue:
    """Finds semi-transparent grey smoke spreading over a textured background; see the module
    docstring."""

    def __init__(self, params: SmokeParams | None = None, work_width: int = 320) -> None:
        self.p = params or SmokeParams()
        self.work_width = work_width
        self._scale = 1.0
        self._background: np.ndarray | None = None
        self._colour_bg: np.ndarray | None = None  # per-cell mean B, G, R of the background
        self._prev: np.ndarray | None = None
        self._started = 0.0
        self._last_t: float | None = None
        self._window = _Window(self.p.window_s)
        self._tracker = _Tracker(self.p.gap_s, self.p.history_s)
        self.restarts = 0
        """How many times the background was restarted (camera moved, light changed)."""

    def _restart(self, grey: np.ndarray, colour: np.ndarray, t: float) -> None:
        self._background = grey.copy()
        self._colour_bg = colour.copy()
        self._started = t
        self._window.clear()
        self._tracker.reset()

    def smoky_cells(
        self, grey: np.ndarray, colour: np.ndarray, prev: np.ndarray, dt: float
    ) -> tuple[np.ndarray, float]:
        """Cells (bool grid) that look like smoke over the background, and the share of
        textured cells that no longer match it at all (for the restart test). `colour`: the
        frame's per-cell mean B, G, R."""
        p = self.p
        assert self._background is not None and self._colour_bg is not None
        bg = self._background
        hp_y = grey - cv2.blur(grey, (5, 5))
        hp_b = bg - cv2.blur(bg, (5, 5))
        c = p.cell
        e_b = _cell_means(hp_b * hp_b, c)
        e_y = _cell_means(hp_y * hp_y, c)
        c_yb = _cell_means(hp_y * hp_b, c)
        m_y = _cell_means(grey, c)
        m_b = _cell_means(bg, c)
        activity = _cell_means(cv2.absdiff(grey, prev), c)
        textured = e_b >= p.min_texture**2
        gain = c_yb / np.maximum(e_b, 1e-6)
        corr = c_yb / np.sqrt(np.maximum(e_b * e_y, 1e-6))
        airlight = (m_y - gain * m_b) / np.maximum(1.0 - gain, 1e-3)
        # The light smoke adds is grey: the same in the three colour channels.
        added = (colour - gain[..., None] * self._colour_bg) / np.maximum(1.0 - gain, 1e-3)[
            ..., None
        ]
        tint = added.max(axis=2) - added.min(axis=2)
        smoky = (
            textured
            & (corr >= p.min_correlation)
            & (gain >= p.min_gain)
            & (gain <= p.max_gain)
            & (airlight >= p.min_airlight)
            & (tint <= p.max_tint)
            & (np.abs(m_y - m_b) >= p.min_change)
            & (activity >= p.min_activity * dt)
        )
        lost = textured & ((corr < 0.3) | (np.abs(m_y - m_b) > 40.0))
        n_textured = int(textured.sum())
        changed = float(lost.sum()) / n_textured if n_textured >= 20 else 0.0
        return smoky, changed

    def update(
        self, image: np.ndarray, t: float, ignore: np.ndarray | None = None
    ) -> list[FireRegion]:
        """Take in one analysed frame; returns the smoke regions tracked now. `ignore`: boxes
        (input pixels) of moving people and vehicles, where nothing counts as smoke."""
        p = self.p
        work, self._scale = _work_copy(image, self.work_width)
        grey = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY).astype(np.float32)
        c = p.cell
        colour = _cell_means(work, c)
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        if self._background is None or self._background.shape != grey.shape:
            self._restart(grey, colour, t)
            return []
        prev = self._prev if self._prev is not None else grey
        self._prev = grey
        smoky, changed = self.smoky_cells(grey, colour, prev, dt)
        if changed > p.max_changed:
            self.restarts += 1
            self._restart(grey, colour, t)
            return []
        skip = _mask_boxes(grey.shape, ignore, self._scale)
        if skip is not None:
            smoky &= ~(_cell_means(skip.astype(np.float32), c) > 0)
        self._window.push(t, [smoky.astype(np.uint8)])
        persistent = self._window.sums[0] >= max(2, int(np.ceil(p.min_share * len(self._window))))
        # Learn the background slowly, but not under smoke, so that smoke is not learnt.
        alpha = min(1.0, dt / p.background_s)
        learn = np.ones(grey.shape, dtype=np.uint8)
        hc, wc = persistent.shape
        frozen = (persistent | smoky).astype(np.uint8)
        frozen_px = cv2.resize(frozen, (wc * c, hc * c), interpolation=cv2.INTER_NEAREST)
        learn[: hc * c, : wc * c] -= frozen_px
        cv2.accumulateWeighted(grey, self._background, alpha, mask=learn)
        assert self._colour_bg is not None
        cv2.accumulateWeighted(colour, self._colour_bg, alpha, mask=1 - frozen)
        if t - self._started < p.learn_s:
            return []
        observations = self._regions(t, persistent)
        self._tracker.update(t, observations)
        return [self._judge(tr, t) for tr in self._tracker.tracks if tr.last_t == t]

    def _regions(self, t: float, persistent: np.ndarray) -> list[_Obs]:
        p = self.p
        count, _, stats, centroids = cv2.connectedComponentsWithStats(
            persistent.astype(np.uint8), connectivity=8
        )
        out: list[_Obs] = []
        for i in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area < p.min_cells:
                continue
            c = p.cell
            box = np.array([x * c, y * c, (x + w) * c, (y + h) * c], dtype=np.float64)
            centre = np.asarray(centroids[i], dtype=np.float64) * c + c / 2
            out.append(_Obs(t, box, float(area), float(area), 0.0, 0.0, 0.0, centre))
        return out

    def _judge(self, tr: _Track, t: float) -> FireRegion:
        p = self.p
        box = _scale_box(tr.box, self._scale)
        obs = list(tr.obs)
        if len(obs) < p.min_samples:
            return FireRegion("smoke", box, tr.first_t, False, 0.0, "too short to judge")
        step = _frame_step(obs)
        span = obs[-1].t - obs[0].t
        presence = len(obs) / (span / step + 1) if step > 0 else 1.0
        areas = np.array([o.area for o in obs])
        centres = np.stack([o.centre for o in obs])
        size = float(np.sqrt(max(float(np.median(areas)), 1.0))) * p.cell
        travel = float(np.linalg.norm(centres - centres[0], axis=1).max()) / size
        if presence < p.min_presence:
            return FireRegion("smoke", box, tr.first_t, False, 0.0, "intermittent")
        if travel > p.max_travel:
            return FireRegion("smoke", box, tr.first_t, False, 0.0, "travels")
        growth = float(np.clip((areas[-1] - areas[0]) / max(areas[0], 1.0), 0.0, 1.0))
        confidence = 0.3 + 0.4 * min(1.0, float(np.median(areas)) / 20.0) + 0.2 * growth
        confidence += 0.1 * min(1.0, (t - tr.first_t) / 8.0)
        return FireRegion("smoke", box, tr.first_t, True, float(min(confidence, 1.0)), "")
