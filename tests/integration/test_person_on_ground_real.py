"""`person_on_ground` on real footage: UP-Fall subject 1 falls and daily activities, and PETS
2009 S2L1 pedestrians, through the whole pipeline (YOLOX-nano persons, MoveNet MultiPose
keypoints, ByteTrack, motion gating) at the product's 5 analysed frames per second.

UP-Fall (see data/upfall_falls/SOURCE.md): five kinds of fall × 2 trials, each seen by two
synchronised cameras (Cam1 frontal at chest height, Cam2 elevated like CCTV), 7-8 s clips in
which the person falls after 1-3 s and lies until the end; negatives on Cam2: walking (A6),
standing (A7), picking up an object (A9). Cam2 also shows a second person seated all along,
who must never be signalled. A fall counts as found when a signal starts no earlier than 2 s
before the fall's onset and is raised once the person is on the ground, with its box on the
faller (the seated person sits in the right quarter of Cam2). The clips are short, so the
minimum duration here is 2 s, not the product default (5 s); the delay is measured from the
on-ground frame of gt_events.csv to the signal. Negatives are analysed for their first 30 s.
The scene passes the pose model's persons to the situation (`Scene.poses`): YOLOX-nano loses
most people once they lie down, MoveNet keeps them (docs/situations/person_on_ground.md).

Run with `-s` to see the figures: `pytest tests/integration/test_person_on_ground_real.py -s`.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from veilleur.config import SiteConfig, parse_config
from veilleur.pipeline import CameraPipeline
from veilleur.sources import VideoSource
from veilleur.types import Signal

pytestmark = pytest.mark.integration

FPS = 18.0
MIN_DURATION_S = 2.0
EARLY_TOLERANCE_S = 2.0
#: Cam2's seated person sits right of this (0..1 of the width); the fallers land left of it.
SEATED_X = 0.72
#: Negatives longer than this are analysed up to here, to keep the test fast (the full clips,
#: 45 s of UP-Fall A6 and A7 and 80 s of PETS, raised no signal either when last measured).
NEGATIVE_MAX_S = 30.0


@dataclass(frozen=True)
class Truth:
    stem: str
    fall: bool
    onset_s: float = 0.0
    ground_s: float = 0.0


def load_truth(folder: Path) -> list[Truth]:
    rows = [r for r in (folder / "gt_events.csv").read_text().splitlines() if not r.startswith("#")]
    out = []
    for r in csv.reader(rows):
        if r[2] == "fall":
            out.append(Truth(r[0], True, int(r[3]) / FPS, int(r[4]) / FPS))
        else:
            out.append(Truth(r[0], False))
    return out


def site(yolox: Path) -> dict:
    return {
        "perception": {"detector": "yolox-nano", "model_path": str(yolox)},
        "cameras": {
            "cam": {
                "source": "file",
                "analysis_fps": 5,
                "situations": {
                    "person_on_ground": {"enabled": True, "min_duration_s": MIN_DURATION_S}
                },
            }
        },
    }


def analyse(
    video: Path, config: SiteConfig, models: CameraPipeline, until_s: float = math.inf
) -> tuple[list[Signal], CameraPipeline]:
    """A fresh pipeline (tracker, scene, situation) on the models `models` has loaded."""
    pipe = CameraPipeline("cam", config, detector=models.detector, pose=models.pose)
    with VideoSource(str(video), analysis_fps=5) as src:
        frames = itertools.takewhile(lambda f: f.t <= until_s, src.frames())
        signals = list(pipe.run(frames))
    return signals, pipe


@dataclass
class Figures:
    found: dict[str, list[bool]] = field(default_factory=dict)
    delays: dict[str, list[float]] = field(default_factory=dict)
    misplaced: list[str] = field(default_factory=list)
    false_alarms: dict[str, int] = field(default_factory=dict)
    pose_ms: list[float] = field(default_factory=list)


def matches(s: Signal, truth: Truth) -> bool:
    return (
        truth.onset_s - EARLY_TOLERANCE_S <= s.start_s
        and s.end_s >= truth.ground_s - 0.5
        and (s.bbox[0] + s.bbox[2]) / 2 < SEATED_X
    )


@pytest.fixture(scope="module")
def figures(shared_data: Path, yolox_path: Path) -> Figures:
    folder = shared_data / "upfall_falls"
    assert folder.exists(), f"{folder} is missing from the shared data"
    config = parse_config(site(yolox_path))
    models = CameraPipeline("cam", config)
    out = Figures()
    for truth in load_truth(folder):
        for cam in ("Cam1", "Cam2"):
            video = folder / f"{truth.stem}{cam}.mp4"
            if not video.exists():
                continue
            until = math.inf if truth.fall else NEGATIVE_MAX_S
            signals, pipe = analyse(video, config, models, until)
            out.pose_ms.append(pipe.clock.ms_per_frame()["pose"])
            name = f"{truth.stem}{cam}"
            if not truth.fall:
                out.false_alarms[name] = len(signals)
                print(f"\n{name} (no fall): {len(signals)} signal(s)")
                continue
            hits = [s for s in signals if matches(s, truth)]
            out.found.setdefault(cam, []).append(bool(hits))
            if hits:
                out.delays.setdefault(cam, []).append(hits[0].end_s - truth.ground_s)
            out.misplaced += [name for s in signals if not matches(s, truth)]
            print(
                f"\n{name}: onset {truth.onset_s:.2f} s, on the ground {truth.ground_s:.2f} s, "
                f"signals {[(round(s.start_s, 2), round(s.end_s, 2)) for s in signals]}"
            )
    pets = shared_data / "pets2009_s2l1" / "vtest_PETS2009_S2L1_View001.avi"
    if pets.exists():
        signals, _ = analyse(pets, config, models, NEGATIVE_MAX_S)
        out.false_alarms["pets_s2l1"] = len(signals)
        print(
            f"\nPETS S2L1 (walking people, first {NEGATIVE_MAX_S:.0f} s): {len(signals)} signal(s)"
        )
    return out


def test_falls_found_on_both_cameras(figures: Figures) -> None:
    for cam, found in sorted(figures.found.items()):
        delays = figures.delays.get(cam, [])
        print(
            f"\n{cam}: recall {sum(found)}/{len(found)}, delay from on-ground to signal "
            f"median {np.median(delays):.2f} s, max {max(delays):.2f} s "
            f"(min duration {MIN_DURATION_S} s)"
        )
    print(
        f"\npose model: {np.mean(figures.pose_ms):.1f} ms per analysed frame (wall, mean of clips)"
    )
    # Measured: Cam1 10/10, Cam2 10/10.
    assert len(figures.found["Cam1"]) == len(figures.found["Cam2"]) == 10
    assert sum(figures.found["Cam1"]) >= 9
    assert sum(figures.found["Cam2"]) >= 9


def test_signal_comes_soon_after_the_person_is_down(figures: Figures) -> None:
    delays = [d for ds in figures.delays.values() for d in ds]
    # Measured: median 1.9 s, max 2.3 s with a 2 s minimum duration: the first lying posture
    # is often seen before the frame annotated 'on the ground'.
    assert np.median(delays) <= MIN_DURATION_S + 0.5
    assert max(delays) <= MIN_DURATION_S + 1.5


def test_no_signal_on_the_wrong_person(figures: Figures) -> None:
    # No second signal in a fall clip, none on the seated person.
    assert figures.misplaced == []


def test_no_false_alarm_on_walking_standing_picking_up(figures: Figures) -> None:
    print(f"\nfalse alarms: {figures.false_alarms}")
    assert set(figures.false_alarms) >= {
        "Activity6_S1_Trial1Cam2",
        "Activity7_S1_Trial1Cam2",
        "Activity9_S1_Trial1Cam2",
    }
    assert sum(figures.false_alarms.values()) == 0
