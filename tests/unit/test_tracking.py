"""The ByteTrack wrapper: ids inside one camera, classes kept apart, low scores only continue."""

from __future__ import annotations

import numpy as np

from veilleur.perception.tracking import ByteTracker
from veilleur.types import Detections


def dets(boxes: list[list[float]], conf: list[float], cls: list[int]) -> Detections:
    return Detections(xyxy=boxes or np.zeros((0, 4)), confidence=conf, class_id=cls)


def test_ids_persist_for_moving_boxes_and_differ_between_objects() -> None:
    tr = ByteTracker(frame_rate=5, min_hits=2)
    ids = []
    for i in range(10):
        out = tr.update(
            dets([[10 + 4 * i, 10, 40 + 4 * i, 90], [200, 50, 230, 130 - i]], [0.9, 0.8], [0, 0]),
            t=i / 5,
        )
        ids.append(sorted(out.track_id.tolist()))
    assert ids[0] == []  # not confirmed before min_hits frames
    assert all(x == ids[2] for x in ids[2:]) and len(set(ids[2])) == 2


def test_classes_are_tracked_apart() -> None:
    tr = ByteTracker(frame_rate=5, min_hits=1)
    for i in range(4):
        out = tr.update(dets([[0, 0, 50, 50], [0, 0, 50, 50]], [0.9, 0.9], [0, 2]), t=i / 5)
    assert len(out) == 2 and len(set(out.track_id.tolist())) == 2
    assert sorted(out.class_id.tolist()) == [0, 2]


def test_low_scores_continue_but_never_start_a_track() -> None:
    tr = ByteTracker(frame_rate=5, min_hits=1, high_confidence=0.6)
    for i in range(5):
        out = tr.update(dets([[300, 300, 330, 380]], [0.3], [0]), t=i / 5)
        assert len(out) == 0  # a low score alone never makes a track
    for i in range(5, 8):
        out = tr.update(dets([[10 + 3 * i, 10, 40 + 3 * i, 90]], [0.9], [0]), t=i / 5)
    tid = out.track_id.tolist()
    for i in range(8, 12):  # the same object fades to a low score: still the same track
        out = tr.update(dets([[10 + 3 * i, 10, 40 + 3 * i, 90]], [0.3], [0]), t=i / 5)
        assert out.track_id.tolist() == tid


def test_track_forgotten_after_lost_time() -> None:
    tr = ByteTracker(frame_rate=5, min_hits=1, lost_s=1.0)
    box = [[10, 10, 40, 90]]
    for i in range(3):
        first = tr.update(dets(box, [0.9], [0]), t=i / 5).track_id.tolist()
    for i in range(3, 20):  # 3.4 s without the object
        tr.update(dets([], [], []), t=i / 5)
    again = tr.update(dets(box, [0.9], [0]), t=4.0)
    again = tr.update(dets(box, [0.9], [0]), t=4.2).track_id.tolist()
    assert again and again != first
