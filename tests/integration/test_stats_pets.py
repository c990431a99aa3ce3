"""`veilleur stats` on the real PETS 2009 S2L1 clip with the plaza's zones and line
(examples/pets_s2l1.yaml): counts that match what the footage shows, and no image written."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
MEDIA = (".jpg", ".jpeg", ".png", ".mp4", ".avi", ".gif")


def test_stats_over_pets(pets_dir: Path, yolox_path: Path, tmp_path: Path) -> None:
    from veilleur.cli import app

    out = tmp_path / "report"
    began = time.perf_counter()
    result = CliRunner().invoke(app, [
        "stats", str(pets_dir / "vtest_PETS2009_S2L1_View001.avi"),
        "--config", str(REPO / "examples" / "pets_s2l1.yaml"),
        "--bucket-s", "10", "--out", str(out), "--no-progress",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    print(f"veilleur stats over PETS: {time.perf_counter() - began:.1f} s")
    with (out / "statistics.csv").open() as f:
        rows = list(csv.DictReader(f))
    # 79.5 s in 10 s buckets: 8 buckets of 10 rows (2 whole-picture, 3 per zone, 2 per line).
    assert len({r["bucket_start"] for r in rows}) == 8
    assert len(rows) == 80

    def total(metric: str, subject: str, direction: str = "") -> float:
        key = (metric, subject, direction)
        return sum(float(r["value"]) for r in rows
                   if (r["metric"], r["subject"], r["direction"]) == key)  # fmt: skip

    # Pedestrians keep walking along the path (about 20 different people cross the plaza).
    assert 10 <= total("zone_entries", "path") <= 60
    # Between 3 and 12 persons are on the picture at the busiest moment of each bucket.
    peaks = [float(r["value"]) for r in rows if r["metric"] == "occupancy_max" and not r["subject"]]
    assert all(3 <= p <= 12 for p in peaks), peaks
    crossings = total("line_crossings", "lamp_post", "forward") + total(
        "line_crossings", "lamp_post", "backward"
    )
    assert crossings >= 1
    assert not [p for p in out.rglob("*") if p.suffix.lower() in MEDIA]
