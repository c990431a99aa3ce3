"""Multi-object tracking inside one camera, behind a small interface of ours.

The `trackers` package (ByteTrack) does the association; its API has moved between releases, so
it is only touched here. Track ids are small integers that live in this object's memory: they
are never stored, exported or matched across cameras (SPEC S1).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Protocol

import numpy as np

from veilleur.perception.nms import iou_matrix
from veilleur.types import PERSON, VEHICLE_CLASSES, Detections

if TYPE_CHECKING:
    from trackers.utils.iou import BaseIoU


class Tracker(Protocol):
    def update(self, detections: Detections, t: float) -> Detections:
        """Link `detections` (found at time `t`, seconds) to tracks; returns only the
        detections that belong to a track, with `track_id` set."""
        ...


class ByteTracker:
    """ByteTrack from the `trackers` package, one instance per group of classes.

    Persons and vehicles are tracked separately so that a box never changes class inside one
    track; ids stay unique across groups because each group's id is offset.
    """

    _GROUP_STRIDE = 1_000_000_000

    def __init__(
        self,
        *,
        lost_s: float = 2.0,
        high_confidence: float = 0.5,
        activation_confidence: float | None = None,
        min_iou: float = 0.1,
        min_hits: int = 2,
        frame_rate: float = 5.0,
        association: str = "iou",
        centre_reach: float = 0.75,
    ) -> None:
        """`association`: how a detection is scored against a track's predicted box, "iou"
        (ByteTrack's overlap) or "centre" (`centre_similarity`: how near their centres are for
        their height, which still links a walker whose box moved off its previous one, as
        happens at 2.5 frames per second; docs/pipeline.md)."""
        if association not in ("iou", "centre"):
            raise ValueError(f"unknown association '{association}' (known: iou, centre)")
        self.association = association
        self.centre_reach = centre_reach
        self._params = {
            "lost_s": lost_s,
            "high_confidence": high_confidence,
            "activation_confidence": activation_confidence
            if activation_confidence is not None
            else high_confidence,
            "min_iou": min_iou,
            "min_hits": min_hits,
            "frame_rate": frame_rate,
        }
        self._groups: dict[int, object] = {}

    @staticmethod
    def _group_of(class_id: int) -> int:
        if class_id == PERSON:
            return 0
        if class_id in VEHICLE_CLASSES:
            return 1
        return 2 + class_id

    def _tracker(self, group: int) -> object:
        tracker = self._groups.get(group)
        if tracker is None:
            from trackers import ByteTrackTracker

            p = self._params
            tracker = ByteTrackTracker(
                # `trackers` turns the buffer into time as `buffer / 30` whatever the frame
                # rate (trackers 2.6: maximum_time_without_update), so express seconds at 30.
                lost_track_buffer=max(1, round(float(p["lost_s"]) * 30.0)),
                frame_rate=float(p["frame_rate"]),
                track_activation_threshold=float(p["activation_confidence"]),
                minimum_consecutive_frames=int(p["min_hits"]),
                minimum_iou_threshold=float(p["min_iou"]),
                high_conf_det_threshold=float(p["high_confidence"]),
                iou=_centre_metric(self.centre_reach) if self.association == "centre" else None,
            )
            self._groups[group] = tracker
        return tracker

    def update(self, detections: Detections, t: float) -> Detections:
        import supervision as sv

        groups = np.array([self._group_of(int(c)) for c in detections.class_id], dtype=np.int64)
        # Every known group must see every frame, even an empty one, so its tracks age.
        active = set(self._groups) | {int(g) for g in groups}
        parts: list[Detections] = []
        for group in sorted(active):
            idx = np.flatnonzero(groups == group)
            sub = detections[idx]
            svd = sv.Detections(
                xyxy=sub.xyxy.astype(np.float32),
                confidence=sub.confidence.astype(np.float32),
                class_id=sub.class_id.astype(int),
                data={"_row": np.arange(len(sub))},
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self._tracker(group).update(svd, timestamp=t)  # type: ignore[attr-defined]
            if len(out) == 0 or out.tracker_id is None:
                continue
            keep = np.asarray(out.tracker_id) >= 0
            if not keep.any():
                continue
            rows = np.asarray(out.data["_row"])[keep]
            tracked = sub[rows]
            tracked.track_id = np.asarray(out.tracker_id)[keep].astype(np.int64) + (
                group * self._GROUP_STRIDE
            )
            parts.append(tracked)
        return Detections.concat(parts)

    def lost(self, class_id: int = PERSON) -> Detections:
        """Where the tracks of `class_id`'s group that the latest frame did not match are
        predicted to be (their motion model's box), for as long as they are kept: the detector
        lost them, the things may still be there (privacy masking blurs these boxes)."""
        tracker = self._groups.get(self._group_of(class_id))
        tracks = [t for t in getattr(tracker, "tracks", ()) if t.time_since_update > 0]
        if not tracks:
            return Detections.empty()
        boxes = np.array([t.get_state_bbox() for t in tracks], dtype=np.float32).reshape(-1, 4)
        n = len(boxes)
        return Detections(
            xyxy=boxes,
            confidence=np.zeros(n, dtype=np.float32),
            class_id=np.full(n, class_id, dtype=np.int32),
        )

    def reset(self) -> None:
        self._groups.clear()


def centre_similarity(tracks: np.ndarray, boxes: np.ndarray, reach: float = 0.75) -> np.ndarray:
    """How well each box (N×4 and M×4, x1 y1 x2 y2) continues each track's predicted box, in
    [0, 1]: 1 − the distance between their centres over `reach` times their mean height,
    times the ratio of their heights (a person does not halve in 0.4 s), and never less than
    their overlap (IoU). A pedestrian walks about half their height in 0.4 s: their boxes no
    longer overlap when frames are that far apart, their centres are still the nearest."""
    ca = (tracks[:, None, :2] + tracks[:, None, 2:]) / 2
    cb = (boxes[None, :, :2] + boxes[None, :, 2:]) / 2
    ha = np.maximum(tracks[:, 3] - tracks[:, 1], 1.0)[:, None]
    hb = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)[None, :]
    distance = np.linalg.norm(ca - cb, axis=2)
    near = np.clip(1.0 - distance / (reach * (ha + hb) / 2), 0.0, 1.0)
    similarity = near * np.minimum(ha, hb) / np.maximum(ha, hb)
    return np.maximum(similarity, iou_matrix(tracks, boxes))


def _centre_metric(reach: float) -> BaseIoU:
    """`centre_similarity` as the `trackers` package's association metric (its BaseIoU)."""
    from trackers.utils.iou import BaseIoU

    class CentreSimilarity(BaseIoU):
        def _compute(self, boxes_1: np.ndarray, boxes_2: np.ndarray) -> np.ndarray:
            return centre_similarity(boxes_1, boxes_2, reach)

    return CentreSimilarity()
