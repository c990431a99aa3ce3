"""Anonymous aggregates of a scene per time bucket: the statistics mode (SPEC §2).

Per bucket and per camera: entries into each zone, crossings of each line in each direction,
the mean and largest number of persons present (per zone and in the whole picture) and, on a
calibrated camera, the mean density of persons per square metre of each zone.

Track ids are used here only to tell an entry from a person already inside; they never leave
this object: its output is plain rows of counts, with no id, position or box.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from shapely.geometry import Polygon

from veilleur.config.model import CameraConfig, SiteConfig, SituationsConfig
from veilleur.scene.state import Scene
from veilleur.types import PERSON

#: Bucket length of the live statistics mode.
DEFAULT_BUCKET_S = 60

#: Line crossings by side moved onto: walking from a line's first point to its second,
#: 'forward' is crossing onto the right-hand side, 'backward' onto the left-hand side.
DIRECTIONS = {"right": "forward", "left": "backward"}

#: The columns of a statistics row, in the order of CSV and Parquet exports.
COLUMNS = ("camera", "bucket_start", "bucket_s", "metric", "subject", "direction", "value")


@dataclass(frozen=True, slots=True)
class StatisticRow:
    """One aggregate: a count, occupancy or density of a camera's zone, line or whole picture
    over one bucket. `subject` is '' for the whole picture."""

    camera: str
    bucket_start: datetime
    bucket_s: int
    metric: str
    subject: str
    direction: str
    value: float

    def as_dict(self) -> dict[str, object]:
        return {
            "camera": self.camera,
            "bucket_start": self.bucket_start,
            "bucket_s": self.bucket_s,
            "metric": self.metric,
            "subject": self.subject,
            "direction": self.direction,
            "value": self.value,
        }


def statistics_site(site: SiteConfig, camera: str) -> SiteConfig:
    """The site with every situation of `camera` switched off: the statistics mode analyses
    persons and their movements, and recognises no situation (nor loads a model for one)."""
    cam = site.cameras[camera].model_copy(update={"situations": SituationsConfig()})
    return site.model_copy(update={"cameras": {**site.cameras, camera: cam}})


def bucket_of(at: datetime, bucket_s: int) -> datetime:
    """Start of the bucket holding `at` (buckets are aligned on the Unix epoch, in UTC)."""
    ts = at.timestamp()
    return datetime.fromtimestamp(math.floor(ts / bucket_s) * bucket_s, UTC)


@dataclass
class BucketTally:
    """What one bucket has counted so far: sums and maxima, so that tallies of the same bucket
    made by different analyses (consecutive recordings analysed apart, on several workers) merge
    into the tally one analysis would have made."""

    start: datetime
    frames: int = 0
    entries: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    crossings: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    present_sum: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    present_max: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def merge(self, other: BucketTally) -> None:
        """Add `other`, a tally of the same bucket, to this one."""
        if other.start != self.start:
            raise ValueError(f"cannot merge bucket {other.start} into bucket {self.start}")
        self.frames += other.frames
        for z, n in other.entries.items():
            self.entries[z] += n
        for key, n in other.crossings.items():
            self.crossings[key] += n
        for subject, n in other.present_sum.items():
            self.present_sum[subject] += n
        for subject, n in other.present_max.items():
            self.present_max[subject] = max(self.present_max[subject], n)


def merge_tallies(tallies: list[BucketTally]) -> list[BucketTally]:
    """Tallies of the same bucket merged into one, oldest bucket first; the inputs are left
    unchanged."""
    merged: dict[datetime, BucketTally] = {}
    for t in tallies:
        into = merged.get(t.start)
        if into is None:
            into = merged[t.start] = BucketTally(t.start)
        into.merge(t)
    return [merged[k] for k in sorted(merged)]


class StatisticsAggregator:
    """Feeds on a camera's `Scene` after each analysed frame; hands back closed buckets.

    `update(scene, at)` takes the scene of a frame analysed at `at` (aware UTC; the wall time
    live, the recording's start plus the frame's time offline) and returns the rows of the
    buckets that this frame closed; `flush()` returns the rows of the bucket in progress.
    Only persons are counted, and only confirmed tracks (seen on `min_hits` frames).
    """

    def __init__(self, camera: str, config: CameraConfig, bucket_s: int = DEFAULT_BUCKET_S):
        if bucket_s < 1:
            raise ValueError(f"bucket_s must be at least 1 second, got {bucket_s}")
        self.camera = camera
        self.config = config
        self.bucket_s = int(bucket_s)
        self.zones = sorted(config.zones)
        self.lines = sorted(config.lines)
        self._bucket: BucketTally | None = None
        self._inside: dict[int, set[str]] = {}  # track → zones it was in at the previous frame
        self._areas: dict[str, float] | None = None

    def _zone_areas(self, scene: Scene) -> dict[str, float]:
        """Ground area of each zone in m² on a calibrated camera, else empty."""
        if self._areas is None:
            geo = scene.geometry
            areas: dict[str, float] = {}
            if geo is not None and geo.ground is not None:
                for name, zone in geo.zones.items():
                    pts = np.asarray(zone.polygon.exterior.coords)
                    area = Polygon(geo.ground.to_metres(pts)).area
                    if area > 0 and math.isfinite(area):
                        areas[name] = float(area)
            self._areas = areas
        return self._areas

    def update(self, scene: Scene, at: datetime) -> list[StatisticRow]:
        closed = self.tally(scene, at)
        return self.rows(closed[0], scene) if closed else []

    def tally(self, scene: Scene, at: datetime) -> list[BucketTally]:
        """Count the frame analysed at `at`; returns the tally of the bucket it closed, if any
        (what `update` turns into rows)."""
        if at.tzinfo is None:
            raise ValueError("`at` must be an aware (UTC) datetime")
        start = bucket_of(at, self.bucket_s)
        closed: list[BucketTally] = []
        if self._bucket is not None and self._bucket.start != start:
            closed = [self._bucket]
            self._bucket = None
        if self._bucket is None:
            self._bucket = BucketTally(start)
        b = self._bucket
        b.frames += 1
        persons = [s for s in scene.visible if s.class_id == PERSON]
        inside_now: dict[int, set[str]] = {}
        for st in persons:
            # `zones` keeps a zone through a short exit (the scene's grace): no double entry
            # for a person stepping along an edge.
            zones = {z for z in st.zones if z in self.config.zones}
            inside_now[st.track_id] = zones
            for z in zones - self._inside.get(st.track_id, set()):
                b.entries[z] += 1
        # Tracks still known to the scene but not seen on this frame keep their zones.
        self._inside = {
            tid: zones
            for tid, zones in {**self._inside, **inside_now}.items()
            if tid in scene.tracks
        }
        for c in scene.crossings:
            if c.track.class_id == PERSON and c.line in self.config.lines:
                b.crossings[(c.line, DIRECTIONS[c.side])] += 1
        counts = {"": len(persons)}
        for z in self.zones:
            counts[z] = sum(1 for st in persons if z in st.inside)
        for subject, n in counts.items():
            b.present_sum[subject] += n
            b.present_max[subject] = max(b.present_max[subject], n)
        return closed

    def new_scene(self) -> None:
        """A new recording (a new tracker) starts: forget which track was in which zone, as
        its ids start afresh; the bucket in progress goes on."""
        self._inside = {}

    def flush(self, scene: Scene | None = None) -> list[StatisticRow]:
        """Rows of the bucket in progress (a partial bucket), which is then forgotten."""
        partial = self.flush_tally()
        return self.rows(partial[0], scene) if partial else []

    def flush_tally(self) -> list[BucketTally]:
        """The tally of the bucket in progress, if any, which is then forgotten."""
        if self._bucket is None:
            return []
        b, self._bucket = self._bucket, None
        return [b]

    def zone_areas(self, scene: Scene | None) -> dict[str, float]:
        """Ground area in m² of each zone (empty on an uncalibrated camera); known once a
        scene has been seen."""
        return self._zone_areas(scene) if scene is not None else dict(self._areas or {})

    def rows(
        self, b: BucketTally, scene: Scene | None, areas: dict[str, float] | None = None
    ) -> list[StatisticRow]:
        """The rows of a bucket's tally; densities use `areas` when given, else the zones'
        areas measured on `scene`."""
        if b.frames == 0:
            return []
        if areas is None:
            areas = self.zone_areas(scene)

        def row(metric: str, subject: str, value: float, direction: str = "") -> StatisticRow:
            return StatisticRow(
                self.camera, b.start, self.bucket_s, metric, subject, direction, float(value)
            )

        out = [row("occupancy_mean", "", b.present_sum[""] / b.frames)]
        out.append(row("occupancy_max", "", b.present_max[""]))
        for z in self.zones:
            mean = b.present_sum[z] / b.frames
            out.append(row("zone_entries", z, b.entries[z]))
            out.append(row("occupancy_mean", z, mean))
            out.append(row("occupancy_max", z, b.present_max[z]))
            if z in areas:
                out.append(row("density", z, mean / areas[z]))
        for ln in self.lines:
            for direction in ("forward", "backward"):
                out.append(row("line_crossings", ln, b.crossings[(ln, direction)], direction))
        return out


def frame_time(origin: datetime, t: float) -> datetime:
    """The wall time of a recording's frame at `t` seconds from its start `origin`."""
    return origin + timedelta(seconds=float(t))
