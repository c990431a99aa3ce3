"""`excessive_density`: too many people per m², or per zone, for a while.

Each analysed frame, per zone: `detected` is the number of person detections whose feet are
in the zone; `occupancy` is the zone's foreground counted in people, corrected for overlap
(`perception/density.py`: a background model that does not learn people standing still, and
the expected size of a person at each row, learnt from the detections), with the people
detected outside the zone cleared from it. Where people hide each other the detector finds
only some of them while the foreground still covers them all. Both are medians over
`smoothing_s`; the occupancy replaces the count only when it is clearly larger (by
`occupancy_margin`) and never beyond `occlusion_factor` × the count: it can raise a count
that occlusion lowered, never create people the detector does not see at all (a shadow, a
change of light, a parked van). With a ground calibration the limit is `max_density_m2` × the
zone's area on the ground; `max_people` is a limit per zone with or without one.

A situation starts when the estimate goes above the limit, ends when it has stayed below for
`grace_s`, and raises one signal once it has lasted `min_duration_s`. A new situation (the
previous one ended) that lasts `min_duration_s` during the zone's cool-down is attached to the
previous signal as a further event; if it still lasts when the cool-down ends, it is signalled.
"""

from __future__ import annotations

import warnings
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from shapely.geometry import Polygon

from veilleur.config.situations import ExcessiveDensityConfig
from veilleur.perception.density import (
    Foreground,
    PersonScale,
    attribution_mask,
    feet,
    fill_ratio,
    ground_area_m2,
    occupancy,
    row_weights,
)
from veilleur.scene.state import Scene
from veilleur.situations.base import Situation, SituationContext
from veilleur.types import PERSON, VEHICLE_CLASSES, Signal


@dataclass
class _Zone:
    polygon: Polygon | None
    area_m2: float | None
    history: deque[tuple[float, int, float | None]] = field(default_factory=deque)
    """(t, detected, occupancy) over the smoothing window."""
    mask: np.ndarray | None = None
    mask_version: int = -1
    start: float | None = None
    last_above: float = 0.0
    above_frames: int = 0
    frames: int = 0
    signalled: bool = False
    attached: bool = False
    """This period above the limit was attached to an earlier signal's episode (cool-down)."""


@dataclass(frozen=True, slots=True)
class DensityReading:
    """What the situation measured in one zone on the latest frame (for tests and tuning)."""

    detected: int
    occupancy: float | None
    estimate: float
    """This frame's count: detections raised by the occupancy (capped)."""
    smoothed: float
    """The count compared with the limit (medians over `smoothing_s`)."""
    limit: float | None
    """Persons above which the zone is too dense (None: no limit applies)."""
    density_m2: float | None


class ExcessiveDensity(Situation):
    id = "excessive_density"
    known_limits = (
        "Excessive density: people are counted from person detections, raised by the share "
        "of the zone covered by moving or standing people where they hide each other. In a "
        "packed crowd seen from a low or oblique camera both under-count (people behind "
        "others are invisible), so the density shown is a lower bound; from above it is "
        "closer. Small distant people are missed unless the detector runs on tiles. Poor "
        "light, night and rain lower the count. Persons per m² are only as good as the "
        "ground calibration; without one the limit is a number of persons per zone."
    )

    def __init__(self, config: ExcessiveDensityConfig, context: SituationContext) -> None:
        super().__init__(config, context)
        self.cfg = config
        self._zones: dict[str | None, _Zone] = {}
        self._geometry: object | None = None
        self._scale: PersonScale | None = None
        self._fg = Foreground() if config.occlusion_factor > 1 else None
        self._fill = 0.55  # share of a person's box covered by foreground, learnt below
        self._warned = False
        self.readings: dict[str | None, DensityReading] = {}
        """The latest reading of every zone."""

    def _setup(self, scene: Scene) -> None:
        geo = scene.geometry
        assert geo is not None
        self._geometry = geo
        self._scale = PersonScale(geo.height)
        names: list[str | None] = list(self.cfg.zones) or [None]
        self._zones = {}
        for name in names:
            poly = geo.zones[name].polygon if name is not None else None
            area = None
            if geo.ground is not None:
                full = Polygon([(0, 0), (geo.width, 0), (geo.width, geo.height), (0, geo.height)])
                area = ground_area_m2(poly if poly is not None else full, geo.ground.to_metres)
            self._zones[name] = _Zone(poly, area)
        if not self._warned and all(
            self.cfg.people_limit(n) is None and z.area_m2 is None for n, z in self._zones.items()
        ):
            self._warned = True
            warnings.warn(
                f"camera {self.context.camera}: excessive_density has no limit to apply: give "
                "the camera a ground calibration (for persons per m²) or set max_people",
                stacklevel=2,
            )

    def _limit(self, name: str | None, zone: _Zone) -> float | None:
        limits: list[float] = []
        people = self.cfg.people_limit(name)
        if people is not None:
            limits.append(float(people))
        if zone.area_m2 is not None:
            limits.append(self.cfg.max_density_m2 * zone.area_m2)
        return min(limits) if limits else None

    def update(self, scene: Scene) -> list[Signal]:
        if scene.image is None or scene.geometry is None:
            return []
        if scene.geometry is not self._geometry:
            self._setup(scene)
        assert self._scale is not None
        dets = scene.detections
        persons = dets.xyxy[dets.class_id == PERSON]
        self._scale.add(persons)
        mask, scale = self._foreground(scene, persons)
        foot = feet(persons)
        out: list[Signal] = []
        for name, zone in self._zones.items():
            inside = (
                scene.geometry.zones[name].contains(foot)
                if name is not None
                else np.ones(len(foot), dtype=bool)
            )
            occ: float | None = None
            if mask is not None and self._scale.fitted:
                if zone.mask is None or zone.mask_version != self._scale.version:
                    zone.mask = attribution_mask(zone.polygon, mask.shape, scale, self._scale)
                    zone.mask_version = self._scale.version
                weights = row_weights(self._scale, mask.shape[0], scale, self._fill)
                # People seen standing outside the zone are not part of its crowd, even where
                # their bodies overlap it in the picture.
                occ = occupancy(_without(mask, persons[~inside], scale), zone.mask, weights)
            sig = self._step(scene, name, zone, int(inside.sum()), occ, persons[inside])
            if sig is not None:
                out.append(sig)
        return out

    def _foreground(self, scene: Scene, persons: np.ndarray) -> tuple[np.ndarray | None, float]:
        """The foreground mask without detected vehicles (None while it is not usable), and
        its scale; learns the share of a person's box that foreground covers."""
        if self._fg is None or scene.image is None:
            return None, 1.0
        fg = self._fg.update(scene.image, scene.t, persons)
        if not fg.valid:
            return None, fg.scale
        dets = scene.detections
        mask = _without(fg.mask, dets.xyxy[np.isin(dets.class_id, list(VEHICLE_CLASSES))], fg.scale)
        share = fill_ratio(mask, persons, fg.scale)
        if share is not None:
            self._fill += 0.05 * (float(np.clip(share, 0.2, 0.9)) - self._fill)
        return mask, fg.scale

    def _combine(self, detected: float, occ: float | None, det_median: float) -> float:
        """The detected count, or the occupancy where it shows clearly more people (capped
        at `occlusion_factor` times the median detected count)."""
        if occ is None or occ <= detected * (1.0 + self.cfg.occupancy_margin):
            return detected
        return max(detected, min(occ, self.cfg.occlusion_factor * det_median))

    def _step(
        self,
        scene: Scene,
        name: str | None,
        zone: _Zone,
        detected: int,
        occ: float | None,
        boxes: np.ndarray,
    ) -> Signal | None:
        t = scene.t
        zone.history.append((t, detected, occ))
        while zone.history and zone.history[0][0] <= t - self.cfg.smoothing_s:
            zone.history.popleft()
        # Medians over the window, then combined; the occupancy's cap follows the median
        # detected count, which is steadier than one frame's.
        det_median = float(np.median([d for _, d, _ in zone.history]))
        occs = [o for _, _, o in zone.history if o is not None]
        smoothed = self._combine(det_median, float(np.median(occs)) if occs else None, det_median)
        estimate = self._combine(float(detected), occ, det_median)
        limit = self._limit(name, zone)
        density = smoothed / zone.area_m2 if zone.area_m2 else None
        self.readings[name] = DensityReading(detected, occ, estimate, smoothed, limit, density)
        if limit is None:
            return None
        if smoothed > limit:
            if zone.start is None:
                zone.start, zone.above_frames, zone.frames = t, 0, 0
                zone.signalled = zone.attached = False
            zone.last_above = t
        elif zone.start is not None and t - zone.last_above > self.cfg.grace_s:
            zone.start = None
        if zone.start is None:
            return None
        zone.frames += 1
        zone.above_frames += int(estimate > limit)
        # Raised while the zone is above the limit: a dip within `grace_s` keeps the clock
        # running but does not raise on its own.
        if zone.signalled or t - zone.start < self.cfg.min_duration_s or zone.last_above != t:
            return None
        cooling = self.cooling(name, t)
        if cooling and zone.attached:
            return None
        # Surer the further above the limit, the steadier, and the more of it is detections.
        margin = min(1.0, 0.5 + (smoothed / limit - 1.0))
        stability = zone.above_frames / max(zone.frames, 1)
        seen = min(1.0, det_median / max(smoothed, 1e-6))
        confidence = margin * (0.5 + 0.5 * stability) * (0.7 + 0.3 * seen)
        if len(boxes):
            where = list(boxes)
        elif zone.polygon is not None:
            where = [np.asarray(zone.polygon.bounds)]
        else:
            assert scene.geometry is not None
            where = [np.array([0.0, 0.0, scene.geometry.width, scene.geometry.height])]
        if cooling:
            # A new period above the limit during the cool-down of the previous signal.
            zone.attached = self.attach_if_cooling(scene, name, zone.start, where, confidence)
            return None
        zone.signalled = True
        return self.signal(scene, name, zone.start, where, confidence)


def _without(mask: np.ndarray, boxes: np.ndarray, scale: float) -> np.ndarray:
    """`mask` with the pixels of `boxes` (frame pixels) cleared."""
    if not len(boxes):
        return mask
    out = mask.copy()
    for x1, y1, x2, y2 in np.round(boxes * scale).astype(np.int64):
        out[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = False
    return out
