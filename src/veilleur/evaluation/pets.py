"""Truth for the geometric situations on PETS 2009 S2L1, derived from its ground-truth tracks.

PETS has no zones or directions of its own: they are drawn here on its scene (the lawn, the
centre of the plaza and the right-hand corner are forbidden zones; people on the path are
expected to walk leftwards), and the expected signals are derived from where the annotated
people's feet are, with plain code independent of the situation modules.

    python -m veilleur.evaluation.pets evaluation/   # writes pets_s2l1.yaml and its config

It also writes `pets_s2l1_cooldown.yaml`: the same clip and truth with the product's default
cool-down, to score the grouping of events into episodes per event (docs/evaluation.md).
"""

from __future__ import annotations

import copy
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from shapely import contains_xy
from shapely.geometry import Polygon

from veilleur.evaluation.truth import Clip, ExpectedSignal, TruthFile, dump_truth

W, H = 768, 576
FPS = 10.0
VIDEO = "${VEILLEUR_SHARED}/data/pets2009_s2l1/vtest_PETS2009_S2L1_View001.avi"
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
#: The truth interval of a wrong-way movement ends this long after the movement reached the
#: minimum distance: positions are smoothed over three frames and a track is confirmed after
#: two, so a signal legitimately comes a little after the raw ground truth crosses the line.
WRONG_WAY_LATENCY_S = 4.0

Track = list[tuple[float, np.ndarray, np.ndarray]]


def site_config(model_path: str | Path | None = None) -> dict[str, Any]:
    """The site configuration the truth is derived for (YOLOX-nano by default)."""
    perception: dict[str, Any] = {"detector": "yolox-nano"}
    if model_path is not None:
        perception["model_path"] = str(model_path)
    return {
        "perception": perception,
        "cameras": {
            "pets": {
                "source": VIDEO,
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


def gt_tracks(pets_dir: Path) -> dict[int, Track]:
    """Ground-truth track id → [(t, foot, box)] at 10 fps, in pixels."""
    rows = np.loadtxt(pets_dir / "gt_mot_format.txt", delimiter=",")
    tracks: dict[int, Track] = defaultdict(list)
    for r in rows:
        x, y, w, h = r[2:6]
        tracks[int(r[1])].append(
            ((r[0] - 1) / FPS, np.array([x + w / 2, y + h]), np.array([x, y, x + w, y + h]))
        )
    return tracks


def intrusion_truth(
    tracks: dict[int, Track], zone: str, margin_px: float = 0.0
) -> list[tuple[float, float]]:
    """Intervals when at least one person stood in the zone (grown by `margin_px`, shrunk when
    negative), gaps up to the grace merged, kept when they last the minimum duration."""
    polygon = Polygon(np.array(FORBIDDEN[zone]) * [W, H]).buffer(margin_px)
    occupied: set[float] = set()
    for points in tracks.values():
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


def entry_truth(tracks: dict[int, Track], zone: str) -> list[float]:
    """Times at which an annotated person entered the zone and stayed there at least the
    minimum duration: walking in after `INTRUSION_GRACE_S` or more outside it, or coming into
    the picture inside the zone at its border (a zone that reaches the image edge)."""
    polygon = Polygon(np.array(FORBIDDEN[zone]) * [W, H])
    margin = 0.03
    times = []
    for points in tracks.values():
        inside = [bool(contains_xy(polygon, f[0], f[1])) for _, f, _ in points]
        x1, y1, x2, y2 = points[0][2]
        at_border = x1 <= margin * W or y1 <= margin * H or x2 >= (1 - margin) * W
        at_border = at_border or y2 >= (1 - margin) * H
        left_at: float | None = None  # when the person last left the zone
        i = 0
        while i < len(points):
            if not inside[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(points) and inside[j + 1]:
                j += 1
            t_in, t_out = points[i][0], points[j][0]
            walked_in = i > 0 and (left_at is None or t_in - left_at >= INTRUSION_GRACE_S)
            if (walked_in or (i == 0 and at_border)) and t_out - t_in >= INTRUSION_MIN_S:
                times.append(float(t_in))
            left_at = t_out
            i = j + 1
    return sorted(times)


def wrong_way_truth(tracks: dict[int, Track], scale: float = 1.0) -> dict[int, tuple[float, float]]:
    """Ground-truth track id → (start, time) of its first movement of `scale` × the minimum
    distance against the path's direction (net movement within the tolerance angle, inside the
    window, feet in the path zone)."""
    path = Polygon(np.array(PATH) * [W, H])
    d = np.array(PATH_DIRECTION) * [W, H]
    d /= np.linalg.norm(d)
    cos_tol = np.cos(np.radians(WRONG_WAY_TOL_DEG))
    min_px = WRONG_WAY_MIN * H * scale
    events: dict[int, tuple[float, float]] = {}
    for tid, points in tracks.items():
        inside = [(t, f) for t, f, _ in points if contains_xy(path, f[0], f[1])]
        for j, (tj, fj) in enumerate(inside):
            for ti, fi in inside[:j]:
                if tj - ti > WRONG_WAY_WINDOW_S:
                    continue
                v = fj - fi
                n = float(np.linalg.norm(v))
                if n > 0 and -(v @ d) >= min_px and -(v @ d) / n >= cos_tol:
                    events[tid] = (ti, tj)
                    break
            if tid in events:
                break
    return events


#: The truth's foot is the bottom of a full-body box drawn even where the person is hidden; the
#: detector's is the bottom of what it sees. Near a zone's edge they differ by some pixels:
#: episodes seen with the zone shrunk by this margin are required, the other episodes seen with
#: it grown are optional (borderline).
EDGE_MARGIN_PX = 15.0


def truth_clip(pets_dir: Path, config: str) -> Clip:
    """The PETS clip with its expected intrusion episodes and wrong-way movements."""
    tracks = gt_tracks(pets_dir)
    expected = []
    for zone in FORBIDDEN:
        required = intrusion_truth(tracks, zone, -EDGE_MARGIN_PX)
        for a, b in intrusion_truth(tracks, zone, EDGE_MARGIN_PX):
            needed = any(a <= rb and ra <= b for ra, rb in required)
            expected.append(
                ExpectedSignal(
                    situation="zone_intrusion", zone=zone, start_s=a, end_s=b, optional=not needed
                )
            )
    positives = wrong_way_truth(tracks, 1.0)
    borderline = wrong_way_truth(tracks, 0.6)
    for tid, (start, when) in sorted(borderline.items(), key=lambda kv: kv[1]):
        if tid in positives:
            start, when = positives[tid]
        # Where the person was around the moment the movement became wrong-way: the signal
        # must overlap it, so one person's signal cannot stand for another's.
        boxes = np.stack(
            [b for t, _, b in tracks[tid] if when - 1.0 <= t <= when + WRONG_WAY_LATENCY_S]
        )
        box = [
            round(float(boxes[:, 0].min()) / W, 4),
            round(float(boxes[:, 1].min()) / H, 4),
            round(float(boxes[:, 2].max()) / W, 4),
            round(float(boxes[:, 3].max()) / H, 4),
        ]
        expected.append(
            ExpectedSignal(
                situation="wrong_way",
                zone="path",
                start_s=start,
                end_s=when + WRONG_WAY_LATENCY_S,
                bbox=box,
                optional=tid not in positives,
            )
        )
    return Clip(
        name="pets_s2l1",
        video=VIDEO,
        config=config,
        camera="pets",
        synthetic=False,
        note="PETS 2009 S2L1 View 1: pedestrians on a campus plaza; zones and direction drawn "
        "on the scene, expected signals derived from the ground-truth tracks",
        expected=expected,
    )


def with_default_cooldown(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with the product's default cool-down on every situation (`site_config` turns it
    off so that each truth event can be scored per signal): the signals group events into
    episodes, and the further events attached to them are scored per event."""
    out = copy.deepcopy(config)
    for camera in out["cameras"].values():
        for situation in camera["situations"].values():
            situation.pop("cooldown_s", None)
    return out


def main(argv: list[str]) -> None:
    out = Path(argv[0] if argv else "evaluation")
    shared = Path(__file__).resolve().parents[3].parent / "shared"
    out.mkdir(parents=True, exist_ok=True)
    (out / "configs").mkdir(exist_ok=True)
    variants = (
        ("pets_s2l1", site_config()),
        ("pets_s2l1_cooldown", with_default_cooldown(site_config())),
    )
    for name, config in variants:
        (out / "configs" / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        clip = truth_clip(shared / "data" / "pets2009_s2l1", f"configs/{name}.yaml")
        clip = clip.model_copy(update={"name": name})
        dump_truth(TruthFile(clips=[clip]), out / f"{name}.yaml")
        print(f"wrote {out / (name + '.yaml')} ({len(clip.expected)} expected signals)")


if __name__ == "__main__":
    main(sys.argv[1:])
