"""`CameraPipeline(privacy_cues=False)` (what `analyze` runs: nothing is blurred there) stops
the detector at the tracker's lowest score instead of the privacy score, and changes nothing
the tracker, the scene or the situations see."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from veilleur.config import parse_config
from veilleur.evaluation import pets
from veilleur.pipeline import CameraPipeline
from veilleur.sources import open_source


def test_without_privacy_cues_the_tracks_and_signals_are_the_same(
    pets_dir: Path, yolox_path: Path
) -> None:
    site = parse_config(pets.site_config(yolox_path))
    with_cues = CameraPipeline("pets", site)
    without = CameraPipeline("pets", site, privacy_cues=False)
    assert with_cues.privacy_confidence < without.privacy_confidence == without.low_confidence
    assert without.detector.confidence == without.low_confidence  # type: ignore[attr-defined]
    fewer = 0
    video = pets_dir / "vtest_PETS2009_S2L1_View001.avi"
    with open_source(str(video), analysis_fps=5) as source:
        for i, frame in enumerate(source.frames()):
            a = with_cues.process(frame)
            b = without.process(frame)
            assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
            np.testing.assert_array_equal(with_cues.tracked.xyxy, without.tracked.xyxy)
            np.testing.assert_array_equal(with_cues.tracked.track_id, without.tracked.track_id)
            fewer += len(with_cues._last_detections) - len(without._last_detections)
            if i == 40:
                break
    assert fewer > 0  # the privacy score really kept more boxes, which the tracker ignored
