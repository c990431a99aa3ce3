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


def walker(step: float, frames: int, dt: float) -> list[tuple[float, Detections]]:
    """A person 80 px tall walking `step` px to the right per frame, `dt` s apart, and a
    second one standing still beside the path."""
    return [
        (
            i * dt,
            dets(
                [[20 + step * i, 100, 50 + step * i, 180], [40, 300, 70, 380]],
                [0.9, 0.9],
                [0, 0],
            ),
        )
        for i in range(frames)
    ]


def track_ids(tr: ByteTracker, frames: list[tuple[float, Detections]]) -> set[int]:
    seen: set[int] = set()
    for t, d in frames:
        out = tr.update(d, t=t)
        moving = out[out.xyxy[:, 1] < 200]
        seen |= set(moving.track_id.tolist())
    return seen


def test_centre_association_keeps_a_walker_whose_boxes_no_longer_overlap() -> None:
    # 40 px a frame (half the person's height, a walk at 2.5 frames per second): consecutive
    # boxes 30 px wide never overlap, so ByteTrack's IoU starts a new track at each frame
    # (never confirmed); the centre association keeps one track.
    frames = walker(step=40.0, frames=10, dt=0.4)
    assert track_ids(ByteTracker(frame_rate=2.5, association="iou"), frames) == set()
    assert len(track_ids(ByteTracker(frame_rate=2.5, association="centre"), frames)) == 1


def test_centre_similarity_scores_nearness_for_the_height_and_never_below_iou() -> None:
    from veilleur.perception.tracking import centre_similarity

    track = np.array([[0, 0, 30, 80]], dtype=np.float64)
    boxes = np.array(
        [
            [0, 0, 30, 80],  # the same box
            [40, 0, 70, 80],  # half a height away, no overlap
            [200, 0, 230, 80],  # far away
            [40, 0, 55, 40],  # as near, half as tall
        ],
        dtype=np.float64,
    )
    s = centre_similarity(track, boxes, reach=0.75)[0]
    assert s[0] == 1.0
    assert 0.3 < s[1] < 0.4  # 1 − 40 / (0.75 × 80)
    assert s[2] == 0.0
    assert s[3] < s[1] / 2 + 0.05  # a box half as tall is not the same person
    wider = centre_similarity(track, boxes, reach=1.5)[0]
    assert wider[1] > s[1]


def test_unknown_association_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown association"):
        ByteTracker(association="nearest")
