"""The source options the runtime uses: files paced at their own speed, and looped."""

from __future__ import annotations

import itertools
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from veilleur.sources import VideoSource


def write_clip(path: Path, *, seconds: float, fps: int = 10, size: tuple[int, int] = (160, 120)):
    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(round(seconds * fps)):
            img = np.full((h, w, 3), 40, np.uint8)
            x = 5 + 4 * i % (w - 30)
            img[40:90, x : x + 20] = 220
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_realtime_paces_a_file_at_its_own_speed(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", seconds=1.5)
    with VideoSource(str(clip), analysis_fps=5, realtime=True) as src:
        t0 = time.monotonic()
        for frame in src.frames():
            # No frame comes before its time (a small slack for the clock's resolution).
            assert time.monotonic() - t0 >= frame.t - 0.02
        elapsed = time.monotonic() - t0
    assert frame.t >= 1.3
    assert elapsed >= frame.t - 0.02


def test_without_realtime_a_file_is_read_as_fast_as_possible(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", seconds=1.5)
    with VideoSource(str(clip), analysis_fps=5) as src:
        t0 = time.monotonic()
        n = sum(1 for _ in src.frames())
        assert time.monotonic() - t0 < 1.0
    assert n == 8


def test_close_ends_a_paced_wait(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", seconds=3)
    src = VideoSource(str(clip), analysis_fps=1, realtime=True)
    got: list[float] = []

    def read() -> None:
        got.extend(f.t for f in src.frames())

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    src.close()
    reader.join(2.0)
    assert not reader.is_alive()
    assert time.monotonic() - t0 < 0.5
    assert len(got) <= 2


def test_loop_starts_again_with_times_and_indexes_continuing(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", seconds=1.0)
    with VideoSource(str(clip), analysis_fps=None, loop=True) as src:
        frames = list(itertools.islice(src.frames(), 25))
        assert src.loops == 2
    ts = np.array([f.t for f in frames])
    np.testing.assert_allclose(np.diff(ts), 0.1, atol=1e-3)
    assert [f.index for f in frames] == list(range(25))
    # The same pictures come back: frame 10 is frame 0 again.
    assert np.abs(frames[10].image.astype(int) - frames[0].image.astype(int)).mean() < 2
    assert not any(e.kind == "end_of_stream" for e in src.events)


def test_loop_sampled_at_the_analysis_rate(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", seconds=1.0)
    with VideoSource(str(clip), analysis_fps=5, loop=True) as src:
        ts = [f.t for f in itertools.islice(src.frames(), 12)]
    np.testing.assert_allclose(np.diff(ts), 0.2, atol=1e-3)


def test_without_loop_a_file_ends(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", seconds=1.0)
    with VideoSource(str(clip), analysis_fps=None) as src:
        assert len(list(src.frames())) == 10
    assert src.loops == 0
