"""The statistics mode over recorded files (SPEC §2), one file at a time.

`veilleur stats` plans the recordings on one timeline (`plan_recordings`: each file starts where
the previous one ends, by the durations the containers state, so no file needs decoding to place
the next), analyses each file on its own (`analyse_recording`, the unit a worker process or a Ray
task runs) into per-bucket tallies, and merges the tallies (`merge_results`): a bucket that spans
two files is the sum of what each counted. The result does not depend on which worker analysed
which file, nor in which order: serial, local processes and Ray give the same rows.

`StatsSettings` chooses how much of each recording is analysed. Its defaults are the camera's
own configuration (the full analysis); the lighter settings and what they cost in accuracy are
measured by bench/stats_speed.py (docs/modes.md).
"""

from __future__ import annotations

import resource
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import av
from pydantic import Field

from veilleur.config.common import Strict
from veilleur.config.model import SiteConfig
from veilleur.perception import factory
from veilleur.perception.detector import Detector, DetectorFactory, DetectorSpec
from veilleur.pipeline.camera import CameraPipeline
from veilleur.pipeline.prefetch import prefetch
from veilleur.scene.statistics import (
    BucketTally,
    StatisticRow,
    StatisticsAggregator,
    merge_tallies,
    statistics_site,
)
from veilleur.sources import open_source
from veilleur.types import Frame, Signal

#: File name endings taken as recordings when `veilleur stats` is given a folder.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".ts", ".mts", ".webm", ".flv", ".mpg")


class StatsSettings(Strict):
    """How much of each recording the statistics mode analyses. Empty fields keep the camera's
    configuration, which is the full analysis; every lighter choice trades accuracy of the
    counts for CPU (docs/modes.md gives the measured trade-off)."""

    analysis_fps: float | None = Field(
        default=None,
        gt=0,
        le=60,
        description="Frames analysed per second of video; empty uses the camera's "
        "analysis_fps. Entries and crossings need tracks, which break when frames are far "
        "apart: below the camera's rate counts drift (measured on PETS at 2.5 fps: 60 % more "
        "zone entries).",
    )
    input_size: int | None = Field(
        default=None,
        ge=128,
        multiple_of=32,
        description="Long side in pixels of the picture fed to the detector; empty uses the "
        "camera's perception.input_size (the model's default). Smaller is cheaper and misses "
        "small, distant persons.",
    )
    analysis_size: tuple[int, int] | None = Field(
        default=None,
        description="[width, height] the decoder's pictures are resized to (in the same pass "
        "as the colour conversion); empty uses the camera's analysis_size.",
    )
    decoder_threads: int = Field(
        default=1,
        ge=0,
        description="Decoder threads per recording. One costs the least CPU per frame; the "
        "parallelism of a batch comes from analysing several files at once (--workers, Ray). "
        "0 lets FFmpeg use every core (fastest wall time for a single file).",
    )
    skip_loop_filter: bool = Field(
        default=False,
        description="Let the H.264/H.265 decoder skip its deblocking filter: about a quarter "
        "less decoding CPU, slightly blockier pictures (the detections, hence the counts, may "
        "change a little). No effect on codecs without such a filter.",
    )
    detect_every: int | None = Field(
        default=None,
        ge=1,
        description="Run the detector on one analysed frame in N; the frames between get the "
        "tracks seen on both sides, interpolated (`CameraPipeline`'s `detect_every`); empty "
        "uses the camera's perception.detect_every.",
    )
    association: Literal["iou", "centre"] | None = Field(
        default=None,
        description="How detections are linked into tracks (tracking.association); empty "
        "keeps the configuration's. 'centre' holds walkers' tracks at lower analysis rates "
        "where 'iou' breaks them; with detect_every above 1 the tracker uses 'centre' anyway.",
    )


@dataclass(frozen=True)
class RecordingPlan:
    """One recording placed on the timeline of a run: it starts `offset_s` seconds after the
    first recording's start."""

    path: str
    offset_s: float
    duration_s: float


@dataclass
class RecordingResult:
    """What the analysis of one recording gives back: tallies (no row, no track, no image),
    plus what it cost."""

    path: str
    tallies: list[BucketTally]
    zone_areas: dict[str, float]
    frames: int
    duration_s: float
    cpu_s: float
    """CPU seconds (user + system, every thread) the analysis took, model loading excluded."""
    decoded: int = 0
    skipped_decodes: int = 0
    source_problems: list[str] = field(default_factory=list)


class StatsError(Exception):
    """A recording cannot be analysed (unreadable file, model missing): said plainly."""


def recordings_in(paths: list[Path]) -> list[Path]:
    """The recordings named: files as given, and a folder's video files sorted by name."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(
                q for q in p.iterdir() if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES
            )
        else:
            found.append(p)
    return found


def probe_duration(path: str) -> float:
    """Seconds of video in `path` as the container states it, else from its last packet (no
    decoding either way)."""
    try:
        container = av.open(path, "r", metadata_errors="replace")
    except Exception as exc:  # every failure is explained by the caller
        raise StatsError(f"{path}: cannot open: {exc}") from None
    try:
        if not container.streams.video:
            raise StatsError(f"{path}: no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / av.time_base
        # Neither says: the end of the last packet is the end of the video.
        end = 0.0
        tb = float(stream.time_base or 0)
        for packet in container.demux(stream):
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is not None:
                end = max(end, (stamp + (packet.duration or 0)) * tb)
        return end
    finally:
        container.close()


def plan_recordings(paths: list[str]) -> list[RecordingPlan]:
    """Place the recordings one after the other, each starting where the previous ends."""
    plans: list[RecordingPlan] = []
    offset = 0.0
    for p in paths:
        duration = probe_duration(p)
        plans.append(RecordingPlan(p, offset, duration))
        offset += duration
    return plans


_DETECTORS: dict[tuple[object, DetectorSpec], Detector] = {}


def _cached_build(spec: DetectorSpec) -> Detector:
    """Build each distinct detector once per process: a worker that analyses many short files
    loads its model once. Detectors keep no state between frames, so sharing one is safe.
    The key holds the builder too: a detector built by another builder (a test's, a plug-in's)
    is never handed out in its place."""
    build = factory.build_local
    detector = _DETECTORS.get((build, spec))
    if detector is None:
        detector = _DETECTORS[(build, spec)] = build(spec)
    return detector


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def stats_site(site: SiteConfig, camera: str, settings: StatsSettings) -> SiteConfig:
    """The site as the statistics mode analyses it: no situation, and `settings` applied."""
    quiet = statistics_site(site, camera)
    cam = quiet.cameras[camera]
    cam_update: dict[str, object] = {}
    if settings.analysis_fps is not None:
        cam_update["analysis_fps"] = settings.analysis_fps
    if settings.analysis_size is not None:
        cam_update["analysis_size"] = settings.analysis_size
    if settings.association is not None:
        tracking = quiet.tracking.model_copy(update={"association": settings.association})
        quiet = quiet.model_copy(update={"tracking": tracking})
    if settings.input_size is not None:
        perception = quiet.perception_for(camera).model_copy(
            update={"input_size": settings.input_size}
        )
        cam_update["perception"] = perception
    if not cam_update:
        return quiet
    cam = cam.model_copy(update=cam_update)
    return quiet.model_copy(update={"cameras": {**quiet.cameras, camera: cam}})


def analyse_recording(
    site: SiteConfig,
    camera: str,
    plan: RecordingPlan,
    origin: datetime,
    bucket_s: int,
    settings: StatsSettings | None = None,
    *,
    detector_factory: DetectorFactory | None = None,
    on_frame: Callable[[float], None] | None = None,
) -> RecordingResult:
    """Detection, tracking and the scene over one recording, counted per bucket of the run's
    timeline (`origin` + the recording's offset + the frame's time). `on_frame(t)` is called
    after each analysed frame (progress)."""
    settings = settings or StatsSettings()
    quiet = stats_site(site, camera, settings)
    cam = quiet.cameras[camera]
    options = {"skip_loop_filter": "all"} if settings.skip_loop_filter else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # Nothing is blurred here: no privacy cues (the same tracks, fewer boxes).
            pipeline = CameraPipeline(
                camera, quiet, detector_factory=detector_factory or _cached_build,
                privacy_cues=False, detect_every=settings.detect_every,
            )  # fmt: skip
        except Exception as exc:  # model missing or broken: say it plainly
            raise StatsError(f"cannot start the analysis: {exc}") from None
    began = _cpu_s()
    try:
        source = open_source(
            plan.path,
            analysis_fps=cam.analysis_fps,
            size=cam.analysis_size,
            threads=settings.decoder_threads,
            codec_options=options,
        )
    except Exception as exc:  # SourceError and friends: the file's own problem
        raise StatsError(f"{plan.path}: {exc}") from None
    aggregator = StatisticsAggregator(camera, cam, bucket_s)
    start = origin + timedelta(seconds=plan.offset_s)
    tallies: list[BucketTally] = []
    frames = 0

    def count(frame: Frame, _: list[Signal]) -> None:
        nonlocal frames, tallies
        tallies += aggregator.tally(pipeline.scene, start + timedelta(seconds=frame.t))
        frames += 1
        if on_frame is not None:
            on_frame(frame.t)

    try:
        # Decoding ahead on a second thread overlaps FFmpeg with the detector (both release
        # the GIL): the wall time of one file drops, its CPU time does not grow.
        for _ in pipeline.run(prefetch(source.frames()), on_frame=count):
            pass  # no situation runs here: no signal
        tallies += aggregator.flush_tally()
    finally:
        source.close()
    return RecordingResult(
        path=plan.path,
        tallies=tallies,
        zone_areas=aggregator.zone_areas(pipeline.scene),
        frames=frames,
        duration_s=plan.duration_s,
        cpu_s=_cpu_s() - began,
        decoded=getattr(source, "decoded_frames", 0),
        skipped_decodes=getattr(source, "skipped_decodes", 0),
        source_problems=[e.message for e in source.events if e.kind != "end_of_stream"],
    )


def merge_results(
    site: SiteConfig, camera: str, results: list[RecordingResult], bucket_s: int
) -> list[StatisticRow]:
    """The rows of a run: each bucket's tallies from every recording merged, oldest first."""
    cam = site.cameras[camera]
    aggregator = StatisticsAggregator(camera, cam, bucket_s)
    areas: dict[str, float] = {}
    for r in results:
        areas = areas or r.zone_areas
    rows: list[StatisticRow] = []
    for tally in merge_tallies([t for r in results for t in r.tallies]):
        rows += aggregator.rows(tally, None, areas)
    return rows
