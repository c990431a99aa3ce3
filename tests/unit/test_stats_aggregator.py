"""The statistics aggregator on synthetic scenes: entries, crossings both ways, occupancy,
density on a calibrated camera, buckets, and nothing about a track in what it outputs."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from veilleur.config.model import CameraConfig
from veilleur.scene import Scene
from veilleur.scene.statistics import (
    COLUMNS,
    StatisticRow,
    StatisticsAggregator,
    bucket_of,
    statistics_site,
)
from veilleur.store import STATISTIC_METRICS
from veilleur.types import PERSON, Detections, Frame

W, H = 200, 100
T0 = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)


def camera(calibrated: bool = False) -> CameraConfig:
    data: dict = {
        "source": "x.mp4",
        # The right half of the picture.
        "zones": {"right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
        # A vertical line at x = 0.25, drawn top to bottom: its right-hand side (walking
        # from the first point to the second, image y down) is the left of the picture.
        "lines": {"gate": {"points": [[0.25, 0], [0.25, 1]]}},
    }
    if calibrated:
        # 1 image unit = 20 m wide, 10 m high: the zone is 10 m × 10 m = 100 m².
        data["calibration"] = {
            "image_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
            "ground_points": [[0, 0], [20, 0], [20, 10], [0, 10]],
        }
    return CameraConfig.model_validate(data)


def tracked(people: dict[int, float], cls: int = PERSON) -> Detections:
    """Boxes whose foot is at x = `people[id]` (pixels), bottom of the picture."""
    ids = sorted(people)
    xyxy = [[people[i] - 5, 60, people[i] + 5, 90] for i in ids]
    return Detections(
        xyxy=np.array(xyxy, np.float32).reshape(-1, 4),
        confidence=np.full(len(ids), 0.9),
        class_id=np.full(len(ids), cls),
        track_id=np.array(ids, np.int64),
    )


def run(
    cfg: CameraConfig,
    frames: list[dict[int, float]],
    *,
    fps: float = 5,
    bucket_s: int = 60,
    cls: int = PERSON,
) -> list[StatisticRow]:
    scene = Scene("cam", cfg, min_hits=1)
    agg = StatisticsAggregator("cam", cfg, bucket_s=bucket_s)
    rows: list[StatisticRow] = []
    image = np.zeros((H, W, 3), np.uint8)
    for i, people in enumerate(frames):
        t = i / fps
        scene.update(Frame(image, t, i), tracked(people, cls))
        rows += agg.update(scene, T0 + timedelta(seconds=t))
    return rows + agg.flush(scene)


def value(rows: list[StatisticRow], metric: str, subject: str, direction: str = "") -> float:
    found = [
        r.value for r in rows if (r.metric, r.subject, r.direction) == (metric, subject, direction)
    ]
    assert len(found) == 1, (metric, subject, direction, found)
    return found[0]


def test_entries_and_occupancy() -> None:
    # Person 1 walks into the right half and stays; person 2 stays on the left;
    # person 3 is in the right half from the start (an entry too: it came into view there).
    frames = [
        {1: 80, 2: 20, 3: 150},
        {1: 95, 2: 20, 3: 150},
        {1: 120, 2: 20, 3: 150},
        {1: 130, 2: 20},
        {1: 140, 2: 20},
    ]
    rows = run(camera(), frames)
    assert value(rows, "zone_entries", "right") == 2
    assert value(rows, "occupancy_max", "right") == 2
    # Right half: 1, 1, 2, 1, 1 persons → mean 6/5.
    assert value(rows, "occupancy_mean", "right") == pytest.approx(6 / 5)
    assert value(rows, "occupancy_max", "") == 3
    assert value(rows, "occupancy_mean", "") == pytest.approx(13 / 5)
    # No calibration: no density.
    assert not [r for r in rows if r.metric == "density"]
    assert {r.metric for r in rows} <= set(STATISTIC_METRICS)


def test_leaving_and_coming_back_is_a_second_entry() -> None:
    # The scene keeps a zone through an exit shorter than 0.5 s: at 5 fps, 3 frames out
    # (0.6 s) is a real exit, so coming back counts again.
    frames = [{1: 150}, {1: 150}, {1: 20}, {1: 20}, {1: 20}, {1: 20}, {1: 150}, {1: 150}]
    assert value(run(camera(), frames), "zone_entries", "right") == 2
    # One frame out (0.2 s) is the scene's grace: one entry.
    frames = [{1: 150}, {1: 150}, {1: 20}, {1: 150}, {1: 150}]
    assert value(run(camera(), frames), "zone_entries", "right") == 1


def test_line_crossings_both_ways() -> None:
    # The gate is at x = 50. Person 1 crosses left→right twice (out and back between), person 2
    # once right→left.
    frames = [{1: 30, 2: 90}, {1: 70, 2: 90}, {1: 30, 2: 30}, {1: 70, 2: 30}]
    rows = run(camera(), frames)
    # Moving right across a top-to-bottom line lands on its left-hand side: 'backward'.
    assert value(rows, "line_crossings", "gate", "backward") == 2
    assert value(rows, "line_crossings", "gate", "forward") == 2  # 1 back once, 2 once


def test_only_persons_are_counted() -> None:
    rows = run(camera(), [{1: 150}, {1: 150}], cls=2)  # a car
    assert value(rows, "zone_entries", "right") == 0
    assert value(rows, "occupancy_max", "") == 0


def test_density_on_a_calibrated_camera() -> None:
    rows = run(camera(calibrated=True), [{1: 150, 2: 160}, {1: 150, 2: 160}])
    # Two persons in a 100 m² zone.
    assert value(rows, "density", "right") == pytest.approx(0.02, rel=1e-6)


def test_buckets_close_as_time_passes() -> None:
    # 1 fps over 150 s with 60 s buckets: two full buckets and a partial one.
    frames = [{1: 150}] * 150
    rows = run(camera(), frames, fps=1, bucket_s=60)
    starts = sorted({r.bucket_start for r in rows})
    assert starts == [T0, T0 + timedelta(seconds=60), T0 + timedelta(seconds=120)]
    entries = [r for r in rows if r.metric == "zone_entries"]
    assert [r.value for r in sorted(entries, key=lambda r: r.bucket_start)] == [1, 0, 0]
    assert all(r.bucket_s == 60 for r in rows)


def test_no_track_in_the_output() -> None:
    rows = run(camera(), [{7: 150}, {7: 30}, {7: 70}])
    names = {f.name for f in fields(StatisticRow)} | set(COLUMNS)
    for r in rows:
        names |= set(r.as_dict())
    assert not [n for n in names if "track" in n or n in ("id", "box", "bbox", "x", "y")]


def test_bucket_alignment_and_naive_time_refused() -> None:
    at = datetime(2026, 5, 4, 10, 7, 31, tzinfo=UTC)
    assert bucket_of(at, 60) == datetime(2026, 5, 4, 10, 7, tzinfo=UTC)
    assert bucket_of(at, 900) == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    cfg = camera()
    scene = Scene("cam", cfg)
    scene.update(Frame(np.zeros((H, W, 3), np.uint8), 0.0, 0), tracked({}))
    with pytest.raises(ValueError, match="aware"):
        StatisticsAggregator("cam", cfg).update(scene, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="bucket_s"):
        StatisticsAggregator("cam", cfg, bucket_s=0)


def test_statistics_site_switches_situations_off() -> None:
    from veilleur.config import parse_config

    site = parse_config(
        {
            "cameras": {
                "cam": {
                    "source": "x.mp4",
                    "zones": {"z": {"polygon": [[0, 0], [1, 0], [1, 1]]}},
                    "situations": {"zone_intrusion": {"enabled": True, "zones": ["z"]}},
                }
            }
        }
    )
    quiet = statistics_site(site, "cam")
    assert not any(c.enabled for _, c in quiet.cameras["cam"].situations.items())
    assert quiet.cameras["cam"].zones == site.cameras["cam"].zones
