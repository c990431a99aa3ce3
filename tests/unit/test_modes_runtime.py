"""The real supervisor in the statistics and calibration modes, and its unblurred frame, on
tiny generated clips with the light blob detector (see test_runtime_supervisor.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_runtime_supervisor import Inbox, blob_factory, site_for, wait_for, write_clip

from veilleur.runtime import Supervisor
from veilleur.scene.statistics import StatisticRow

MEDIA_SUFFIXES = (".jpg", ".jpeg", ".png", ".mp4", ".avi", ".mkv", ".webm", ".gif")
LINE = {"gate": {"points": [[0.5, 0], [0.5, 1]]}}


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mode-clips")
    write_clip(d / "walk.mp4", seconds=4)
    return d


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for s in made:
        s.close()


class Rows:
    def __init__(self) -> None:
        self.rows: list[StatisticRow] = []
        self.cond = threading.Condition()

    def __call__(self, rows: list[StatisticRow]) -> None:
        with self.cond:
            self.rows += rows
            self.cond.notify_all()


def media_files(*dirs: Path) -> list[Path]:
    return [
        p for d in dirs if d.exists() for p in d.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES
    ]


def fine_detail(jpeg: bytes) -> float:
    """Mean step between neighbouring pixels inside the walking 'person' (a block of random
    bright texture): high on the frame as it is, near nothing once pixelated and blurred."""
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)
    band = img[95:145]
    steps = np.abs(np.diff(band, axis=1))
    bright = (band[:, 1:] > 150) & (band[:, :-1] > 150)
    assert bright.sum() > 200, "the person is not on the picture"
    return float(steps[bright].mean())


def test_unblurred_jpeg_is_the_frame_as_it_is(clip_dir: Path, supervisors: list) -> None:
    sup = Supervisor(
        site_for({"a": clip_dir / "walk.mp4"}), on_signal=lambda e: None, loop_files=True,
        detector_factory=blob_factory,
    )  # fmt: skip
    supervisors.append(sup)
    assert sup.unblurred_jpeg("a") is None  # not started
    assert sup.unblurred_jpeg("nowhere") is None
    sup.start()
    assert wait_for(lambda: sup.latest_jpeg("a") is not None, 30), sup.status()
    raw = sup.unblurred_jpeg("a", timeout_s=5)
    assert raw is not None and raw.startswith(b"\xff\xd8\xff")
    blurred = sup.latest_jpeg("a")
    assert blurred is not None
    # The person's texture survives unblurred and is smoothed away on the blurred picture.
    assert fine_detail(raw) > 2 * fine_detail(blurred)
    sup.stop_camera("a")
    assert sup.unblurred_jpeg("a") is None
    # Never kept: the supervisor holds no unanswered request and wrote no file.
    assert not sup._unblurred
    assert not media_files(Path(sup._dir))


def test_unblurred_jpeg_times_out_to_none(clip_dir: Path, supervisors: list) -> None:
    from test_runtime_supervisor import slow_factory

    sup = Supervisor(
        site_for({"a": clip_dir / "walk.mp4"}), on_signal=lambda e: None, loop_files=True,
        detector_factory=slow_factory,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: sup.status()["a"].state == "running", 30), sup.status()
    # A camera process that does not answer in time (here: paused, so that the test does not
    # depend on when its request falls between two slow detections) gives None, and the
    # request is forgotten: its late answer is ignored.
    process = sup._cameras["a"].process
    assert process is not None and process.pid is not None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        assert sup.unblurred_jpeg("a", timeout_s=0.05) is None
    finally:
        os.kill(process.pid, signal.SIGCONT)
    assert not sup._unblurred
    time.sleep(1.0)  # the paused process answers now, to nobody
    assert not sup._unblurred


def test_statistics_mode_sends_counts_only(clip_dir: Path, supervisors: list) -> None:
    inbox, rows = Inbox(), Rows()
    site = site_for({"s": clip_dir / "walk.mp4"}, mode="statistics", lines=LINE)
    sup = Supervisor(
        site, on_signal=inbox, on_statistics=rows, realtime_files=False,
        detector_factory=blob_factory, statistics_bucket_s=1,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    # The file ends: the process stops and sends its last bucket.
    assert wait_for(lambda: sup.status()["s"].state == "stopped", 60), sup.status()
    assert wait_for(lambda: any(r.metric == "zone_entries" for r in rows.rows), 5)
    assert sup.status()["s"].last_error == "end of the video"
    got = rows.rows
    entries = sum(r.value for r in got if r.metric == "zone_entries" and r.subject == "right")
    assert entries == 1  # one person walks into the right half
    crossings = {
        d: sum(r.value for r in got if r.metric == "line_crossings" and r.direction == d)
        for d in ("forward", "backward")
    }
    assert crossings == {"forward": 0, "backward": 1}  # left to right across a downward line
    assert max(r.value for r in got if r.metric == "occupancy_max" and r.subject == "") == 1
    assert all(r.camera == "s" and r.bucket_s == 1 for r in got)
    for r in got:
        assert not [k for k in asdict(r) if "track" in k]
    # No signal (its zone intrusion is enabled in the configuration), no picture.
    assert inbox.events == []
    assert sup.latest_jpeg("s") is None
    assert sup.unblurred_jpeg("s") is None
    assert not media_files(Path(sup._dir))
    assert [p.name for p in media_files(clip_dir)] == ["walk.mp4"]


def test_calibration_mode_tags_its_events(clip_dir: Path, supervisors: list) -> None:
    inbox = Inbox()
    site = site_for({"c": clip_dir / "walk.mp4"}, mode="calibration")
    sup = Supervisor(site, on_signal=inbox, realtime_files=False, detector_factory=blob_factory)
    supervisors.append(sup)
    sup.start()
    events = inbox.wait(1, timeout=30)
    assert events, sup.status()
    assert {e.mode for e in events} == {"calibration"}
    assert events[0].snapshot_jpeg.startswith(b"\xff\xd8\xff")
