"""`zone_intrusion`: a person or vehicle enters or is present in a forbidden zone, or crosses a
line.

A zone is watched as a whole: an *episode* starts when something first stands in it and ends
when it has been empty for `grace_s`. One signal per episode, once the zone has been occupied for
`min_duration_s`, so a crowd walking across the tracks is one situation, not one per person, and
a track that changes id does not restart the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from veilleur.config.situations import ZoneIntrusionConfig
from veilleur.scene.state import Scene
from veilleur.situations.base import Situation, SituationContext, classes_of
from veilleur.types import Signal


@dataclass
class _Episode:
    start: float
    last_occupied: float
    signalled: bool = False


class ZoneIntrusion(Situation):
    id = "zone_intrusion"
    known_limits = (
        "Zone intrusion: judged on where an object's box touches the ground, so a person "
        "standing just outside the zone edge can be counted inside where perspective is steep; "
        "reflections, shadows and partly hidden people can be missed or misplaced. Nobody is "
        "told apart: a signal says that the zone was occupied, not by whom."
    )

    def __init__(self, config: ZoneIntrusionConfig, context: SituationContext) -> None:
        super().__init__(config, context)
        self.cfg = config
        self.classes = classes_of(list(config.classes))
        self._episodes: dict[str, _Episode] = {}

    def update(self, scene: Scene) -> list[Signal]:
        t = scene.t
        out: list[Signal] = []
        for zone in self.cfg.zones:
            members = scene.members(zone, self.classes)
            ep = self._episodes.get(zone)
            if not members:
                if ep is not None and t - ep.last_occupied > self.cfg.grace_s:
                    del self._episodes[zone]
                continue
            if ep is None:
                # The episode began when the earliest present object entered the zone.
                ep = _Episode(start=min(m.zones[zone] for m in members), last_occupied=t)
                self._episodes[zone] = ep
            ep.last_occupied = t
            if ep.signalled or t - ep.start < self.cfg.min_duration_s:
                continue
            if self.cooling(zone, t):
                continue
            confidence = max(m.last.confidence for m in members)
            sig = self.signal(scene, zone, ep.start, [m.box for m in members], confidence)
            ep.signalled = True
            if sig is not None:
                out.append(sig)

        for crossing in scene.crossings:
            if crossing.line not in self.cfg.lines:
                continue
            if crossing.track.class_id not in self.classes:
                continue
            assert scene.geometry is not None
            forbidden = scene.geometry.lines[crossing.line].forbidden_side
            if forbidden != "both" and crossing.side != forbidden:
                continue
            if self.cooling(crossing.line, t):
                continue
            sig = self.signal(
                scene,
                crossing.line,
                crossing.t,
                [crossing.track.box],
                crossing.track.last.confidence,
            )
            if sig is not None:
                out.append(sig)
        return out
