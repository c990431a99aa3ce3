"""The whole core on PETS 2009 S2L1: detection, tracking, and the two geometric situations,
against the ground-truth tracks.

One pass of the pipeline over the clip (analysed at 5 fps, the product default) feeds every test.
The ground truth annotates the people on the plaza, not those on the far path at the top of the
image; predictions there are ignored (`_pets.py`), as MOTChallenge does with its ignore regions.

The situation truths are derived here from the ground-truth tracks with plain code, independent
of the situation modules: the zones and direction are drawn on this scene (the lawn is the
forbidden zone; people on the path are expected to walk leftwards).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from _pets import annotated
from shapely import contains_xy
from shapely.geometry import Polygon

from veilleur.config import parse_config
from veilleur.evaluation.mot import DetectionScore, TrackingScore, iou_matrix, load_mot
from veilleur.pipeline import CameraPipeline
from veilleur.sources import VideoSource
from veilleur.types import Signal

pytestmark = pytest.mark.integration

W, H = 768, 576
LAWN = [[0.0, 0.50], [0.40, 0.60], [0.75, 0.78], [0.75, 1.0], [0.0, 1.0]]
CENTRE = [[0.45, 0.42], [0.62, 0.42], [0.62, 0.58], [0.45, 0.58]]
CORNER = [[0.85, 0.55], [1.0, 0.55], [1.0, 0.85], [0.85, 0.80]]
FORBIDDEN = {"lawn": LAWN, "centre": CENTRE, "corner": CORNER}
PATH = [[0.0, 0.30], [0.55, 0.30], [1.0, 0.45], [1.0, 0.84], [0.55, 0.66], [0.0, 0.47]]
PATH_DIRECTION = [-1.0, -0.3]
INTRUSION_MIN_S = 1.0
INTRUSION_GRACE_S = 2.0
WRONG_WAY_MIN = 0.12  # fraction of the image height
WRONG_WAY_TOL_DEG = 60.0
WRONG_WAY_WINDOW_S = 6.0


def site_config(model_path: Path) -> dict:
    return {
        "perception": {"detector": "yolox-nano", "model_path": str(model_path), "confidence": 0.3},
        "cameras": {
            "pets": {
                "source": "pets",
                "analysis_fps": 5,
                "zones": {
                    **{name: {"polygon": poly} for name, poly in FORBIDDEN.items()},
                    "path": {"polygon": PATH, "direction": PATH_DIRECTION},
                },
                "situations": {
                    "zone_intrusion": {
                        "enabled": True,
                        "zones": list(FORBIDDEN),
                        "classes": ["person"],
                        "min_duration_s": INTRUSION_MIN_S,
                        "grace_s": INTRUSION_GRACE_S,
                        "cooldown_s": 0,
                    },
                    "wrong_way": {
                        "enabled": True,
                        "zones": ["path"],
                        "classes": ["person"],
                        "min_distance": WRONG_WAY_MIN,
                        "angle_tolerance_deg": WRONG_WAY_TOL_DEG,
                        "window_s": WRONG_WAY_WINDOW_S,
                        "cooldown_s": 0,
                    },
                },
            }
        },
    }


@dataclass
class Run:
    detection: DetectionScore = field(default_factory=DetectionScore)
    tracking: TrackingScore = field(default_factory=TrackingScore)
    signals: list[Signal] = field(default_factory=list)
    frames: int = 0


@pytest.fixture(scope="module")
def pets_run(pets_dir: Path, yolox_path: Path) -> Run:
    site = parse_config(site_config(yolox_path))
    pipe = CameraPipeline("pets", site)
    truth = load_mot(pets_dir / "gt_mot_format.txt")
    run = Run()
    with VideoSource(str(pets_dir / "vtest_PETS2009_S2L1_View001.avi"), analysis_fps=5) as src:
        for frame in src.frames():
            run.signals += pipe.process(frame)
            run.frames += 1
            ids, boxes = truth.get(frame.index, (np.zeros(0, np.int64), np.zeros((0, 4))))
            dets = pipe.scene.detections
            dets = dets[(dets.class_id == 0) & annotated(dets.xyxy)]
            run.detection.add(boxes, dets.xyxy)
            tracked = pipe.tracked
            tracked = tracked[(tracked.class_id == 0) & annotated(tracked.xyxy)]
            assert tracked.track_id is not None
            run.tracking.add(ids, boxes, tracked.track_id, tracked.xyxy)
    return run


def test_every_sampled_frame_is_analysed(pets_run: Run) -> None:
    assert 395 <= pets_run.frames <= 400  # 795 pictures at 10 fps sampled at 5 fps


def test_person_detection_precision_recall(pets_run: Run) -> None:
    d = pets_run.detection
    print(f"\nPETS S2L1 person detection: precision {d.precision:.3f} recall {d.recall:.3f}")
    # Measured 0.933 / 0.907 with YOLOX-nano 416 on the full frame at confidence 0.3.
    assert d.precision >= 0.91
    assert d.recall >= 0.89


def test_tracking_mota_idf1(pets_run: Run) -> None:
    s = pets_run.tracking.summary()
    print(f"\nPETS S2L1 tracking: {s}")
    # Measured MOTA 0.830, IDF1 0.663, 35 id switches (full pipeline: motion gating and crops).
    assert s["mota"] >= 0.81
    assert s["idf1"] >= 0.62


# --- truths derived from the ground-truth tracks ------------------------------------------


def gt_feet(pets_dir: Path) -> dict[int, list[tuple[float, np.ndarray, np.ndarray]]]:
    """Ground-truth track id → [(t, foot, box)] at 10 fps."""
    rows = np.loadtxt(pets_dir / "gt_mot_format.txt", delimiter=",")
    tracks: dict[int, list[tuple[float, np.ndarray, np.ndarray]]] = defaultdict(list)
    for r in rows:
        x, y, w, h = r[2:6]
        tracks[int(r[1])].append(
            ((r[0] - 1) / 10.0, np.array([x + w / 2, y + h]), np.array([x, y, x + w, y + h]))
        )
    return tracks


def intrusion_truth(pets_dir: Path, zone: str, margin_px: float = 0.0) -> list[tuple[float, float]]:
    """Intervals when at least one person stood in the zone (grown by `margin_px`, shrunk when
    negative), gaps under the grace merged, kept when they last the minimum duration."""
    polygon = Polygon(np.array(FORBIDDEN[zone]) * [W, H]).buffer(margin_px)
    occupied: set[float] = set()
    for points in gt_feet(pets_dir).values():
        for t, foot, _ in points:
            if contains_xy(polygon, foot[0], foot[1]):
                occupied.add(round(t, 1))
    intervals: list[list[float]] = []
    for t in sorted(occupied):
        if intervals and t - intervals[-1][1] <= INTRUSION_GRACE_S:
            intervals[-1][1] = t
        else:
            intervals.append([t, t])
    return [(a, b) for a, b in intervals if b - a >= INTRUSION_MIN_S]


# The truth's foot is the bottom of a full-body box drawn even where the person is hidden;
# the detector's is the bottom of what it sees. Near a zone's edge they disagree by some pixels:
# episodes seen with the zone shrunk by this margin are required, episodes seen with it grown
# are allowed, the rest is a matter of pixels that no operator would argue about.
EDGE_MARGIN_PX = 15.0


def test_zone_intrusion_matches_ground_truth(pets_run: Run, pets_dir: Path) -> None:
    tol = 1.0
    n_signals = n_required = true_pos = found = 0
    for zone in FORBIDDEN:
        required = intrusion_truth(pets_dir, zone, -EDGE_MARGIN_PX)
        allowed = intrusion_truth(pets_dir, zone, EDGE_MARGIN_PX)
        signals = [
            s for s in pets_run.signals if s.situation == "zone_intrusion" and s.zone == zone
        ]
        assert required, f"zone {zone} should be entered in this clip"
        matched: set[int] = set()
        for s in signals:
            hits = [
                i
                for i, (a, b) in enumerate(allowed)
                if a - tol <= s.start_s <= b and s.end_s <= b + tol
            ]
            true_pos += bool(hits)
            matched.update(hits)
        for a, b in required:
            # Found when a signal matched the allowed episode that contains this one.
            found += any(allowed[i][0] <= b and a <= allowed[i][1] for i in matched)
        n_signals += len(signals)
        n_required += len(required)
        print(
            f"\nzone_intrusion {zone}: required {[(float(a), float(b)) for a, b in required]}"
            f"\n allowed {[(float(a), float(b)) for a, b in allowed]}"
            f"\n signals {[(round(s.start_s, 1), round(s.end_s, 1)) for s in signals]}"
        )
    precision = true_pos / n_signals if n_signals else 0.0
    recall = found / n_required
    print(
        f"zone_intrusion: {n_required} episodes, {n_signals} signals, "
        f"precision {precision:.2f} recall {recall:.2f}"
    )
    assert precision >= 0.95
    assert recall >= 0.95


def wrong_way_truth(pets_dir: Path, scale: float) -> dict[int, float]:
    """Ground-truth track id → first time it has moved `scale` × the minimum distance against
    the path's direction (net movement within the tolerance angle, inside the window)."""
    path = Polygon(np.array(PATH) * [W, H])
    d = np.array(PATH_DIRECTION) * [W, H]
    d /= np.linalg.norm(d)
    cos_tol = np.cos(np.radians(WRONG_WAY_TOL_DEG))
    min_px = WRONG_WAY_MIN * H * scale
    events: dict[int, float] = {}
    for tid, points in gt_feet(pets_dir).items():
        inside = [(t, f) for t, f, _ in points if contains_xy(path, f[0], f[1])]
        for j, (tj, fj) in enumerate(inside):
            for ti, fi in inside[:j]:
                if tj - ti > WRONG_WAY_WINDOW_S:
                    continue
                v = fj - fi
                n = float(np.linalg.norm(v))
                if -(v @ d) >= min_px and n > 0 and -(v @ d) / n >= cos_tol:
                    events[tid] = tj
                    break
            if tid in events:
                break
    return events


def test_wrong_way_matches_ground_truth(pets_run: Run, pets_dir: Path) -> None:
    positives = wrong_way_truth(pets_dir, 1.0)
    # Tracks that only come close to the threshold are neither required nor held against us.
    maybe = wrong_way_truth(pets_dir, 0.6)
    boxes = {tid: {round(t, 1): b for t, _, b in pts} for tid, pts in gt_feet(pets_dir).items()}
    signals = [s for s in pets_run.signals if s.situation == "wrong_way"]
    assert positives, "some people walk against the path's direction in this clip"

    def person_at(s: Signal) -> int | None:
        """The ground-truth person whose box best overlaps the signal's box when it fired."""
        best, best_iou = None, 0.1
        sig_box = np.array(s.bbox) * [W, H, W, H]
        for tid, by_t in boxes.items():
            b = by_t.get(round(s.end_s, 1))
            if b is not None:
                iou = float(iou_matrix(sig_box[None], b[None])[0, 0])
                if iou > best_iou:
                    best, best_iou = tid, iou
        return best

    found: set[int] = set()
    false_pos = duplicates = 0
    for s in signals:
        tid = person_at(s)
        if tid is not None and tid in maybe:
            duplicates += tid in found
            found.add(tid)
        else:
            false_pos += 1
    precision = 1 - false_pos / len(signals) if signals else 0.0
    recall = len(found & set(positives)) / len(positives)
    print(
        f"\nwrong_way: truth {positives} (near threshold: {sorted(set(maybe) - set(positives))})"
        f"\n signals {[(s.start_s, s.end_s) for s in signals]}"
        f"\n missed {sorted(set(positives) - found)}, {duplicates} repeated signals"
        f"\n precision {precision:.2f} recall {recall:.2f}"
    )
    # Measured 1.00 / 1.00 (14 of 14 people; 0.93 before the tracker's lost time was fixed:
    # one person inside a group of four was missed).
    assert precision >= 0.95
    assert recall >= 0.9
