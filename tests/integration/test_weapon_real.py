"""`weapon` on real footage: what the default (COCO knives near a wrist) raises where there is
no weapon, and what the detector reports as a knife at all.

No footage here shows a weapon, so nothing measures recall: these clips measure false alarms
only — PETS 2009 S2L1 (people walking on a plaza, some carrying bags and papers; elevated CCTV)
and UP-Fall clips in a hall (a person walking, standing, picking an object up from the floor,
another seated; elevated camera). The pose model runs, as in production.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.pipeline import CameraPipeline
from veilleur.situations.weapon import KNIFE
from veilleur.sources import VideoSource
from veilleur.types import Signal

pytestmark = pytest.mark.integration


def analyse(video: Path, model: Path) -> tuple[list[Signal], int, int, dict[str, float]]:
    """Weapon signals, knife detections at any score (≥ 0.1) and at the default's threshold,
    and ms per analysed frame of the pose and situation stages."""
    site = parse_config(
        {
            "perception": {"detector": "yolox-nano", "model_path": str(model)},
            "cameras": {
                "cam": {
                    "source": str(video),
                    "analysis_fps": 5,
                    "situations": {"weapon": {"enabled": True}},
                }
            },
        }
    )
    pipe = CameraPipeline("cam", site)
    threshold = pipe.situations[0].config.knife_confidence  # type: ignore[attr-defined]
    signals: list[Signal] = []
    any_knife = high_knife = 0
    with VideoSource(str(video), analysis_fps=5) as src:
        for frame in src.frames():
            signals += pipe.process(frame)
            # The detector's own output, below the pipeline's reporting threshold too.
            scores = pipe._last_detections.confidence[pipe._last_detections.class_id == KNIFE]
            any_knife += int(np.count_nonzero(scores >= 0.1))
            high_knife += int(np.count_nonzero(scores >= threshold))
    ms = pipe.clock.ms_per_frame()
    return signals, any_knife, high_knife, {k: ms[k] for k in ("pose", "situations")}


CLIPS = [
    ("pets2009_s2l1", "vtest_PETS2009_S2L1_View001.avi"),
    ("upfall_falls", "Activity6_S1_Trial1Cam2.mp4"),
    ("upfall_falls", "Activity7_S1_Trial1Cam2.mp4"),
    ("upfall_falls", "Activity9_S1_Trial1Cam2.mp4"),
]


@pytest.mark.parametrize(("folder", "name"), CLIPS)
def test_no_weapon_signal_without_a_weapon(
    shared_data: Path, yolox_path: Path, folder: str, name: str
) -> None:
    signals, any_knife, high_knife, ms = analyse(shared_data / folder / name, yolox_path)
    print(
        f"\n{name}: {len(signals)} weapon signals; knife boxes from the detector: "
        f"{any_knife} at score >= 0.1, {high_knife} at the default threshold; "
        f"pose {ms['pose']:.1f} ms, situation {ms['situations']:.2f} ms per analysed frame"
    )
    assert signals == [], [s.to_dict() for s in signals]
