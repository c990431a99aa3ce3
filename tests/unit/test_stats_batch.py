"""`veilleur stats` split into recordings: tallies that merge into the run's rows, recordings
placed end to end without decoding, low-rate decoding at the right times, the typed settings
and the CLI's refusals. Offline: generated clips and a detector that finds a white square."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from veilleur.config import parse_config
from veilleur.config.model import CameraConfig, SiteConfig
from veilleur.perception.detector import Detector, DetectorSpec
from veilleur.pipeline.statistics import (
    RecordingPlan,
    StatsSettings,
    analyse_recording,
    merge_results,
    plan_recordings,
    recordings_in,
    stats_site,
)
from veilleur.scene import Scene
from veilleur.scene.statistics import BucketTally, StatisticsAggregator, merge_tallies
from veilleur.sources import PyAVSource
from veilleur.types import PERSON, Detections, Frame

T0 = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
W, H = 160, 96


def write_clip(path: Path, *, fps: int = 10, n: int = 30, codec: str = "libx264") -> Path:
    """A white 16×32 'person' walking left to right over a grey picture."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(n):
            img = np.full((H, W, 3), 90, np.uint8)
            x = 4 + (i * 4) % (W - 24)
            img[40:72, x : x + 16] = 255
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


class SquareDetector:
    """Finds the white square: one person box per picture, whatever its size."""

    name = "square"

    def detect(self, image: np.ndarray) -> Detections:
        ys, xs = np.nonzero(image.min(axis=2) > 200)
        if len(xs) == 0:
            return Detections.empty()
        box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
        return Detections(
            xyxy=np.array(box, np.float32), confidence=np.array([0.9]), class_id=np.array([PERSON])
        )


def square_factory(spec: DetectorSpec) -> Detector:
    return SquareDetector()  # type: ignore[return-value]


def site_yaml(tmp_path: Path) -> Path:
    cfg = tmp_path / "cam.yaml"
    cfg.write_text(
        "source: x.mp4\nanalysis_fps: 5\n"
        "zones:\n  right: {polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}\n"
        "lines:\n  middle: {points: [[0.5, 0], [0.5, 1]]}\n"
    )
    return cfg


def site() -> SiteConfig:
    return parse_config({"cameras": {"cam": {
        "source": "x.mp4", "analysis_fps": 5,
        "zones": {"right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
        "lines": {"middle": {"points": [[0.5, 0], [0.5, 1]]}},
    }}})  # fmt: skip


# ------------------------------------------------------------------ tallies


def _scene_frames(cfg: CameraConfig, xs: list[int], t0: float, scene: Scene) -> Iterator[Scene]:
    """The scene after each frame of one person walking at foot x = `xs` (pixels)."""
    for i, x in enumerate(xs):
        dets = Detections(
            xyxy=np.array([[x - 5, 60, x + 5, 90]], np.float32),
            confidence=np.array([0.9]),
            class_id=np.array([PERSON]),
            track_id=np.array([1], np.int64),
        )
        scene.update(Frame(np.zeros((100, 200, 3), np.uint8), t0 + i / 5, i), dets)
        yield scene


def test_tallies_of_two_recordings_merge_into_the_rows_of_one_run() -> None:
    cfg = CameraConfig.model_validate({
        "source": "x.mp4",
        "zones": {"right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
        "lines": {"gate": {"points": [[0.25, 0], [0.25, 1]]}},
    })  # fmt: skip
    first = [30, 70, 120, 150, 150, 150, 150, 150]  # crosses the gate, enters the right half
    second = [150, 150, 40, 20, 20, 20, 120, 130]  # seen there again, leaves, comes back
    # One process over both recordings (a new tracker for the second: new_scene()).
    one = StatisticsAggregator("cam", cfg, bucket_s=2)
    rows = []
    scene = Scene("cam", cfg, min_hits=1)
    for i, s in enumerate(_scene_frames(cfg, first, 0.0, scene)):
        rows += one.update(s, T0 + timedelta(seconds=i / 5))
    one.new_scene()
    scene2 = Scene("cam", cfg, min_hits=1)
    for i, s in enumerate(_scene_frames(cfg, second, 0.0, scene2)):
        rows += one.update(s, T0 + timedelta(seconds=1.6 + i / 5))
    rows += one.flush(scene2)
    # Each recording on its own (two workers), tallies merged.
    tallies: list[BucketTally] = []
    for xs, offset in ((first, 0.0), (second, 1.6)):
        agg = StatisticsAggregator("cam", cfg, bucket_s=2)
        sc = Scene("cam", cfg, min_hits=1)
        for i, s in enumerate(_scene_frames(cfg, xs, 0.0, sc)):
            tallies += agg.tally(s, T0 + timedelta(seconds=offset + i / 5))
        tallies += agg.flush_tally()
    # The bucket [0 s, 2 s) was counted by both recordings.
    assert sorted(t.start for t in tallies).count(T0 + timedelta(seconds=0)) == 2
    merged = merge_tallies(list(reversed(tallies)))
    rows2 = [r for t in merged for r in one.rows(t, None, {})]
    assert rows2 == rows
    entries = sum(r.value for r in rows if r.metric == "zone_entries")
    crossings = sum(r.value for r in rows if r.metric == "line_crossings")
    assert entries == 3 and crossings >= 2


def test_merge_keeps_its_inputs_and_refuses_other_buckets() -> None:
    a = BucketTally(T0, frames=2)
    a.entries["z"] += 1
    a.present_max[""] = 3
    b = BucketTally(T0, frames=1)
    b.entries["z"] += 2
    b.present_max[""] = 1
    (m,) = merge_tallies([a, b])
    assert (m.frames, m.entries["z"], m.present_max[""]) == (3, 3, 3)
    assert (a.frames, a.entries["z"]) == (2, 1)
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(BucketTally(T0 + timedelta(seconds=60)))


# ------------------------------------------------------------- recordings


def test_a_folder_gives_its_videos_in_name_order(tmp_path: Path) -> None:
    for name in ("b.mp4", "a.AVI", "notes.txt", "c.mkv"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    other = tmp_path / "z.mov"
    found = recordings_in([tmp_path, other])
    assert [p.name for p in found] == ["a.AVI", "b.mp4", "c.mkv", "z.mov"]


def test_recordings_are_placed_end_to_end_by_their_stated_durations(tmp_path: Path) -> None:
    a = write_clip(tmp_path / "a.mp4", n=20)
    b = write_clip(tmp_path / "b.mp4", n=35)
    plans = plan_recordings([str(a), str(b)])
    assert [p.offset_s for p in plans] == [0.0, plans[0].duration_s]
    assert plans[0].duration_s == pytest.approx(2.0, abs=0.11)
    assert plans[1].duration_s == pytest.approx(3.5, abs=0.11)


def test_low_rate_decoding_keeps_the_stream_times(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", n=30)
    for options in (None, {"skip_loop_filter": "all"}):
        with PyAVSource(str(clip), analysis_fps=2, threads=1, codec_options=options) as src:
            frames = list(src.frames())
            # Every picture is counted, decoded or not, so indexes and times stay the stream's.
            assert src.decoded_frames == 30
        assert [f.t for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
        assert [f.index for f in frames] == [0, 5, 10, 15, 20, 25]


def test_one_recording_counted_on_the_run_timeline(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", n=40)  # 4 s: the square crosses the middle once
    plan = RecordingPlan(str(clip), offset_s=58.0, duration_s=4.0)
    result = analyse_recording(
        site(), "cam", plan, T0, 60, StatsSettings(), detector_factory=square_factory
    )
    assert result.frames == 20  # 5 fps over 4 s
    assert result.cpu_s > 0
    starts = sorted({t.start for t in result.tallies})
    # 58 s after T0 the first bucket is T0's, the next starts at T0 + 60 s.
    assert starts == [T0, T0 + timedelta(seconds=60)]
    rows = merge_results(site(), "cam", [result], 60)
    assert sum(r.value for r in rows if r.metric == "line_crossings") == 1
    assert sum(r.value for r in rows if r.metric == "zone_entries") == 1
    # At 2.5 fps the same recording gives half the frames, on the same timeline.
    half = analyse_recording(
        site(), "cam", plan, T0, 60, StatsSettings(analysis_fps=2.5),
        detector_factory=square_factory,
    )  # fmt: skip
    assert half.frames == 10


def test_detecting_every_other_frame_counts_the_same_crossing(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", n=40)
    plan = RecordingPlan(str(clip), offset_s=0.0, duration_s=4.0)
    calls = 0

    def counting(spec: DetectorSpec) -> Detector:
        class Counting(SquareDetector):
            def detect(self, image: np.ndarray) -> Detections:
                nonlocal calls
                calls += 1
                return super().detect(image)

        return Counting()  # type: ignore[return-value]

    bridged = analyse_recording(
        site(), "cam", plan, T0, 60, StatsSettings(detect_every=2), detector_factory=counting
    )
    assert bridged.frames == 20  # every analysed frame is still counted
    assert calls <= 10  # on frames 0, 2, ... 18 at most (motion gating may skip one)
    rows = merge_results(site(), "cam", [bridged], 60)
    assert sum(r.value for r in rows if r.metric == "line_crossings") == 1
    assert sum(r.value for r in rows if r.metric == "zone_entries") == 1


# ---------------------------------------------------------------- settings


def test_settings_are_typed_and_apply_to_the_camera() -> None:
    with pytest.raises(ValidationError):
        StatsSettings(input_size=300)  # not a multiple of 32
    with pytest.raises(ValidationError):
        StatsSettings.model_validate({"fps": 2})  # unknown key
    for name, field in StatsSettings.model_fields.items():
        assert field.description, name
    s = stats_site(site(), "cam", StatsSettings(analysis_fps=2, input_size=256))
    cam = s.cameras["cam"]
    assert cam.analysis_fps == 2
    assert s.perception_for("cam").input_size == 256
    assert not any(sit.enabled for _, sit in cam.situations.items())
    # Defaults change nothing but the situations.
    same = stats_site(site(), "cam", StatsSettings())
    assert same.cameras["cam"].analysis_fps == 5
    assert same.tracking.association == "iou"
    centre = stats_site(site(), "cam", StatsSettings(association="centre"))
    assert centre.tracking.association == "centre"
    with pytest.raises(ValidationError):
        StatsSettings.model_validate({"association": "nearest"})
    with pytest.raises(ValidationError):
        StatsSettings(detect_every=0)


def test_cli_refuses_bad_settings_and_two_executors(tmp_path: Path) -> None:
    from veilleur.cli import app

    cfg = site_yaml(tmp_path)
    clip = write_clip(tmp_path / "a.mp4", n=5)
    base = ["stats", str(clip), "-c", str(cfg), "-o", str(tmp_path / "out"), "--no-progress"]
    r = CliRunner().invoke(app, [*base, "--input-size", "300"])
    assert r.exit_code == 2 and "multiple of 32" in r.output
    r = CliRunner().invoke(app, [*base, "--workers", "2", "--ray", "auto"])
    assert r.exit_code == 2 and "not both" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(app, ["stats", str(empty), "-c", str(cfg), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no video file" in r.output


def test_the_per_process_detector_cache_keys_on_the_builder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A detector built by one builder is never handed out for another: an earlier run with the
    # real model once hid a test's light detector in the same process (a 0-count report).
    from veilleur.perception import factory
    from veilleur.pipeline import statistics

    monkeypatch.setattr(statistics, "_DETECTORS", {})
    spec = DetectorSpec("yolox-nano")
    first, second = SquareDetector(), SquareDetector()
    monkeypatch.setattr(factory, "build_local", lambda s: first)
    assert statistics._cached_build(spec) is first
    assert statistics._cached_build(spec) is first  # built once per builder
    monkeypatch.setattr(factory, "build_local", lambda s: second)
    assert statistics._cached_build(spec) is second
