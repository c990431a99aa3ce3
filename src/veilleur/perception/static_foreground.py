"""Static foreground: things that appeared in the scene and then stopped moving.

Two background models of a small colour copy of the frame, learning at different speeds:

- the *long-term* model is a temporal median of the first seconds, then a running average
  updated only where the picture matches it (selective update), so that something that stops
  is never learnt into it;
- the *short-term* model is a running average with a time constant of a second or two, which
  learns a stopped object almost at once.

A pixel that differs from the long-term model but matches the short-term one is *static
foreground*: something new that has stopped. Each pixel accumulates the seconds it has been
so; once it has been so for `candidate_s`, something moving over it (different from both
models: a passer-by hiding a bag) does not stop its clock, and the picture matching the
long-term model again (the object was taken away) drains it quickly. Connected groups of
pixels that have been static for `candidate_s` are returned as `StaticRegion`s; what they are
(an object, a person sitting, a ghost of something that left, a patch of light) is decided by
the caller with the cues offered here (`edge_contrast`, `texture_match`) and its detections.

A global change of light (clouds, camera exposure) is compensated by a gain measured every
frame; a change too large or too uneven for that restarts the models rather than making the
whole picture look static.

Times are seconds of the stream, so the behaviour does not depend on the analysed frame rate.
Plain numpy/OpenCV; costs about a millisecond per frame at the default 320-pixel width.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class StaticRegion:
    """A connected group of static-foreground pixels."""

    box: np.ndarray
    """x1, y1, x2, y2 in pixels of the input image."""
    area: float
    """Area in pixels of the input image."""
    static_s: float
    """How long its most static part has been so, seconds (a little under the time since the
    object stopped: the short-term model takes a second or two to learn it)."""
    typical_static_s: float
    """The same for its typical pixel (median): when something new joins an older region, this
    follows the newer part."""
    label: int
    """Its label in `StaticForeground.labels` (valid until the next `update`)."""
    work_box: tuple[int, int, int, int]
    """x, y, w, h at the working resolution."""
    group_box: np.ndarray
    """The box of all the regions within a few pixels of this one (parts of one thing),
    pixels of the input image."""


@dataclass(frozen=True, slots=True)
class RegionCues:
    """How a static region differs from the background it hides."""

    edge_contrast: float
    """Edge strength along the region's outline in the current picture over that of the
    background model: above 1 a new object with its own outline; below 1 the outline belongs
    to the background model (a *ghost*: something that was learnt, then left)."""
    texture_match: float
    """Normalised correlation between the current picture and the background inside the
    region: near 1 the ground's texture shows through (light or shadow on it), near 0 it is
    hidden by something."""
    background_texture: float
    """Standard deviation of the background's fine texture (after removing its local mean)
    inside the region, grey levels: the texture match means little on a flat background."""
    ratio_detail: float
    """Fine structure of the ratio picture / background inside the region, relative to its
    mean: near 0 for light or shadow (a smooth factor), 0.1 and more for an object with an
    outline or a texture of its own."""
    unexplained: float
    """Share of the difference from the background left once a smooth local change of
    brightness is divided out: small for light and shadow, about half or more for an object."""
    moving: float
    """Share of the region and its outline where something moves now (a passer-by in front):
    the other cues are unreliable then."""
    surround_contrast: float = 1.0
    """How much the region differs in colour from the ground around it in the current picture,
    over how much it did in the background model: above 1 something new that does not look
    like its surroundings (an object, even on a patterned pavement whose own edges are stronger
    than the object's outline); below 1 the background held something that is gone (a ghost:
    the picture now looks like the ground around it)."""


class StaticForeground:
    """Dual-background static-foreground detector; one instance per camera."""

    def __init__(
        self,
        *,
        work_width: int = 320,
        threshold: float = 25.0,
        fast_tau_s: float = 1.5,
        slow_tau_s: float = 60.0,
        warmup_s: float = 5.0,
        candidate_s: float = 2.0,
        drain_rate: float = 4.0,
        reset_fraction: float = 0.35,
        warmup_samples: int = 15,
    ) -> None:
        self.work_width = work_width
        self.threshold = threshold
        self.fast_tau_s = fast_tau_s
        self.slow_tau_s = slow_tau_s
        self.warmup_s = warmup_s
        self.candidate_s = candidate_s
        self.drain_rate = drain_rate
        self.reset_fraction = reset_fraction
        self.warmup_samples = warmup_samples
        self._open = cv2.getStructuringElement(cv2.MORPH_RECT, (2, 2))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self._band = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        self._group = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
        self._ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        self._shape: tuple[int, int] | None = None
        self._scale = 1.0
        self.resets = 0
        """How many times a change of the whole picture restarted the models."""
        self.gain = 1.0
        """Brightness of the current picture relative to the long-term model."""
        self.labels = np.zeros((0, 0), np.int32)
        self._restart()

    # ------------------------------------------------------------------ state

    def _restart(self) -> None:
        self._t0: float | None = None
        self._last_t: float | None = None
        self._samples: list[np.ndarray] = []
        self._slow: np.ndarray | None = None
        self._fast: np.ndarray | None = None
        self.static_s: np.ndarray | None = None
        """Seconds each working pixel has been static foreground."""
        self._small: np.ndarray | None = None
        self._moving: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        """Whether the long-term model has been learnt (after `warmup_s`)."""
        return self._slow is not None

    def to_work(self, box: np.ndarray) -> tuple[int, int, int, int]:
        """A box in input pixels → x1, y1, x2, y2 at the working resolution (clipped)."""
        assert self._shape is not None
        h, w = self._shape
        x1, y1, x2, y2 = (float(v) * self._scale for v in box)
        return (
            int(np.clip(np.floor(x1), 0, w)),
            int(np.clip(np.floor(y1), 0, h)),
            int(np.clip(np.ceil(x2), 0, w)),
            int(np.clip(np.ceil(y2), 0, h)),
        )

    def work_mask(self, polygons: list[np.ndarray]) -> np.ndarray:
        """A boolean mask at the working resolution of (N, 2) pixel polygons of the input."""
        assert self._shape is not None
        mask = np.zeros(self._shape, np.uint8)
        for poly in polygons:
            pts = np.round(np.asarray(poly, np.float64) * self._scale).astype(np.int32)
            cv2.fillPoly(mask, [pts], 1)
        return mask.astype(bool)

    @property
    def work_shape(self) -> tuple[int, int] | None:
        """(height, width) of the working resolution, once a frame has been seen."""
        return self._shape

    @property
    def scale(self) -> float:
        """Working pixels per input pixel."""
        return self._scale

    # ----------------------------------------------------------------- update

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if self._shape is None:
            self._scale = min(1.0, self.work_width / w)
            self._shape = (max(1, round(h * self._scale)), max(1, round(w * self._scale)))
        sh, sw = self._shape
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (3, 3), 0)
        if small.ndim == 2:
            small = small[:, :, None]
        return small.astype(np.float32)

    def update(
        self, image: np.ndarray, t: float, ignore: np.ndarray | None = None
    ) -> list[StaticRegion]:
        """Take in one picture (BGR, any size: it is reduced to `work_width`) at stream time
        `t`; returns the static regions, pixels under `ignore` (working-resolution mask)
        left out."""
        small = self._prepare(image)
        self._small = small
        if self._t0 is None:
            self._t0 = t
        if self._slow is None:
            return self._warm_up(small, t)

        assert self._fast is not None and self.static_s is not None
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        self.gain = self._measure_gain(small)
        # The background as this picture would show it: scaled by the gain, and clipped where
        # the camera saturates (a white sign does not get brighter than white).
        expected = np.minimum(self._slow * self.gain, 255.0)
        fg_slow = _channel_max(cv2.absdiff(small, expected)) > self.threshold
        fg_fast = _channel_max(cv2.absdiff(small, self._fast)) > self.threshold

        if float(np.count_nonzero(fg_slow)) > self.reset_fraction * fg_slow.size:
            # Most of the picture changed at once and the gain did not explain it: a light
            # switched, the camera moved or refocused. Learn the scene again.
            self._restart()
            self.resets += 1
            self._t0 = t
            return self._warm_up(small, t)

        a_fast = 1.0 - float(np.exp(-dt / self.fast_tau_s)) if dt > 0 else 0.0
        a_slow = 1.0 - float(np.exp(-dt / self.slow_tau_s)) if dt > 0 else 0.0
        cv2.accumulateWeighted(small, self._fast, a_fast)
        if a_slow > 0:
            # Selective update: only where the picture matches the long-term model, so a
            # stopped object is never learnt. The gain is taken out first so that the model
            # stays at the scene's own brightness.
            cv2.accumulateWeighted(
                small / self.gain, self._slow, a_slow, mask=(~fg_slow).astype(np.uint8)
            )

        self._moving = fg_fast
        acc = self.static_s
        # Still, or something moving over a pixel that was already established as still (a
        # passer-by in front of a bag): its clock runs on. Something moving over a pixel that
        # was not (yet) still leaves its count as it is. (Masked ufuncs: boolean indexing
        # costs several times more on a whole picture.)
        running = fg_slow & (~fg_fast | (acc >= self.candidate_s))
        np.add(acc, dt, out=acc, where=running)
        np.subtract(acc, self.drain_rate * dt, out=acc, where=~fg_slow)
        np.maximum(acc, 0.0, out=acc)
        return self._regions(ignore, fg_slow)

    def _warm_up(self, small: np.ndarray, t: float) -> list[StaticRegion]:
        assert self._t0 is not None
        step = self.warmup_s / max(1, self.warmup_samples - 1)
        if not self._samples or t - self._t0 >= step * len(self._samples):
            self._samples.append(small)
        if t - self._t0 >= self.warmup_s and len(self._samples) >= 3:
            # The median of a few seconds leaves out people walking through.
            self._slow = np.median(np.stack(self._samples), axis=0).astype(np.float32)
            self._fast = small.copy()
            self.static_s = np.zeros(small.shape[:2], np.float32)
            self._samples = []
            self._last_t = t
        return []

    def _measure_gain(self, small: np.ndarray) -> float:
        assert self._slow is not None
        # Every 6th pixel: the median of the ratio is robust to the people and objects in front.
        cur = _grey(small[::6, ::6])
        ref = _grey(self._slow[::6, ::6])
        ratio = (cur + 4.0) / (ref + 4.0)
        return float(np.clip(np.median(ratio), 0.2, 5.0))

    def _regions(self, ignore: np.ndarray | None, changed: np.ndarray) -> list[StaticRegion]:
        assert self.static_s is not None
        # Pixels where the background shows again (a person who stood there has left) are
        # no longer part of a region, even while their count drains.
        raw = ((self.static_s >= self.candidate_s) & changed).astype(np.uint8)
        if ignore is not None:
            raw[ignore] = 0
        if not raw.any():
            self.labels = np.zeros(raw.shape, np.int32)
            return []
        # Open removes single-pixel noise; close joins a bag's body and handle.
        opened = cv2.morphologyEx(raw, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, self._close)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        self.labels = np.asarray(labels, np.int32)
        # Regions a few pixels apart are parts of one thing (a lying person's head and body).
        _, groups, gstats, _ = cv2.connectedComponentsWithStats(
            cv2.dilate(mask, self._group), connectivity=8
        )
        out: list[StaticRegion] = []
        inv = 1.0 / self._scale
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area < 4:
                continue
            inside = self.labels[y : y + h, x : x + w] == i
            region_acc = self.static_s[y : y + h, x : x + w][inside]
            g = int(groups[y : y + h, x : x + w][inside][0])
            gx, gy, gw, gh = (int(v) for v in gstats[g][:4])
            out.append(
                StaticRegion(
                    box=np.array([x, y, x + w, y + h], np.float64) * inv,
                    area=float(area) * inv * inv,
                    static_s=float(region_acc.max()) if region_acc.size else 0.0,
                    typical_static_s=float(np.median(region_acc)) if region_acc.size else 0.0,
                    label=i,
                    work_box=(x, y, w, h),
                    group_box=np.array([gx + 2, gy + 2, gx + gw - 2, gy + gh - 2], np.float64)
                    * inv,
                )
            )
        return out

    # ------------------------------------------------------------------- cues

    def cues(self, region: StaticRegion) -> RegionCues:
        """Edge and texture cues of a region returned by the latest `update`."""
        assert self._small is not None and self._slow is not None
        x, y, w, h = region.work_box
        m = 3
        H, W = self.labels.shape
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(W, x + w + m), min(H, y + h + m)
        mask = (self.labels[y0:y1, x0:x1] == region.label).astype(np.uint8)
        cur = _grey(self._small[y0:y1, x0:x1])
        bg = _grey(self._slow[y0:y1, x0:x1]) * self.gain
        band = (cv2.dilate(mask, self._band) - cv2.erode(mask, self._band)).astype(bool)
        if band.any():
            e_cur = float(_gradient(cur)[band].mean())
            e_bg = float(_gradient(bg)[band].mean())
            # Light falling on the ground scales its edges with its brightness: take that
            # out, so that only an outline of its own counts (never boost a darker region).
            lit = max(1.0, float(cur[band].mean() + 1.0) / float(bg[band].mean() + 1.0))
            edge = (e_cur + 1.0) / (e_bg + 1.0) / lit
        else:
            edge = 1.0
        inside = mask.astype(bool)
        # The ground's texture: what is left after removing the local mean, so that a smooth
        # change of light over the region does not hide it.
        a = (cur - cv2.blur(cur, (5, 5)))[inside]
        b = (bg - cv2.blur(bg, (5, 5)))[inside]
        bg_std = float(b.std()) if b.size else 0.0
        if b.size < 4 or bg_std < 1e-3 or a.std() < 1e-3:
            ncc = 0.0
        else:
            ncc = float(np.corrcoef(a, b)[0, 1])
        # A change of light multiplies the ground by a smooth factor: the ratio of picture to
        # background is smooth, and dividing out its local mean leaves the background.
        ratio = (cur + 1.0) / (bg + 1.0)
        detail = (ratio - cv2.blur(ratio, (5, 5)))[inside]
        ratio_detail = float(detail.std() / max(float(ratio[inside].mean()), 1e-3))
        local_gain = (cv2.blur(cur, (7, 7)) + 1.0) / (cv2.blur(bg, (7, 7)) + 1.0)
        raw = float(np.abs(cur - bg)[inside].mean())
        left = float(np.abs(cur / local_gain - bg)[inside].mean())
        unexplained = left / raw if raw > 1e-3 else 1.0
        surround = self._surround_contrast(mask, y0, y1, x0, x1)
        moving = 0.0
        if self._moving is not None:
            near = cv2.dilate(mask, self._band).astype(bool)
            moving = float(self._moving[y0:y1, x0:x1][near].mean())
        return RegionCues(
            edge_contrast=edge,
            texture_match=ncc,
            background_texture=bg_std,
            ratio_detail=ratio_detail,
            unexplained=unexplained,
            moving=moving,
            surround_contrast=surround,
        )

    def _surround_contrast(self, mask: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> float:
        """`RegionCues.surround_contrast` of the region `mask` (a crop at y0:y1, x0:x1 of the
        working picture): colour distance between the region and a ring of ground around it,
        in the picture over in the background. Means of colours, not edges: a pavement's
        pattern averages out in both, an object's colour does not."""
        assert self._small is not None and self._slow is not None and self.static_s is not None
        H, W = self.labels.shape
        m = 4
        ya, yb, xa, xb = max(0, y0 - m), min(H, y1 + m), max(0, x0 - m), min(W, x1 + m)
        full = np.zeros((yb - ya, xb - xa), np.uint8)
        full[y0 - ya : y1 - ya, x0 - xa : x1 - xa] = mask
        inside = full.astype(bool)
        ring = (cv2.dilate(full, self._ring) > 0) & ~(cv2.dilate(full, self._band) > 0)
        # Only ground that is background now (not another object or a person beside it).
        ring &= self.static_s[ya:yb, xa:xb] <= 0.0
        if self._moving is not None:
            ring &= ~self._moving[ya:yb, xa:xb]
        if int(ring.sum()) < 4 or not inside.any():
            return 1.0
        cur = self._small[ya:yb, xa:xb]
        bg = self._slow[ya:yb, xa:xb] * self.gain
        d_cur = float(np.linalg.norm(cur[inside].mean(axis=0) - cur[ring].mean(axis=0)))
        d_bg = float(np.linalg.norm(bg[inside].mean(axis=0) - bg[ring].mean(axis=0)))
        return (d_cur + 4.0) / (d_bg + 4.0)

    def absorb(self, region: StaticRegion) -> None:
        """Learn a region into the long-term model now (it is part of the scene: a ghost, a
        patch of light, a parked vehicle); its static count restarts."""
        assert self._small is not None and self._slow is not None and self.static_s is not None
        x, y, w, h = region.work_box
        sel = self.labels[y : y + h, x : x + w] == region.label
        sel = cv2.dilate(sel.astype(np.uint8), self._band).astype(bool)
        slow = self._slow[y : y + h, x : x + w]
        slow[sel] = self._small[y : y + h, x : x + w][sel] / self.gain
        self.static_s[y : y + h, x : x + w][sel] = 0.0


def _channel_max(image: np.ndarray) -> np.ndarray:
    """Per-pixel largest channel value (numpy's reduction over a last axis of 3 is slow)."""
    if image.ndim == 2:
        return image
    channels = cv2.split(image)
    out = channels[0]
    for c in channels[1:]:
        out = cv2.max(out, c)
    return np.asarray(out)


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2 or image.shape[2] == 1:
        return np.asarray(image).reshape(image.shape[:2])
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY))


def _gradient(grey: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(cv2.magnitude(gx, gy))
