"""Privacy masking (`veilleur.privacy.masking`): a person is hidden when any cue says one may be
there, detections or not; on generated frames with a textured 'person' on a textured floor."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from veilleur.config import PrivacyConfig, parse_config
from veilleur.evaluation.privacy_leak import SHARP_CORRELATION, detail_correlation, high_pass
from veilleur.perception.detector import DetectorSpec
from veilleur.perception.tracking import ByteTracker
from veilleur.privacy.masking import PrivacyMasker, apply_privacy
from veilleur.types import PERSON, Detections

W, H = 320, 240
RNG = np.random.default_rng(7)
FLOOR = RNG.integers(60, 120, (H, W, 3), dtype=np.uint8)
PERSON_TEXTURE = RNG.integers(150, 255, (60, 24, 3), dtype=np.uint8)


def scene(x: int, y: int = 100, contrast: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The floor with the 'person' at (x, y); returns the frame and the person's box."""
    img = FLOOR.copy()
    patch = FLOOR[y : y + 60, x : x + 24].astype(np.float64)
    person = patch + contrast * (PERSON_TEXTURE.astype(np.float64) - patch)
    img[y : y + 60, x : x + 24] = np.clip(person, 0, 255).astype(np.uint8)
    return img, np.array([x, y, x + 24, y + 60], dtype=np.float64)


def none() -> Detections:
    return Detections.empty()


def box(b: np.ndarray, score: float = 0.9) -> Detections:
    return Detections(xyxy=b[None], confidence=[score], class_id=[PERSON])


def sharp(stored: np.ndarray | None, original: np.ndarray, b: np.ndarray) -> bool:
    assert stored is not None
    return detail_correlation(stored, original, b) > SHARP_CORRELATION


def test_the_measure_tells_sharp_from_blurred() -> None:
    img, b = scene(100)
    masker = PrivacyMasker()
    hidden = apply_privacy(img, masker.update(img, 0.0, box(b)))
    assert sharp(img, img, b)  # the measure can fail: an untouched picture is sharp
    assert not sharp(hidden, img, b)


def test_no_cues_means_nothing_shown() -> None:
    img, _ = scene(100)
    masker = PrivacyMasker()
    assert masker.update(img, 0.0, None) is None
    assert apply_privacy(img, None) is None


def test_a_walking_person_no_detector_sees_is_blurred() -> None:
    masker = PrivacyMasker()
    for i in range(12):
        img, b = scene(20 + 15 * i)
        mask = masker.update(img, 0.2 * i, none())
        stored = apply_privacy(img, mask)
        if i >= 1:  # from the second frame on, it differs from the background
            assert not sharp(stored, img, b), i
            # All of the person's box, not only their pixels (a compact blob's box is hidden).
            assert mask is not None and mask.hidden.shape == (H, W)
            x1, y1, x2, y2 = b.astype(int)
            assert mask.hidden[y1 - 4 : y2 + 4, x1 - 4 : x2 + 4].all(), i
    # Away from the person, the picture is the frame as it is.
    assert stored is not None
    assert np.array_equal(stored[:40, :], img[:40, :])


def test_a_person_who_stops_unseen_stays_blurred_until_learnt() -> None:
    masker = PrivacyMasker(PrivacyConfig(learn_s=60))
    t = 0.0
    for i in range(6):  # walks in
        img, b = scene(20 + 20 * i)
        masker.update(img, t, none())
        t += 0.2
    for _ in range(100):  # then stands still for 20 s, never detected
        stored = apply_privacy(img, masker.update(img, t, none()))
        t += 0.2
        assert not sharp(stored, img, b), t


def test_a_person_seen_from_the_first_frame_is_never_learnt() -> None:
    """Detected on the first frames, then lost for good while standing still: the pixels under
    the person were never seen free of a cue, so they stay blurred (for `learn_s`)."""
    img, b = scene(100)
    masker = PrivacyMasker(PrivacyConfig(hold_s=1.0, learn_s=60))
    t = 0.0
    for i in range(100):
        stored = apply_privacy(img, masker.update(img, t, box(b) if i < 3 else none()))
        assert not sharp(stored, img, b), t
        t += 0.2


def test_a_still_person_the_detector_loses_for_a_while_is_held() -> None:
    """Seen on the first frame only, learnt background around: the held box hides them, and
    once the hold is over the foreground still does."""
    masker = PrivacyMasker(PrivacyConfig(hold_s=3.0))
    empty = FLOOR.copy()
    for i in range(10):
        masker.update(empty, 0.2 * i, none())
    img, b = scene(150)
    for i in range(40):
        mask = masker.update(img, 2.0 + 0.2 * i, box(b) if i == 0 else none())
        assert not sharp(apply_privacy(img, mask), img, b), i


def test_persons_mode_blurs_only_where_something_may_be() -> None:
    masker = PrivacyMasker()
    empty = FLOOR.copy()
    for i in range(10):
        mask = masker.update(empty, 0.2 * i, none())
    assert mask is not None and mask.cover == 0.0
    assert np.array_equal(apply_privacy(empty, mask), empty)


def test_background_mode_hides_a_faint_person_and_shows_the_background() -> None:
    """A person hardly different from the floor (no detection, below the 'persons' mode's
    difference threshold) is still hidden in the 'background' mode."""
    persons, background = PrivacyMasker(), PrivacyMasker(PrivacyConfig(mode="background"))
    empty = FLOOR.copy()
    for i in range(10):
        persons.update(empty, 0.2 * i, none())
        background.update(empty, 0.2 * i, none())
    leaked = 0
    for i in range(10):
        img, b = scene(30 + 20 * i, contrast=0.17)
        t = 2.0 + 0.2 * i
        mask = background.update(img, t, none())
        assert mask is not None and mask.background is not None
        assert not sharp(apply_privacy(img, mask), img, b), i
        leaked += sharp(apply_privacy(img, persons.update(img, t, none())), img, b)
    assert leaked > 0  # the difference between the modes is real on this clip


def test_apply_obscures_what_is_hidden_and_nothing_else() -> None:
    img, b = scene(100)
    masker = PrivacyMasker()
    boxes = Detections(xyxy=[b, b + 5.0], confidence=[0.9, 0.9], class_id=[PERSON, PERSON])
    mask = masker.update(img, 0.0, boxes)
    assert mask is not None
    out = apply_privacy(img, mask)
    assert out is not None
    assert np.array_equal(out[~mask.hidden], img[~mask.hidden])
    assert not sharp(out, img, b)
    # Both boxes, grown by their margin, and nothing more (the first frame has no foreground).
    assert mask.hidden[int(b[1]), int(b[0])] and mask.hidden[int(b[3]) + 4, int(b[2]) + 4]
    assert 0 < mask.cover < 0.1


def test_the_tracker_says_where_a_lost_person_should_be() -> None:
    tracker = ByteTracker(high_confidence=0.5, min_hits=1, frame_rate=5)
    for i in range(5):
        tracker.update(box(np.array([10.0 + 10 * i, 50, 40 + 10 * i, 130])), 0.2 * i)
    assert len(tracker.lost()) == 0
    tracker.update(none(), 1.0)
    lost = tracker.lost(PERSON)
    assert len(lost) == 1
    # Predicted a step further along its path.
    assert lost.xyxy[0, 0] > 45


def test_privacy_config_is_typed_and_strict() -> None:
    assert PrivacyConfig().mode == "persons"
    with pytest.raises(ValidationError):
        PrivacyConfig(mode="none")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PrivacyConfig(blur=True)  # type: ignore[call-arg]
    for name, f in PrivacyConfig.model_fields.items():
        assert f.description, name


def test_the_detector_returns_persons_down_to_the_privacy_score() -> None:
    from veilleur.pipeline import CameraPipeline
    from veilleur.types import Frame

    class Fixed:
        name = "fixed"
        confidence = None

        def detect(self, image: np.ndarray) -> Detections:
            return Detections(
                xyxy=[[10, 10, 40, 90], [100, 10, 130, 90]],
                confidence=[0.9, 0.06],
                class_id=[PERSON, PERSON],
            )

    site = parse_config({"cameras": {"c": {"source": "x.mp4"}}})
    pipe = CameraPipeline("c", site, detector=Fixed())
    assert pipe.privacy_confidence <= 0.05 < pipe.low_confidence
    img, _ = scene(100)
    pipe.process(Frame(img, 0.0, 0))
    cues = pipe.person_cues()
    # The 0.06 box is blurred, though the tracker never sees it.
    assert len(cues) >= 2
    assert any(abs(c[0] - 100) < 1 for c in cues.xyxy)
    assert all(abs(t[0] - 100) >= 1 for t in pipe.tracked.xyxy)


# ---------------------------------------------------------------- in a camera process


class BlindDetector:
    """A detector that never finds anyone: whatever the pictures show comes from the masking."""

    name = "blind"
    classes = ("person",)
    flexible = False
    input_size = 320

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections:
        return Detections.empty()


def blind_factory(spec: DetectorSpec) -> BlindDetector:
    return BlindDetector()


def fine_texture(jpeg: bytes) -> float:
    """Fine detail (high-pass) inside the walking 'person', a block of random bright texture:
    large on the frame as it is, near nothing once obscured (smooth edges included)."""
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    bright = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) > 150
    assert bright.sum() > 200, "the person is not on the picture"
    return float(high_pass(img)[bright].std())


def test_a_camera_whose_detector_sees_nobody_still_hides_the_walker(tmp_path: Path) -> None:
    """The real supervisor and camera process, on a generated clip of a textured 'person'
    walking, with a detector that misses them on every frame: the live picture hides them."""
    from test_runtime_supervisor import site_for, wait_for, write_clip

    from veilleur.runtime import Supervisor

    clip = write_clip(tmp_path / "walk.mp4", seconds=4)
    sup = Supervisor(site_for({"a": clip}), on_signal=lambda e: None, loop_files=True,
                     detector_factory=blind_factory)  # fmt: skip
    try:
        sup.start()
        assert wait_for(lambda: sup.latest_jpeg("a") is not None, 30), sup.status()
        time.sleep(2.5)  # the walker has moved away from where the first frame saw them
        live = sup.latest_jpeg("a")
        raw = sup.unblurred_jpeg("a", timeout_s=5)
        assert live is not None and raw is not None
        assert fine_texture(live) < 0.2 * fine_texture(raw)
    finally:
        sup.close()
