"""No person left sharp in what a camera stores or shows, on real footage, checked against person
boxes the masking did not produce: the PETS 2009 S2L1 ground truth (walkers, people half hidden
behind the sign) and hand-reviewed boxes of UP-Fall clips (tests/data/upfall_person_boxes.csv:
standing, sitting, falling and lying persons, a seated bystander, passers-by behind the glass).

The real `CameraWorker` analyses every frame at 5 fps (`veilleur.evaluation.privacy_leak`); on
sampled frames the live JPEG, a signal snapshot (PETS, live mode), a calibration record's
snapshot (UP-Fall, calibration mode) and, now and then, every frame of the signal's clip
decoded back from its MP4 are compared with the original frames. A person box at least 40 px
tall whose fine detail correlates above 0.5 with the original's is left sharp. Run with
YOLOX-nano and with MoveNet MultiPose, what 'auto' uses when no model directory is set, and
with YOLOX-nano detecting on every other frame (`perception.detect_every: 2`: the frames
between are blurred from the tracks and the detections around them).
`bench/privacy_masking.py` prints the same figures on every frame.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from veilleur.evaluation.privacy_leak import KINDS, LeakTally, audit_pets, audit_upfall

pytestmark = pytest.mark.integration

BOXES = Path(__file__).resolve().parents[1] / "data" / "upfall_person_boxes.csv"
#: Sampling that keeps the test to a minute or two per model on two cores: every analysed frame
#: is masked (the background needs them all), a fraction of them is stored and measured.
PETS_EVERY, PETS_CLIP_EVERY = 20, 100
UPFALL_EVERY, UPFALL_CLIP_EVERY = 3, 18
UPFALL = ("Activity1_S1_Trial1Cam2", "Activity4_S1_Trial1Cam1", "Activity5_S1_Trial1Cam2")


@pytest.fixture(
    scope="module", params=["yolox-nano", "movenet-multipose", "yolox-nano, detect every 2"]
)
def tally(
    request: pytest.FixtureRequest, pets_dir: Path, shared_data: Path, yolox_path: Path
) -> LeakTally:
    model = None if request.param == "movenet-multipose" else yolox_path
    every = 2 if request.param.endswith("every 2") else 1
    upfall_dir = shared_data / "upfall_falls"  # part of the shared data: missing is a failure
    result = LeakTally()
    audit_pets(pets_dir, model, result, every=PETS_EVERY, clip_every=PETS_CLIP_EVERY,
               situations=False, detect_every=every)  # fmt: skip
    audit_upfall(upfall_dir, BOXES, model, result, clips=UPFALL, every=UPFALL_EVERY,
                 clip_every=UPFALL_CLIP_EVERY, detect_every=every)  # fmt: skip
    return result


def test_every_kind_of_picture_was_measured(tally: LeakTally) -> None:
    # The audit cannot pass by measuring nothing.
    for kind in KINDS:
        assert tally.persons[kind] >= 40, (kind, tally.lines())
    assert tally.pictures["clip"] >= 40, tally.lines()


def test_no_person_is_left_sharp(tally: LeakTally) -> None:
    leaks = [f"{x.kind} {x.where} {x.box} corr {x.correlation:.2f}" for x in tally.leaks]
    assert not leaks, "\n".join([*tally.lines(), *leaks])
