"""The statistics mode writes no image or track anywhere, and delivers no signal (SPEC §2):
the live mode with the real supervisor, its recorders and a database, and `veilleur stats`
on a clip; then every folder they used is scanned."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy import Engine, func, inspect, select
from test_modes_runtime import media_files
from test_runtime_supervisor import BlobDetector, blob_factory, site_for, wait_for, write_clip
from test_signal_batches import RecordingBus
from typer.testing import CliRunner

from veilleur import store
from veilleur.runtime import Supervisor
from veilleur.service.modes import StatisticsRecorder
from veilleur.service.platform import SignalRecorder
from veilleur.store import session_factory

pytest_plugins = ["db_fixtures"]

LINE = {"gate": {"points": [[0.5, 0], [0.5, 1]]}}


def no_track_named(names: Any) -> None:
    found = [n for n in names if "track" in str(n).lower()]
    assert not found, found


def test_live_statistics_mode_keeps_counts_only(
    db_engine: Engine, data_dir: Path, tmp_path: Path
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    write_clip(clips / "walk.mp4", seconds=3)
    sessions = session_factory(db_engine)
    site = site_for({"s": clips / "walk.mp4"}, mode="statistics", lines=LINE)
    with sessions() as s:
        store.upsert_camera(s, "s", site.cameras["s"])
    bus = RecordingBus()
    signals = SignalRecorder(sessions, data_dir, bus)
    statistics = StatisticsRecorder(sessions)
    sup = Supervisor(
        site, on_signal=signals, on_statistics=statistics, realtime_files=False,
        detector_factory=blob_factory, statistics_bucket_s=1,
    )  # fmt: skip
    work = Path(sup._dir)
    try:
        sup.start()
        assert wait_for(lambda: sup.status()["s"].state == "stopped", 60), sup.status()

        def stored() -> int:
            with sessions() as s:
                return len(store.list_statistics(s, metric="zone_entries"))

        assert wait_for(lambda: stored() > 0, 5)
        assert not media_files(work)
    finally:
        sup.close()
    assert statistics.failures == 0 and signals.failures == 0
    with sessions() as s:
        rows = store.list_statistics(s)
        assert sum(r.value for r in rows if r.metric == "zone_entries") == 1
        assert s.scalar(select(func.count(store.SignalRow.id))) == 0
        assert s.scalar(select(func.count(store.CalibrationRecord.id))) == 0
    assert bus.published == []
    # Nothing written in the data folder, nor beside the clip, nor in the runtime's folder.
    assert not media_files(data_dir) and not list(data_dir.rglob("*.*"))
    assert [p.name for p in media_files(clips)] == ["walk.mp4"]
    assert not work.exists() or not media_files(work)
    # The table holds no column naming a track.
    no_track_named(c["name"] for c in inspect(db_engine).get_columns("statistics"))


def test_veilleur_stats_writes_aggregates_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veilleur.cli import app
    from veilleur.perception import factory

    # The light detector in place of a model file: the pipeline builds it in this process.
    monkeypatch.setattr(factory, "build_local", lambda spec: BlobDetector())
    clips = tmp_path / "clips"
    clips.mkdir()
    clip = write_clip(clips / "walk.mp4", seconds=3)
    camera = {
        "source": "unused.mp4", "analysis_fps": 5,
        "zones": {"right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
        "lines": LINE,
        "situations": {"zone_intrusion": {"enabled": True, "zones": ["right"]}},
    }  # fmt: skip
    config = tmp_path / "hall.yaml"
    config.write_text(yaml.safe_dump(camera))
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["stats", str(clip), str(clip), "--config", str(config), "--bucket-s", "2",
              "--start", "2026-05-04T08:00:00Z", "--out", str(out), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    assert written[:2] == ["chart-1.svg", "chart-2.svg"]
    assert set(written) - {p for p in written if p.startswith("chart-")} == {
        "index.html",
        "statistics.csv",
        "statistics.parquet",
    }
    assert not media_files(out)
    assert [p.name for p in media_files(clips)] == ["walk.mp4"]
    csv = (out / "statistics.csv").read_text().splitlines()
    no_track_named(csv[0].split(","))
    table = pq.read_table(io.BytesIO((out / "statistics.parquet").read_bytes()))
    no_track_named(table.column_names)
    rows = table.to_pylist()
    assert len(rows) == len(csv) - 1 > 0
    # The same walk twice, one after the other: two entries, two crossings, all 'backward'.
    entries = sum(r["value"] for r in rows if r["metric"] == "zone_entries")
    crossings = {d: sum(r["value"] for r in rows if r["direction"] == d)
                 for d in ("forward", "backward")}  # fmt: skip
    assert entries == 2 and crossings == {"forward": 0, "backward": 2}
    assert min(r["bucket_start"] for r in rows).isoformat() == "2026-05-04T08:00:00+00:00"
    html = (out / "index.html").read_text()
    assert "<img" not in html and "statistics.parquet" in html


def test_veilleur_stats_explains_bad_input(tmp_path: Path) -> None:
    from veilleur.cli import app

    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump({"cameras": {
        "a": {"source": "a.mp4"}, "b": {"source": "b.mp4"}}}))  # fmt: skip
    clip = tmp_path / "none.mp4"
    run = CliRunner().invoke
    r = run(app, ["stats", str(clip), "--config", str(config), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--camera" in r.output
    r = run(app, ["stats", str(clip), "--config", str(config), "--camera", "a",
                  "--out", str(tmp_path / "o")])  # fmt: skip
    assert r.exit_code == 2 and "file not found" in r.output
    assert not (tmp_path / "o").exists()
