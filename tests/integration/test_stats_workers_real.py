"""`veilleur stats` over several real recordings (UP-Fall, a person walking and falling, two
cameras): one process, two local worker processes and Ray tasks on a local Ray give the same
rows, and the rows count what the footage shows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from veilleur.cli.stats_batch import StatsJob, run_processes, run_ray, run_serial
from veilleur.config import parse_config
from veilleur.config.model import SiteConfig
from veilleur.pipeline.statistics import (
    RecordingResult,
    StatsSettings,
    merge_results,
    plan_recordings,
)

pytestmark = pytest.mark.integration

CLIPS = (
    "Activity1_S1_Trial1Cam2.mp4",
    "Activity2_S1_Trial1Cam2.mp4",
    "Activity3_S1_Trial1Cam1.mp4",
)
BUCKET_S = 5


def _site(model: Path) -> SiteConfig:
    return parse_config({
        "perception": {"detector": "yolox-nano", "model_path": str(model)},
        "cameras": {"hall": {
            "source": "recorded.mp4", "analysis_fps": 5,
            "zones": {"left": {"polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
                      "right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
            "lines": {"middle": {"points": [[0.5, 0], [0.5, 1]]}},
        }},
    })  # fmt: skip


@pytest.fixture(scope="module")
def jobs(shared_data: Path, yolox_path: Path) -> list[StatsJob]:
    folder = shared_data / "upfall_falls"
    plans = plan_recordings([str(folder / c) for c in CLIPS])
    origin = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    return [
        StatsJob(_site(yolox_path), "hall", p, origin, BUCKET_S, StatsSettings()) for p in plans
    ]


@pytest.fixture(scope="module")
def serial(jobs: list[StatsJob]) -> list[RecordingResult]:
    return run_serial(jobs)


def _rows(jobs: list[StatsJob], results: list[RecordingResult]) -> list[dict[str, object]]:
    return [r.as_dict() for r in merge_results(jobs[0].site, "hall", results, BUCKET_S)]


def test_serial_rows_count_what_the_clips_show(
    jobs: list[StatsJob], serial: list[RecordingResult]
) -> None:
    rows = _rows(jobs, serial)
    # Three clips of 7-8 s end to end: about 23 s, so five 5 s buckets, the last partial.
    assert len({r["bucket_start"] for r in rows}) == 5
    peaks = [r["value"] for r in rows if r["metric"] == "occupancy_max" and r["subject"] == ""]
    # One person falls in each clip (a second, seated one is seen by the elevated camera);
    # lying at the end of the last clip, seen from the front, the detector may lose them.
    peaks = [float(p) for p in peaks]  # type: ignore[arg-type]
    assert max(peaks) <= 3 and sum(p >= 1 for p in peaks) >= 4, peaks
    entries = sum(float(r["value"]) for r in rows if r["metric"] == "zone_entries")  # type: ignore[arg-type]
    assert entries >= 3
    assert all(r.cpu_s > 0 and r.frames > 30 for r in serial)
    # A bucket across the end of one clip and the start of the next holds frames of both.
    ends = [p.plan.offset_s + p.plan.duration_s for p in jobs[:-1]]
    assert any(e % BUCKET_S > 0.5 for e in ends)


def test_two_worker_processes_give_the_serial_rows(
    jobs: list[StatsJob], serial: list[RecordingResult]
) -> None:
    parallel = run_processes(jobs, 2)
    assert [r.path for r in parallel] == [j.plan.path for j in jobs]
    assert _rows(jobs, parallel) == _rows(jobs, serial)


def test_ray_tasks_give_the_serial_rows(
    jobs: list[StatsJob], serial: list[RecordingResult]
) -> None:
    ray = pytest.importorskip("ray")
    ray.init(
        address="local",  # a Ray of its own, even where a cluster runs on the machine
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=80 * 1024 * 1024,
    )
    try:
        done: list[int] = []
        results = run_ray(jobs, on_done=lambda i, _: done.append(i))
    finally:
        ray.shutdown()
    assert sorted(done) == [0, 1, 2]
    assert _rows(jobs, results) == _rows(jobs, serial)


def test_a_lighter_analysis_keeps_the_timeline_and_roughly_the_figures(
    jobs: list[StatsJob], serial: list[RecordingResult]
) -> None:
    # Half the rate and a 256 px detector input: about a third of the CPU (measured by
    # bench/stats_speed.py, not here), figures off by 10-50 % (docs/modes.md). What must hold:
    # the same buckets on the same timeline, half the frames, and peaks within one person.
    light = StatsSettings(analysis_fps=2.5, input_size=256, skip_loop_filter=True)
    fast = run_serial([dataclasses.replace(j, settings=light) for j in jobs])
    assert [r.frames for r in fast] == pytest.approx([r.frames / 2 for r in serial], abs=1)
    full_rows, fast_rows = _rows(jobs, serial), _rows(jobs, fast)
    assert [(r["bucket_start"], r["metric"], r["subject"]) for r in fast_rows] == [
        (r["bucket_start"], r["metric"], r["subject"]) for r in full_rows
    ]
    for a, b in zip(full_rows, fast_rows, strict=True):
        if a["metric"] == "occupancy_max":
            assert abs(float(a["value"]) - float(b["value"])) <= 1, (a, b)  # type: ignore[arg-type]
