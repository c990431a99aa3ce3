"""The parts of `veilleur.sources` on their own: addresses, back-off, sampling, the timeline,
and the rule that every caller opens a source through `open_source`."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
from test_sources import write_clip

import veilleur
from veilleur.sources import Source, open_source
from veilleur.sources.address import parse_address
from veilleur.sources.reconnect import OpenFailure, Reconnector
from veilleur.sources.timing import Clock, Sampler, Timeline, TimestampRepair


def test_addresses_name_files_streams_and_devices() -> None:
    f = parse_address("file://~/clips/a.mp4")
    assert f.path == Path("~/clips/a.mp4").expanduser()
    assert not f.network and not f.device and not f.always_live
    assert f.target() == (str(f.path), None)

    cam = parse_address("RTSP://admin:s3cret@10.0.0.5:554/live")
    assert cam.network and cam.always_live and cam.path is None and cam.scheme == "rtsp"
    assert "s3cret" not in cam.label and cam.label == "rtsp://admin:***@10.0.0.5:554/live"
    opts = cam.stream_options(2.5, {"rtsp_transport": "udp"})
    assert opts == {"rtsp_transport": "udp", "timeout": "2500000", "rw_timeout": "2500000"}

    web = parse_address("https://example.org/cam.ts")
    assert web.network and not web.always_live  # HTTP may serve a finite file
    assert web.stream_options(1, {}) == {"timeout": "1000000", "rw_timeout": "1000000"}

    dev = parse_address("v4l2:/dev/video2")
    assert dev.device and dev.always_live and dev.target() == ("/dev/video2", "v4l2")
    assert dev.stream_options(1, {}) == {}  # no network timeouts on a local device


def test_reconnection_backs_off_and_gives_up_with_the_last_error() -> None:
    attempts: list[float] = []
    reasons: list[str] = []

    def fail() -> object:
        attempts.append(r.delay)
        raise OpenFailure(f"refused #{len(attempts)}", permanent=False)

    r = Reconnector(
        max_retries=3, backoff_initial_s=0.001, backoff_max_s=0.003,
        stop=threading.Event(), label="cam",
    )  # fmt: skip
    assert r.retry(fail, closed=lambda: False, gave_up=reasons.append) is None
    assert attempts == [0.002, 0.003, 0.003]  # doubled after each wait, capped
    assert reasons == ["gave up after 3 failed reconnection attempts (last error: refused #3)"]
    r.delivered()
    assert (r.failures, r.delay) == (0, 0.001)
    assert r.retry(lambda: "opened", closed=lambda: False, gave_up=reasons.append) == "opened"


def test_a_closed_source_stops_waiting_to_reconnect() -> None:
    stop = threading.Event()
    stop.set()
    r = Reconnector(
        max_retries=None, backoff_initial_s=60, backoff_max_s=60, stop=stop, label="cam"
    )
    assert r.retry(lambda: "never", closed=lambda: False, gave_up=lambda _: None) is None
    assert r.retry(lambda: "never", closed=lambda: True, gave_up=lambda _: None) is None


def test_sampling_takes_the_first_picture_at_or_after_each_instant() -> None:
    every = Sampler(None)
    assert all(every.take(t) for t in (0.0, 0.0, 0.01))
    five = Sampler(5.0)
    times = [0.0, 0.1, 0.199999999, 0.2, 0.35, 0.41, 1.0]
    assert [t for t in times if five.take(t)] == [0.0, 0.199999999, 0.41, 1.0]


def test_timestamps_fall_back_to_dts_when_pts_go_wrong() -> None:
    stamps = TimestampRepair()
    assert [stamps.pick(p, d) for p, d in [(0, 0), (3, 1), (1, 2), (2, 3)]] == [0, 3, 2, 3]
    assert stamps.faulty_pts == 1 and stamps.faulty_dts == 0


def test_the_timeline_stays_monotonic_and_finds_holes() -> None:
    line = Timeline(nominal_dt=0.1)
    clock = Clock()
    line.start(clock, raw=5.0)
    assert clock.t(5.3) == pytest.approx(0.3)
    holes = []
    for i in range(20):
        line.picture(i * 0.1)
        holes.append(line.seen(i * 0.1))
    assert holes == [None] * 20
    where, what = line.seen(3.0) or (None, "")
    assert where == pytest.approx(1.9) and "about 10 missing" in what
    line.picture(3.0)
    assert line.went_back(1.0) == pytest.approx(2.1)  # continues one interval after 3.0
    assert line.went_back(3.2) == 0.0


def test_an_opened_source_is_a_source(tmp_path: Path) -> None:
    with open_source(str(write_clip(tmp_path / "clip.mp4", n=10))) as src:
        assert isinstance(src, Source)
        assert len(list(src.frames())) == 2
        assert [e.kind for e in src.events] == ["end_of_stream"]


def test_every_caller_opens_sources_through_open_source() -> None:
    root = Path(veilleur.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.parent.name == "sources":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
            if name in ("VideoSource", "PyAVSource"):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")  # type: ignore[attr-defined]
    assert not offenders, offenders
