"""`zone_intrusion`: a person or vehicle enters or is present in a forbidden zone, or crosses a
line.

A zone is watched as a whole: an *episode* starts when something first stands in it and ends
when it has been empty for `grace_s`. One signal per episode, once the zone has been occupied for
`min_duration_s`, so a crowd walking across the tracks is one situation, not one per person, and
a track that changes id does not restart the clock.

Nothing that happens while the operator is already looking is dropped; each of these is a
further event attached to the signal's episode:

- an object that walks into the zone during an episode already signalled, once it has been in
  the zone for `min_duration_s` (an object first seen inside the zone is not counted, most are a
  track that changed id, unless it came into the picture there, at its border);
- a new episode (the zone had emptied) that reaches `min_duration_s` during the zone's
  cool-down; if it is still occupied when the cool-down ends, it is signalled as before;
- a crossing of a watched line during the line's cool-down.

Which object is which stays in this object's memory (to count each one once), never in an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from veilleur.config.situations import ZoneIntrusionConfig
from veilleur.scene.state import Scene, TrackState
from veilleur.situations.base import Situation, SituationContext, classes_of
from veilleur.types import Signal


@dataclass
class _Episode:
    start: float
    last_occupied: float
    signalled: bool = False
    attached: bool = False
    """Attached to the episode of an earlier signal (it began during its cool-down)."""
    key: str | None = None
    """Episode key further entries are attached to: its own signal's, or the earlier one's."""
    counted: set[int] = field(default_factory=set)
    """Objects already part of the episode (in memory only, to count each entry once)."""


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
            if ep.signalled or (ep.attached and self.cooling(zone, t)):
                self._entries(scene, zone, ep, members)
                continue
            if t - ep.start < self.cfg.min_duration_s:
                continue
            confidence = max(m.last.confidence for m in members)
            boxes = [m.box for m in members]
            if not ep.attached and self.attach_if_cooling(scene, zone, ep.start, boxes, confidence):
                ep.attached, ep.key = True, self.episode_of(zone)
                ep.counted |= {m.track_id for m in members}
                continue
            sig = self.signal(scene, zone, ep.start, boxes, confidence)
            ep.signalled = True
            ep.counted |= {m.track_id for m in members}
            if sig is not None:
                ep.key = sig.episode
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
            box, confidence = crossing.track.box, crossing.track.last.confidence
            if self.attach_if_cooling(scene, crossing.line, crossing.t, [box], confidence):
                continue
            sig = self.signal(scene, crossing.line, crossing.t, [box], confidence)
            if sig is not None:
                out.append(sig)
        return out

    def _entries(self, scene: Scene, zone: str, ep: _Episode, members: list[TrackState]) -> None:
        """Attach to the episode each object that walked into the zone since it began and has
        stayed `min_duration_s`."""
        for m in members:
            if m.track_id in ep.counted or scene.t - m.zones[zone] < self.cfg.min_duration_s:
                continue
            ep.counted.add(m.track_id)
            if ep.key is None or not (m.zones[zone] > m.first_t or _from_edge(scene, m)):
                continue  # first seen inside the zone: a track that changed id, most likely
            self.attach(scene, zone, ep.key, m.zones[zone], [m.box], m.last.confidence)


#: A box this close to the picture's border (share of its width or height) touches it.
EDGE_MARGIN = 0.03


def _from_edge(scene: Scene, st: TrackState) -> bool:
    """Whether the object came into the picture at its border (its first box touches it): an
    entry even where a zone reaches the border, where the object is first seen inside."""
    first = st.points[0]
    if first.t > st.first_t or scene.geometry is None:
        return False  # its first sighting is no longer in the short history
    w, h = scene.geometry.width, scene.geometry.height
    x1, y1, x2, y2 = (float(v) for v in first.box)
    mx, my = EDGE_MARGIN * w, EDGE_MARGIN * h
    return x1 <= mx or y1 <= my or x2 >= w - mx or y2 >= h - my
