"""`abandoned_object`: an object appears, stays still, and nobody stays near it.

Candidates come from two sources, merged when they overlap:

- *static foreground* (`perception.static_foreground`): a region that differs from the
  long-term background but has been learnt by the short-term one — something new that
  stopped. It finds the small dark bags a COCO detector misses;
- the detector's bag classes (backpack, handbag, suitcase): a confident bag box that stays in
  place is a candidate even where the background model sees nothing, and any bag box over a
  static region raises its confidence.

A candidate is rejected when it is

- a person: a still region where a standing, sitting or lying person was detected within
  `person_memory_s` (people are never objects, even when the detector loses them for a while),
  or too large for an object at that place (`max_size`, in heights of a person standing there,
  learnt from the persons seen: a person lying across the image is about one height);
- part of the scene: in an ignore zone (benches, bins, signs drawn at calibration), present
  since the background was learnt, a still vehicle, the *ghost* of something that left (its
  outline belongs to the background and it looks like the ground around it), or light and
  shadow (the ground's texture still shows through, or no outline of its own). Such regions
  are learnt into the background at once;
- attended: a person standing, sitting or walking slowly within `owner_distance` of it, or
  its carrier (someone beside it when it stopped or was first seen, for as long as someone
  stays there without a break, even moving about). Passers-by walking past do not attend it,
  otherwise a bag in a busy place would never be unattended. Who that person is never matters;
- brought by nobody: no person was beside it in the seconds before it appeared (ghosts of
  things that left, reflections, changes of light appear with nobody there).

A person's mark on the pixels that became still while they stood there is released once that
person is seen walking elsewhere: the bag they stood over is not them.

A signal is raised once per object, when it has been still and unattended for
`min_duration_s`; `start_s` is when it became unattended (set down by someone who walked on,
or left by someone who had stayed beside it). The box is the object's. The same place does not
signal again until nothing has been seen there for `cooldown_s`; another object left there
meanwhile (one that appeared after the signal) is a further event attached to that signal.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from veilleur.config.situations import AbandonedObjectConfig
from veilleur.perception.static_foreground import RegionCues, StaticForeground, StaticRegion
from veilleur.scene.state import Scene, TrackState
from veilleur.situations.base import Situation, SituationContext
from veilleur.types import PERSON, VEHICLE_CLASSES, Signal

#: COCO backpack, handbag, suitcase.
BAG_CLASSES: frozenset[int] = frozenset({24, 26, 28})

#: Confidence of a candidate seen by the background model alone.
STATIC_CONFIDENCE = 0.6


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box: 1 when one box lies inside the other."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(ix * iy / small) if small > 0 else 0.0


def _box_side(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


def _foot(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2.0, box[3]], dtype=np.float64)


class PersonHeight:
    """Height in pixels of a person standing at a given image row, learnt from the person boxes
    seen (a straight line in the foot's row fits a flat ground under perspective)."""

    def __init__(self, image_height: int, *, samples: int = 400, min_samples: int = 30) -> None:
        self.image_height = image_height
        self.min_samples = min_samples
        self._data: deque[tuple[float, float]] = deque(maxlen=samples)
        self._fit: tuple[float, float] | None = None
        self._new = 0

    def add(self, box: np.ndarray) -> None:
        h = float(box[3] - box[1])
        # Boxes cut by the image's bottom or top edge are not a whole person.
        if h <= 0 or box[1] <= 1 or box[3] >= self.image_height - 1:
            return
        self._data.append((float(box[3]), h))
        self._new += 1
        # Refit often while learning, then now and then: people do not change size.
        if self._new >= (10 if self._fit is None else 50):
            self._refit()

    def _refit(self) -> None:
        self._new = 0
        if len(self._data) < self.min_samples:
            return
        data = np.asarray(self._data)
        y, h = data[:, 0], data[:, 1]
        flat = (0.0, float(np.median(h)))
        lo, hi = np.quantile(y, [0.1, 0.9])
        if hi - lo < 0.1 * self.image_height:
            self._fit = flat  # people seen along one row only: no perspective to learn
            return
        keep = np.ones(len(y), dtype=bool)
        a, b = flat
        for _ in range(3):  # drop the worst tenth (partly hidden people, merged boxes) twice
            a, b = np.polyfit(y[keep], h[keep], 1)
            res = np.abs(h - (a * y + b))
            keep = res <= np.quantile(res, 0.9)
        # Nearer people (lower in the image) are never smaller on a ground-level view.
        self._fit = (float(a), float(b)) if a >= 0 else flat

    def at(self, foot_y: float) -> float | None:
        """Expected person height at this row, or None until enough persons were seen."""
        if self._fit is None:
            return None
        a, b = self._fit
        return float(np.clip(a * foot_y + b, 0.03 * self.image_height, 1.5 * self.image_height))


@dataclass(eq=False)
class _Candidate:
    box: np.ndarray
    """Pixels of the analysed frame."""
    appeared: float
    """Estimated time the object stopped there."""
    last_seen: float
    last_attended: float = -np.inf
    static: bool = False
    """Seen by the background model."""
    region: StaticRegion | None = None
    """Its static region in the latest frame, if any."""
    det_score: float = 0.0
    det_anchor: np.ndarray | None = None
    det_box: np.ndarray | None = None
    """Its latest confident bag box: tighter than a static region that took in its shadow or
    the ground disturbed around it."""
    """Centre of its bag box when first seen (a bag that moves is not still)."""
    done: bool = False
    """Signalled, or known to be part of the scene: never reported (again)."""
    outlined: bool = False
    """It has shown an outline of its own (see `_rejection`)."""
    near_since: dict[int, float] = field(default_factory=dict)
    """Track id → since when that person has stood near (ids stay in this memory only)."""
    edges: deque[float] = field(default_factory=lambda: deque(maxlen=AbandonedObject.CUE_FRAMES))
    surrounds: deque[float] = field(
        default_factory=lambda: deque(maxlen=AbandonedObject.CUE_FRAMES)
    )
    """`RegionCues.surround_contrast` of the latest clear frames."""
    lights: deque[bool] = field(default_factory=lambda: deque(maxlen=AbandonedObject.CUE_FRAMES))
    """Whether each of the latest frames looked like light or shadow on the ground."""
    carried_t: float = -np.inf
    """Last time someone was beside it without a break since it was first seen: its carrier,
    who attends it while staying within the owner distance even moving about (bending to set
    it down, shifting their weight), which the still-person rule misses."""
    first_seen: float = np.nan
    """When it was first seen as a candidate."""
    brought: bool = False
    """A person was beside it when it appeared: it was brought (or set down), not a ghost, a
    reflection or a change of light, which appear with nobody there."""
    reason: str = ""
    """Why it is not reported now (for debugging and tests)."""

    def __post_init__(self) -> None:
        if np.isnan(self.first_seen):
            self.first_seen = self.last_seen


@dataclass
class _Place:
    """Where an object was signalled, or was there since the scene was learnt."""

    box: np.ndarray
    last_present: float
    episode: str | None = None
    """Key of the signal raised for the place (None: there since the scene was learnt)."""
    signalled_t: float = 0.0


class AbandonedObject(Situation):
    id = "abandoned_object"
    known_limits = (
        "Abandoned object: reports something that appeared and stayed still with nobody "
        "standing near it; it does not know what the object is or who left it. Benches, bins, "
        "signs, puddles and reflections that appear or change, parked bicycles and things put "
        "down by staff can be reported; objects hidden by crowds, very small or of the same "
        "colour as the ground, and objects left where people keep standing, can be missed. A "
        "person lying still whom the detector does not see, seen end-on so that they look "
        "small, can be taken for an object. An object must come with someone: one set down "
        "where the detector saw nobody (a carrier too small or hidden) is not reported. Nothing "
        "is reported during the first seconds after start-up or after a large change of light."
    )
    required_classes = BAG_CLASSES

    def __init__(self, config: AbandonedObjectConfig, context: SituationContext) -> None:
        super().__init__(config, context)
        self.cfg = config
        self.fg = StaticForeground(
            work_width=config.work_width,
            threshold=config.diff_threshold,
            warmup_s=config.background_learn_s,
        )
        self.heights: PersonHeight | None = None
        self.candidates: list[_Candidate] = []
        self._places: list[_Place] = []
        self._ignore: np.ndarray | None = None
        self._person_t: np.ndarray | None = None
        self._person_id: np.ndarray | None = None
        self._marked_ids: set[int] = set()
        self._recent_persons: deque[tuple[float, np.ndarray]] = deque()
        self._resets = 0
        self._learning = True
        self._ready_t: float | None = None

    # ------------------------------------------------------------------ helpers

    def _setup(self, scene: Scene) -> None:
        assert scene.geometry is not None
        geo = scene.geometry
        missing = [z for z in self.cfg.ignore_zones if z not in geo.zones]
        if missing:
            raise ValueError(
                f"situations.abandoned_object.ignore_zones names {', '.join(missing)}, not a "
                f"zone of camera {self.context.camera}"
            )
        self.heights = PersonHeight(geo.height)
        shape = self.fg.work_shape
        assert shape is not None
        polys = [
            np.asarray(geo.zones[z].polygon.exterior.coords)[:, :2] for z in self.cfg.ignore_zones
        ]
        self._ignore = self.fg.work_mask(polys) if polys else None
        self._person_t = np.full(shape, -np.inf, dtype=np.float32)
        self._person_id = np.full(shape, -1, dtype=np.int64)

    def _size(self, box: np.ndarray, image_height: int) -> str:
        """ "too small", "too large", or "" for a box the size of an object at its place."""
        side = _box_side(box)
        assert self.heights is not None
        h = self.heights.at(float(box[3]))
        if h is None:
            lo, hi = self.cfg.min_size_image * image_height, self.cfg.max_size_image * image_height
        else:
            lo, hi = self.cfg.min_size * h, self.cfg.max_size * h
        return "too small" if side < lo else "too large" if side > hi else ""

    #: How long a still person must stay near an object to attend it, seconds.
    ATTEND_S = 2.0

    #: Stillness is judged over this window: a track's velocity over one second is too noisy
    #: (people walking towards the camera barely move in the image).
    STILL_WINDOW_S = 2.0

    def _still(self, st: TrackState) -> bool:
        """Whether the track stayed within `still_speed` × window of where it mostly was over
        the last window. Robust to the detector's glitches: a box whose feet are cut off for a
        frame keeps its top, one whose head is cut keeps its feet, and the odd jump is ignored
        (80th percentile)."""
        t = st.last_t
        recent = [p.box for p in st.points if p.t >= t - self.STILL_WINDOW_S]
        if not recent or t - st.points[-len(recent)].t < 0.75 * self.STILL_WINDOW_S:
            return False  # not seen long enough to know
        boxes = np.asarray(recent, dtype=np.float64)
        n = len(boxes)
        mid = n // 2  # medians by sorting: np.median costs ten times more on a few points
        h = float(np.sort(boxes[:, 3] - boxes[:, 1])[mid])
        if h <= 0:
            return False
        # Half the window each side of the typical position.
        limit = self.cfg.still_speed * self.STILL_WINDOW_S * h / 2.0
        cx = (boxes[:, 0] + boxes[:, 2]) / 2.0
        feet = np.stack([cx, boxes[:, 3]], axis=1)
        tops = np.stack([cx, boxes[:, 1]], axis=1)
        if min(np.hypot(*(feet[-1] - feet[0])), np.hypot(*(tops[-1] - tops[0]))) > 4 * limit:
            return False  # clearly walking (the common case)
        d_feet = np.hypot(*(feet - np.sort(feet, axis=0)[mid]).T)
        d_tops = np.hypot(*(tops - np.sort(tops, axis=0)[mid]).T)
        d = np.sort(np.minimum(d_feet, d_tops))
        return float(d[int(0.8 * (n - 1))]) <= limit

    def _remember_persons(self, still_persons: list[TrackState], t: float) -> None:
        """Mark where still persons are, in the pixels that became still while they were
        there: a person who stops in front of a bag left long before does not turn the bag
        into a person; a person whose track changes id stays a person."""
        assert self._person_t is not None and self._person_id is not None
        if self.fg.static_s is None:
            return  # the background is being learnt: whoever is there is part of the scene
        memory = t - self.cfg.person_memory_s
        for s in still_persons:
            x1, y1, x2, y2 = self.fg.to_work(s.box)
            age = t - s.first_t + self.fg.fast_tau_s
            mem = self._person_t[y1:y2, x1:x2]
            mark = (self.fg.static_s[y1:y2, x1:x2] <= age) | (mem >= memory)
            mem[mark] = t
            self._person_id[y1:y2, x1:x2][mark] = s.track_id
            self._marked_ids.add(s.track_id)

    def _release_persons(self, persons: list[TrackState]) -> None:
        """Forget the marks of a person now seen elsewhere: the still pixels they left behind
        are not them (an owner who stood by a bag, then walked off, leaves the bag). Marks of
        a person the detector lost stay for `person_memory_s`: they may still be there."""
        assert self._person_t is not None and self._person_id is not None
        for s in persons:
            if s.track_id not in self._marked_ids:
                continue
            mine = self._person_id == s.track_id
            # Beside their box by a margin: a still person's box jitters from frame to frame.
            bx1, by1, bx2, by2 = (float(v) for v in s.box)
            m = 0.25 * (by2 - by1)
            x1, y1, x2, y2 = self.fg.to_work(np.array([bx1 - m, by1 - m, bx2 + m, by2 + m]))
            mine[y1:y2, x1:x2] = False
            if mine.any():
                self._person_t[mine] = -np.inf
                self._person_id[mine] = -1
            if not (self._person_id == s.track_id).any():
                self._marked_ids.discard(s.track_id)

    def _near(self, scene: Scene, person: TrackState, box: np.ndarray) -> bool:
        """Whether the person stands within the owner distance of the object, feet to feet
        (a person walking in front of an object hides it without standing near it)."""
        return self._near_box(scene, person.box, box)

    def _near_box(self, scene: Scene, person_box: np.ndarray, box: np.ndarray) -> bool:
        """`_near` for a person's box (the feet are the middle of its bottom edge)."""
        ground = scene.geometry.ground if scene.geometry is not None else None
        a, b = _foot(person_box), _foot(box)
        if ground is not None:
            pa, pb = ground.to_metres(np.stack([a, b]))
            return float(np.linalg.norm(pa - pb)) <= self.cfg.owner_distance_m
        h = float(person_box[3] - person_box[1])
        return h > 0 and float(np.linalg.norm(a - b)) / h <= self.cfg.owner_distance

    def _carried_until(self, scene: Scene, box: np.ndarray, appeared: float) -> float:
        """When the person who set the object down walked out of reach, traced back through
        the people seen since it stopped; -inf when nobody was beside it then.

        The background model shows an object a few seconds after it stopped: someone who set
        it down and walked on in the meantime was never seen beside the candidate, and its
        unattended time started when it stopped, before they had left (held-aside footage:
        cups dropped by a passer-by, signalled 3 s before he walked on). Whoever is beside it
        when it stops, and anyone beside it after without a break of `CARRIER_GAP_S`, carries
        it, as in the first `ATTEND_S` after it is seen."""
        last = -np.inf
        for when, boxes in self._recent_persons:
            if when < appeared - self.CARRIER_GAP_S:
                continue
            if not any(self._near_box(scene, b, box) for b in boxes):
                continue
            if last == -np.inf and when > appeared + self.CARRIER_GAP_S:
                break  # the first one beside it came after it stopped: not who set it down
            if last != -np.inf and when - last > self.CARRIER_GAP_S:
                break
            last = when
        return last

    def _person_share(self, cand: _Candidate, t: float) -> float:
        """Share of the candidate's pixels under a still person seen recently."""
        assert self._person_t is not None
        x1, y1, x2, y2 = self.fg.to_work(cand.box)
        if x2 <= x1 or y2 <= y1:
            return 0.0
        recent = self._person_t[y1:y2, x1:x2] >= t - self.cfg.person_memory_s
        if cand.region is not None:
            sel = self.fg.labels[y1:y2, x1:x2] == cand.region.label
            if sel.any():
                return float(recent[sel].mean())
        return float(recent.mean())

    def _match(
        self, box: np.ndarray, previous: list[tuple[_Candidate, np.ndarray]] | None = None
    ) -> _Candidate | None:
        """The candidate whose box (in `previous`, else now) best overlaps `box`."""
        best, best_v = None, 0.0
        pairs = previous if previous is not None else [(c, c.box) for c in self.candidates]
        for c, b in pairs:
            iou = _iou(b, box)
            v = max(iou, _overlap(b, box) if iou > 0.05 else 0.0)
            if v > best_v:
                best, best_v = c, v
        return best if best_v >= 0.3 else None

    # ------------------------------------------------------------------- update

    def update(self, scene: Scene) -> list[Signal]:
        if scene.image is None or scene.geometry is None:
            return []
        t = scene.t
        regions = self.fg.update(scene.image, t, ignore=self._ignore)
        if self.heights is None:
            self._setup(scene)
        assert self.heights is not None and self._person_t is not None
        if self.fg.resets != self._resets:
            # The background is learnt again: whatever is there now is part of the scene.
            self._resets = self.fg.resets
            self.candidates = []
        if not self.fg.ready:
            self._ready_t = None
        elif self._ready_t is None:
            self._ready_t = t

        persons = [s for s in scene.visible if s.class_id == PERSON]
        still_persons = []
        for s in persons:
            if self._still(s):
                still_persons.append(s)
            else:  # walking people are upright; sitting ones are not
                self.heights.add(s.box)
        self._release_persons(persons)
        if persons:
            self._recent_persons.append((t, np.asarray([p.box for p in persons], np.float64)))
        while self._recent_persons and self._recent_persons[0][0] < t - self.BROUGHT_S:
            self._recent_persons.popleft()
        self._remember_persons(still_persons, t)
        still_vehicles = [
            s.box for s in scene.visible if s.class_id in VEHICLE_CLASSES and self._still(s)
        ]

        for c in self.candidates:
            c.region = None
        previous = [(c, c.box.copy()) for c in self.candidates]
        for r in regions:
            cand = self._match(r.box, previous)
            if cand is None and self._ready_t is not None and t - r.static_s <= self._ready_t + 0.5:
                # Still since the scene was learnt: there before, part of the scene (or the
                # ghost of someone who stood there while it was learnt).
                self.fg.absorb(r)
                continue
            if cand is None or cand.region is not None:
                # The short-term model took about its time constant to learn the object.
                appeared = t - r.static_s - self.fg.fast_tau_s
                new = _Candidate(box=r.box.copy(), appeared=appeared, last_seen=t)
                new.brought = self._brought(r.box)
                new.carried_t = self._carried_until(scene, r.box, appeared)
                new.last_attended = new.carried_t
                if cand is not None:
                    # A region that split (a person leaving the bag they stood by): each part
                    # keeps the history of the whole, who attended it included.
                    new.appeared = min(new.appeared, cand.appeared)
                    new.last_attended = cand.last_attended
                    new.near_since = dict(cand.near_since)
                    new.brought = new.brought or cand.brought
                    new.carried_t = cand.carried_t
                    new.first_seen = cand.first_seen
                cand = new
                self.candidates.append(cand)
            newer = t - r.typical_static_s - self.fg.fast_tau_s
            if newer > cand.appeared + self.REJOIN_S:
                # Most of it stopped well after the candidate was first seen: something new
                # joined or replaced it (a bag set down by a person who stood there).
                cand.appeared = newer
            cand.box = r.box.copy()
            cand.region = r
            cand.static = True
            cand.last_seen = t
        self._take_bags(scene)

        # A candidate not seen for a few seconds (taken away, or a detection that stopped) ends.
        self.candidates = [c for c in self.candidates if t - c.last_seen <= self.FORGET_S]
        for place in self._places:
            if any(_overlap(place.box, c.box) >= 0.3 for c in self.candidates):
                place.last_present = t
        self._places = [p for p in self._places if t - p.last_present <= self.cfg.cooldown_s]
        if not self.fg.ready:
            self._learning = True
            return []
        if self._learning:
            # Bags that stood still while the scene was learnt belong to it.
            self._learning = False
            for c in self.candidates:
                if t - c.appeared >= self.ATTEND_S:
                    c.done = True
                    self._places.append(_Place(c.box.copy(), t))

        out: list[Signal] = []
        for c in list(self.candidates):
            beside = [p for p in persons if self._near(scene, p, c.box)]
            if t - c.first_seen <= self.ATTEND_S:
                # Whoever is beside it when it is first seen (a few seconds after it stopped)
                # brought it ...
                if beside:
                    c.carried_t = t
            elif t - c.carried_t <= self.CARRIER_GAP_S and any(
                self._lingering(p, t) for p in beside
            ):
                # ... and attends it for as long as someone stays there without a break, even
                # moving about; a stream of passers-by walking past does not carry it on. No
                # track ids: they change when a person bends over a bag.
                c.carried_t = t
            near = {p.track_id for p in still_persons if self._near(scene, p, c.box)}
            c.near_since = {k: v for k, v in c.near_since.items() if k in near}
            for k in near:
                # A person attends the object once they have stayed by it for a moment: a
                # passer-by slowing down beside it does not.
                if t - c.near_since.setdefault(k, t) >= self.ATTEND_S:
                    c.last_attended = t
            if c.carried_t == t:
                c.last_attended = t
            if c.done:
                continue
            obj = self._object_box(c)
            seen = next(
                (
                    p
                    for p in self._places
                    if max(_overlap(p.box, c.box), _overlap(p.box, obj)) >= 0.3
                ),
                None,
            )
            if seen is not None and (seen.episode is None or c.appeared <= seen.signalled_t):
                # Signalled already, or there since the scene was learnt: one signal per place.
                c.done = True
                continue
            c.reason = self._rejection(scene, c, still_vehicles)
            if c.reason:
                continue
            since = max(c.appeared, c.last_attended)
            if t - since < self.cfg.min_duration_s:
                c.reason = "not long enough"
                continue
            zone = self._zone(scene, c.box)
            if zone == "":
                c.reason = "outside the watched zones"
                continue
            c.done = True
            static = STATIC_CONFIDENCE if c.static else 0.0
            confidence = 1.0 - (1.0 - static) * (1.0 - c.det_score)
            if seen is not None and seen.episode is not None:
                # Another object left at a place already signalled (it appeared after the
                # signal): a further event of that signal's episode, not a silent repeat.
                self.attach(scene, zone, seen.episode, since, [obj], confidence)
                continue
            sig = self.signal(scene, zone, since, [obj], confidence)
            episode = sig.episode if sig is not None else None
            self._places.append(_Place(c.box.copy(), t, episode, t))
            self._places.append(_Place(obj.copy(), t, episode, t))
            if sig is not None:
                out.append(sig)
        return out

    #: How far back a person beside a new candidate counts as having brought it, seconds: the
    #: short-term model takes `fast_tau_s` and the region `candidate_s` to show, after the
    #: object stopped; its carrier was beside it then.
    BROUGHT_S = 8.0

    #: A carrier out of sight or away from the object for longer than this has left it.
    CARRIER_GAP_S = 1.5

    def _lingering(self, person: TrackState, t: float) -> bool:
        """Whether someone stood about where this person's feet are a second ago (within a
        third of their height): a person staying on the spot, fidgeting or bending, but not one
        walking past (half a height a second or more)."""
        h = float(person.box[3] - person.box[1])
        foot = person.foot
        for when, boxes in self._recent_persons:
            if t - 1.5 <= when <= t - 0.5:
                feet = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, boxes[:, 3]], axis=1)
                if float(np.min(np.hypot(*(feet - foot).T))) <= h / 3.0:
                    return True
        return False

    def _brought(self, box: np.ndarray) -> bool:
        """Whether a person was beside `box` in the last `BROUGHT_S` (any person: who does not
        matter, only that the thing came with someone)."""
        for _, boxes in self._recent_persons:
            h = boxes[:, 3] - boxes[:, 1]
            m = 0.5 * h
            if np.any(
                (boxes[:, 0] - m < box[2])
                & (boxes[:, 2] + m > box[0])
                & (boxes[:, 1] - m < box[3])
                & (boxes[:, 3] + m > box[1])
            ):
                return True
        return False

    #: A region whose typical pixel stopped this much later than the candidate it continues
    #: restarts the candidate's clock (longer than people usually hide a bag in passing).
    REJOIN_S = 5.0

    #: A candidate unseen for this long is forgotten (the static count holds through people
    #: passing in front, so this only covers detections that flicker).
    FORGET_S = 3.0

    def _take_bags(self, scene: Scene) -> None:
        """Bag detections: support for the static regions they overlap, and candidates of
        their own when confident and still."""
        t = scene.t
        dets = scene.detections
        if not len(dets):
            return
        bags = dets[np.isin(dets.class_id, list(BAG_CLASSES))]
        for i in range(len(bags)):
            box = bags.xyxy[i].astype(np.float64)
            score = float(bags.confidence[i])
            centre = (box[:2] + box[2:]) / 2.0
            cand = self._match(box)
            if cand is None:
                if score < self.cfg.bag_confidence:
                    continue
                cand = _Candidate(box=box.copy(), appeared=t, last_seen=t)
                cand.brought = self._brought(box)
                self.candidates.append(cand)
            size = float(max(box[2] - box[0], box[3] - box[1]))
            if cand.det_anchor is None:
                cand.det_anchor = centre
            elif float(np.linalg.norm(centre - cand.det_anchor)) > 0.5 * size:
                # The bag moved: it is carried, the stillness clock restarts.
                cand.det_anchor = centre
                cand.appeared = t
                cand.last_attended = t
            cand.det_score = max(cand.det_score, score)
            if score >= self.cfg.bag_confidence:
                cand.det_box = box.copy()
            if cand.region is None:
                cand.box = box.copy()
            cand.last_seen = t

    def _zone(self, scene: Scene, box: np.ndarray) -> str | None:
        """The watched zone the object stands in; None when the whole image is watched, ""
        when it is outside every watched zone."""
        if not self.cfg.zones:
            return None
        assert scene.geometry is not None
        foot = _foot(box)[None]
        for z in self.cfg.zones:
            if scene.geometry.zones[z].contains(foot)[0]:
                return z
        return ""

    #: Cues are judged on the median of this many latest frames: people walking past a
    #: region change its outline for a frame or two.
    CUE_FRAMES = 5

    def _rejection(self, scene: Scene, c: _Candidate, still_vehicles: list[np.ndarray]) -> str:
        """Why the candidate is not an abandoned object now ("" if it may be one)."""
        t = scene.t
        edge = float(np.median(c.edges)) if c.edges else np.inf
        surround = float(np.median(c.surrounds)) if c.surrounds else 1.0
        # A person standing on or beside the region: part of its outline and colour are theirs
        # (the owner beside the bag they set down), so its cues say nothing of the object.
        touched = any(s.class_id == PERSON and _overlap(s.box, c.box) > 0 for s in scene.visible)
        if c.region is not None:
            cues = self.fg.cues(c.region)
            if cues.moving < 0.1 and not touched:  # nobody in front: the cues can be trusted
                c.edges.append(cues.edge_contrast)
                c.surrounds.append(cues.surround_contrast)
                c.lights.append(self._light(cues))
                edge = float(np.median(c.edges))
                surround = float(np.median(c.surrounds))
            supported = c.det_score >= self.cfg.bag_confidence
            # Learning a region into the background cannot be undone: only on a full window
            # of clear frames, and for light only when nearly all of them agree.
            if len(c.edges) >= self.CUE_FRAMES and not supported:
                if edge < 1.0 and surround < 1.0 and not c.outlined:
                    # Its outline is in the background model, not in the picture, and it now
                    # looks like the ground around it: the ghost of something that was there
                    # while the scene was learnt and has left. (The outline alone misleads on a
                    # patterned pavement, whose own edges outweigh a plain bag's.)
                    return self._drop(c, "ghost")
                if sum(c.lights) >= self.CUE_FRAMES - 1:
                    return self._drop(c, "light or shadow")
        elif c.det_score < self.cfg.bag_confidence:
            return "not seen now"
        assert scene.geometry is not None
        bagged = c.det_box is not None and c.det_score >= self.cfg.bag_confidence
        size = self._size(self._object_box(c), scene.geometry.height)
        if size:
            return size
        if (
            not bagged
            and c.region is not None
            and self._size(c.region.group_box, scene.geometry.height) == "too large"
        ):
            return "part of something larger"
        foot = _foot(c.box)[None]
        if any(scene.geometry.zones[z].contains(foot)[0] for z in self.cfg.ignore_zones):
            return "in an ignore zone"  # a bag box there: its pixels never count anyway
        if self._person_share(c, t) >= 0.3:
            return "a person"
        if any(_overlap(v, c.box) >= 0.5 for v in still_vehicles):
            return self._drop(c, "a vehicle")
        if (
            c.region is not None
            and len(c.edges) >= 3
            and (
                edge >= self.cfg.min_edge_contrast
                or (surround >= self.MIN_SURROUND and edge >= self.MIN_SURROUND_EDGE)
            )
        ):
            # Once it has shown an outline of its own it keeps it: a ghost or a shadow that
            # later merges with its region dilutes the outline without making it less real.
            c.outlined = True
        if not c.outlined and c.det_score < self.cfg.bag_confidence:
            return "no outline of its own"
        if not c.brought:
            # Nobody was there when it appeared: a ghost of something that left, a reflection,
            # a change of light; objects do not come on their own.
            return "nobody brought it"
        return ""

    #: A region whose colour stands this many times further from the ground around it than
    #: the background's did is something of its own, whatever its outline (a plain dark bag on
    #: a patterned pavement).
    MIN_SURROUND = 1.5

    #: ... provided its outline is not clearly weaker than the background's there (a ghost's
    #: outline is the background's: well under 1).
    MIN_SURROUND_EDGE = 0.75

    def _object_box(self, c: _Candidate) -> np.ndarray:
        """The object's box: the bag detector's when it sees one there (a static region also
        takes in the object's shadow and the ground its owner disturbed), else the region's."""
        if c.det_box is not None and c.det_score >= self.cfg.bag_confidence:
            return c.det_box
        return c.box

    #: Below this standard deviation (grey levels) the ground is too flat for its texture to
    #: tell light from an object.
    MIN_TEXTURE = 1.5

    def _light(self, cues: RegionCues) -> bool:
        """Whether a region looks like light or shadow on the ground rather than an object.

        Light multiplies the ground by a smooth factor (`ratio_detail` under 0.1 and most of
        the difference explained by a local gain, `unexplained` under 0.35) — but so does the
        inside of a large, plain object. On textured ground an object hides the texture: light
        is where the texture still shows through (correlation above `max_texture_match`, or
        above 0.3 with a smooth factor). On flat ground only the outline can tell: light has
        none of its own."""
        shading = cues.ratio_detail < 0.1 and cues.unexplained < 0.35
        if cues.background_texture >= self.MIN_TEXTURE:
            return cues.texture_match > self.cfg.max_texture_match or (
                shading and cues.texture_match > 0.3
            )
        return shading and cues.edge_contrast < self.cfg.min_edge_contrast

    def _drop(self, c: _Candidate, reason: str) -> str:
        """Forget a candidate that is part of the scene, learning its region into the
        background so that it does not come back."""
        if c.region is not None:
            self.fg.absorb(c.region)
        self.candidates.remove(c)
        return reason
