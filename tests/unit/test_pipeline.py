"""How the pipeline picks its models and thresholds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.perception.detector import DetectorSpec
from veilleur.pipeline import CameraPipeline
from veilleur.situations import SituationNotAvailable
from veilleur.types import Detections, Frame


def test_movenet_fallback_uses_its_own_thresholds_and_persons_only() -> None:
    # MoveNet ships inside a dependency: this runs offline on any fresh install.
    site = parse_config(
        {
            "perception": {"detector": "movenet-multipose"},
            "cameras": {
                "cam": {
                    "source": "x",
                    "zones": {"z": {"polygon": [[0, 0], [1, 0], [1, 1]]}},
                    "situations": {"zone_intrusion": {"enabled": True, "zones": ["z"]}},
                }
            },
        }
    )
    pipe = CameraPipeline("cam", site)
    assert (pipe.low_confidence, pipe.confidence) == (0.05, 0.1)
    assert pipe.detector.input_size == 384  # type: ignore[attr-defined]
    assert pipe.model_name == "movenet-multipose+bytetrack"
    out = pipe.process(Frame(np.zeros((120, 160, 3), np.uint8), 0.0, 0))
    assert out == []


def test_configured_thresholds_override_the_model_defaults() -> None:
    site = parse_config(
        {
            "perception": {"detector": "movenet-multipose", "confidence": 0.4, "input_size": 256},
            "tracking": {"low_confidence": 0.2},
            "cameras": {"cam": {"source": "x"}},
        }
    )
    pipe = CameraPipeline("cam", site)
    assert (pipe.low_confidence, pipe.confidence) == (0.2, 0.4)
    assert pipe.detector.input_size == 256  # type: ignore[attr-defined]


def test_situation_not_analysed_is_reported_not_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from veilleur import situations

    # A build without the fire_start module: enabling it must say so, not pass in silence.
    monkeypatch.delitem(situations.IMPLEMENTED, "fire_start", raising=False)
    site = parse_config(
        {"cameras": {"cam": {"source": "x", "situations": {"fire_start": {"enabled": True}}}}}
    )

    class Nothing:
        name = "none"

        def detect(self, image: np.ndarray):  # pragma: no cover - never called here
            raise AssertionError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe = CameraPipeline("cam", site, detector=Nothing())
    assert any(
        issubclass(w.category, SituationNotAvailable) and "fire_start" in str(w.message)
        for w in caught
    )
    assert pipe.situations == []


def test_unknown_camera_is_a_clear_error() -> None:
    site = parse_config({"cameras": {"cam": {"source": "x"}}})
    with pytest.raises(KeyError, match="not in the configuration"):
        CameraPipeline("other", site)


class Recording:
    """A detector factory that records what it is asked for and builds light stand-ins."""

    def __init__(self) -> None:
        self.specs: list[DetectorSpec] = []

    def __call__(self, spec: DetectorSpec, /) -> Recording.Stub:
        self.specs.append(spec)
        return Recording.Stub(spec.name)

    class Stub:
        classes = ("person",)

        def __init__(self, name: str) -> None:
            self.name = name

        def detect(self, image: np.ndarray) -> Detections:
            return Detections.empty()


def test_the_pipeline_asks_its_factory_for_the_configured_models() -> None:
    site = parse_config(
        {
            "perception": {"detector": "nanodet-m", "tiles": [2, 1], "threads": 2},
            "cameras": {
                "cam": {"source": "x", "situations": {"person_on_ground": {"enabled": True}}}
            },
        }
    )
    factory = Recording()
    pipe = CameraPipeline("cam", site, detector_factory=factory)
    detection, pose = factory.specs
    # The alias is resolved by the registry, and the model's own thresholds apply.
    assert (detection.name, detection.purpose) == ("nanodet-m-416", "detection")
    assert (pipe.low_confidence, pipe.confidence) == (0.1, 0.35)
    assert detection.confidence == pipe.privacy_confidence == 0.05
    assert detection.classes is not None and 0 in detection.classes
    assert (detection.tiles, detection.threads, detection.input_size) == ((2, 1), 2, None)
    # A situation needs postures and NanoDet gives none: the pose model is asked for too.
    assert (pose.name, pose.purpose) == ("movenet-multipose", "pose")
    assert pipe.model_name == "nanodet-m-416+movenet-multipose+bytetrack"
    assert pipe.process(Frame(np.zeros((120, 160, 3), np.uint8), 0.0, 0)) == []
