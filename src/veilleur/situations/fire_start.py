"""`fire_start`: flames or smoke appearing, seen in the image itself.

The cues live in `perception/fire.py`: flame-coloured regions that flicker irregularly in place
(not periodically, not all together, not going dark between flashes, not travelling), and grey,
semi-transparent smoke spreading over a textured background. No detector output is needed;
when the detector reports people and vehicles moving, what changes inside their boxes is not
counted as flicker or smoke (still ones are kept: a parked car can burn), and a flame region
lying mostly inside the box of any person, still or moving, seen in the last 5 s is skin or
clothing, not flames (a fire beside or in front of someone keeps most of its area outside).

A zone (or the whole image when none is configured) is watched as a whole: an *episode* starts
with the first confirmed fire region and ends when nothing fire-like has been seen for
`grace_s`. One signal per episode, once flames have lasted `min_duration_s` (or smoke alone
`smoke_min_duration_s`), with the union box of the fire regions seen then. A new episode
(after `grace_s` without fire) that would signal during the zone's cool-down is attached to the
previous signal as a further event; if it still burns when the cool-down ends, it is signalled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from veilleur.config.situations import FireStartConfig
from veilleur.perception.fire import FireRegion, FlameCue, FlameParams, SmokeCue
from veilleur.scene.state import Scene
from veilleur.situations.base import Situation, SituationContext
from veilleur.types import PERSON, VEHICLE_CLASSES, Signal

#: Moving things whose own changes explain flicker or a grey veil: people and vehicles.
_EXPLAINED = frozenset({PERSON, *VEHICLE_CLASSES})
#: A track moving at least this many of its own box heights per second counts as moving.
_MOVING_HEIGHTS_PER_S = 0.2
#: How long a person's box still vetoes flames after the detector last reported it (seconds).
_PEOPLE_MEMORY_S = 5.0


@dataclass
class _Episode:
    start: float
    last_seen: float
    signalled: bool = False
    attached: bool = False
    """Already attached to an earlier signal's episode as a further event."""


class FireStart(Situation):
    id = "fire_start"
    known_limits = (
        "Fire start: seen from the image alone, as flame-coloured light that flickers "
        "irregularly in place, or as grey smoke veiling a textured background. Flames smaller "
        "than about 1 % of the image width, flames hidden behind smoke or objects, and smoke "
        "against the open sky or a plain wall are missed; smoke is slower to signal than "
        "flames, and is not watched while the camera moves. A moving camera (hand-held, "
        "panning) is followed for flames, but a fast swing blurs the picture and can delay "
        "them. Warm light on people is vetoed inside the boxes of detected people: a fire held "
        "by or covering most of a person is missed, and skin or clothes the detector does not "
        "see as a person can still look like flames. Rotating beacons, flashing and strobe "
        "lights, lit and animated signs, lamps, rows of headlights and sunsets are rejected "
        "because they are periodic, go dark between flashes, change all together, repeat the "
        "same pictures, stay still or travel; a light source that flickers irregularly in "
        "place (a fire-effect lamp, a flag in warm light, a television's glow) can still look "
        "like flames."
    )

    def __init__(self, config: FireStartConfig, context: SituationContext) -> None:
        super().__init__(config, context)
        self.cfg = config
        flame = FlameParams(
            min_red=config.min_red,
            flicker_delta=config.flicker_delta,
            min_area=config.min_area,
            max_coherence=config.max_coherence,
            max_periodicity=config.max_periodicity,
            max_steadiness=config.max_steadiness,
            max_travel=config.max_travel,
        )
        self.flame = FlameCue(flame, config.work_width) if config.flames else None
        self.smoke = SmokeCue(work_width=config.work_width) if config.smoke else None
        self._episodes: dict[str | None, _Episode] = {}
        self._seen: dict[int, tuple[float, np.ndarray]] = {}  # person track → last seen, box
        self.regions: list[FireRegion] = []
        """The fire-like regions of the latest frame, confirmed or not (for display, tests)."""

    def _ignore(self, scene: Scene) -> np.ndarray | None:
        """Boxes of the people and vehicles moving now: their own motion explains flicker and
        grey changes there. Still ones are not excluded: a parked car on fire is still."""
        if not self.cfg.ignore_detected:
            return None
        boxes = [
            st.box
            for st in scene.visible
            if st.class_id in _EXPLAINED
            and st.speed >= _MOVING_HEIGHTS_PER_S * float(st.box[3] - st.box[1])
        ]
        return np.stack(boxes) if boxes else None

    def _people(self, scene: Scene) -> np.ndarray | None:
        """Boxes of every person seen in the last `_PEOPLE_MEMORY_S`, still or moving, a little
        wider than detected (hair, hands and loose clothes stick out of tight boxes). People do
        not vanish: a seated person the detector misses for a few frames is still there."""
        if not self.cfg.ignore_detected:
            return None
        t = scene.t
        if self.flame is not None and self.flame.camera_moved:
            self._seen = {}  # boxes remembered from a moving picture are no longer where they were
        for st in scene.visible:
            if st.class_id == PERSON:
                self._seen[st.track_id] = (t, np.asarray(st.box, dtype=np.float64))
        self._seen = {k: v for k, v in self._seen.items() if t - v[0] <= _PEOPLE_MEMORY_S}
        if not self._seen:
            return None
        b = np.stack([box for _, box in self._seen.values()])
        pad = 0.1 * (b[:, 2] - b[:, 0])
        return np.stack([b[:, 0] - pad, b[:, 1] - pad, b[:, 2] + pad, b[:, 3]], axis=1)

    def _ready(self, region: FireRegion, t: float) -> bool:
        need = self.cfg.min_duration_s if region.kind == "flame" else self.cfg.smoke_min_duration_s
        return region.confirmed and t - region.first_t >= need

    def update(self, scene: Scene) -> list[Signal]:
        if scene.image is None:
            return []
        t = scene.t
        ignore = self._ignore(scene)
        regions: list[FireRegion] = []
        if self.flame is not None:
            regions += self.flame.update(scene.image, t, ignore, self._people(scene))
        if self.smoke is not None:
            regions += self.smoke.update(scene.image, t, ignore)
        self.regions = regions
        fires = [r for r in regions if self._ready(r, t)]
        out: list[Signal] = []
        zones: list[str | None] = [*self.cfg.zones] or [None]
        for zone in zones:
            inside = self._in_zone(scene, zone, fires)
            ep = self._episodes.get(zone)
            if not inside:
                if ep is not None and t - ep.last_seen > self.cfg.grace_s:
                    del self._episodes[zone]
                continue
            if ep is None:
                ep = _Episode(start=min(r.first_t for r in inside), last_seen=t)
                self._episodes[zone] = ep
            ep.last_seen = t
            if ep.signalled:
                continue
            confidence = max(r.confidence for r in inside)
            boxes = [r.box for r in inside]
            if self.cooling(zone, t):
                if not ep.attached:
                    ep.attached = self.attach_if_cooling(scene, zone, ep.start, boxes, confidence)
                continue
            ep.signalled = True
            sig = self.signal(scene, zone, ep.start, boxes, confidence)
            if sig is not None:
                out.append(sig)
        return out

    @staticmethod
    def _in_zone(scene: Scene, zone: str | None, fires: list[FireRegion]) -> list[FireRegion]:
        """The fire regions whose box centre is in `zone` (all of them for the whole image)."""
        if zone is None or not fires:
            return fires
        assert scene.geometry is not None
        centres = np.array([[(r.box[0] + r.box[2]) / 2, (r.box[1] + r.box[3]) / 2] for r in fires])
        inside = scene.geometry.zones[zone].contains(centres)
        return [r for r, ok in zip(fires, inside, strict=True) if ok]
