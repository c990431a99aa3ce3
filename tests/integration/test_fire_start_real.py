"""`fire_start` on real footage: a real fire (FURG house6) and two scenes with no fire (PETS
2009 S2L1 pedestrians, the Intel car park).

Each clip goes through the whole product path, `CameraPipeline(camera, site)` with YOLOX-nano
from the `yolox_path` fixture (people and vehicles it detects are where flicker and smoke-like
changes do not count), at the default 5 analysed frames per second. The negative clips are run
a second time with a detector that sees nothing, so that the fire logic alone is shown not to
need the detector to stay quiet there.

house6 has flames from its first frame (its ground truth boxes flames on every frame), so the
delay is measured from t = 0.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.pipeline import CameraPipeline
from veilleur.sources import VideoSource
from veilleur.types import Detections, Signal

pytestmark = pytest.mark.integration

CLIPS = {
    "house6": "furg_fire/house6.mp4",
    "pets": "pets2009_s2l1/vtest_PETS2009_S2L1_View001.avi",
    "carpark": "intel_cars/car-detection.mp4",
}


class NoDetector:
    name = "none"

    def detect(self, image: np.ndarray) -> Detections:
        return Detections.empty()


@dataclass
class Run:
    signals: list[Signal]
    frames: int
    confirmed_frames: list[float]
    """Times of the frames on which at least one fire region was confirmed."""
    duration_s: float
    situations_ms: float


def analyse(video: Path, model: Path | None) -> Run:
    perception = {"detector": "yolox-nano", "model_path": str(model)} if model else {}
    site = parse_config(
        {
            "perception": perception,
            "cameras": {
                "cam": {
                    "source": str(video),
                    "analysis_fps": 5,
                    "situations": {"fire_start": {"enabled": True}},
                }
            },
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = CameraPipeline("cam", site, detector=None if model else NoDetector())
    fire = pipe.situations[0]
    signals: list[Signal] = []
    confirmed: list[float] = []
    last_t = 0.0
    with VideoSource(str(video), analysis_fps=5) as src:
        for frame in src.frames():
            signals += pipe.process(frame)
            if any(r.confirmed for r in getattr(fire, "regions", [])):
                confirmed.append(frame.t)
            last_t = frame.t
    ms = pipe.clock.ms_per_frame()["situations"]
    return Run(signals, pipe.clock.frames, confirmed, last_t + 0.2, ms)


@pytest.fixture(scope="module")
def runs(shared_data: Path, yolox_path: Path) -> dict[str, Run]:
    return {name: analyse(shared_data / rel, yolox_path) for name, rel in CLIPS.items()}


def flame_truth(xml: Path) -> dict[int, list[tuple[int, int, int, int]]]:
    """Frame number → flame boxes (x, y, w, h) of the FURG ground truth."""
    text = xml.read_text()
    out: dict[int, list[tuple[int, int, int, int]]] = {}
    pattern = r"<frameNumber>(\d+)</frameNumber>\s*<annotations>(.*?)</annotations>"
    for number, body in re.findall(pattern, text, re.S):
        boxes = re.findall(r"<_>\s*(\d+) (\d+) (\d+) (\d+)\s*</_>", body)
        out[int(number)] = [(int(a), int(b), int(c), int(d)) for a, b, c, d in boxes]
    return out


def test_real_fire_is_signalled_within_3_s(runs: dict[str, Run], shared_data: Path) -> None:
    run = runs["house6"]
    sigs = run.signals
    print(
        f"\nhouse6: {len(sigs)} signal(s) "
        f"{[(round(s.start_s, 1), round(s.end_s, 1), s.confidence) for s in sigs]}; "
        f"flames confirmed on {len(run.confirmed_frames)}/{run.frames} frames; "
        f"fire_start {run.situations_ms:.1f} ms/frame"
    )
    # Measured: one signal, started 0.6 s, raised at 2.8 s; flames confirmed on 136/150 frames.
    assert len(sigs) == 1
    s = sigs[0]
    assert s.start_s <= 1.0
    assert s.end_s <= 3.0
    # Its box overlaps a flame of the ground truth of that frame (426×240, 29.97 frames/s).
    truth = flame_truth(shared_data / "furg_fire" / "house6.xml")
    w, h = 426.0, 240.0
    boxes = truth[s.frame]
    x1, y1, x2, y2 = s.bbox[0] * w, s.bbox[1] * h, s.bbox[2] * w, s.bbox[3] * h
    assert any(x1 < bx + bw and bx < x2 and y1 < by + bh and by < y2 for bx, by, bw, bh in boxes)
    # The fire stays confirmed: on most frames after the first 3 s.
    later = [t for t in run.confirmed_frames if t >= 3.0]
    assert len(later) >= 0.8 * (run.frames - 15)


@pytest.mark.parametrize("clip", ["pets", "carpark"])
def test_no_fire_no_signal(runs: dict[str, Run], clip: str) -> None:
    run = runs[clip]
    print(
        f"\n{clip}: {run.duration_s:.0f} s, {len(run.signals)} fire signal(s), "
        f"fire_start {run.situations_ms:.1f} ms/frame"
    )
    assert run.signals == []


@pytest.mark.parametrize("clip", ["pets", "carpark"])
def test_no_fire_no_signal_without_detector(shared_data: Path, clip: str) -> None:
    run = analyse(shared_data / CLIPS[clip], None)
    print(f"\n{clip} (no detector): {len(run.signals)} fire signal(s)")
    assert run.signals == []
