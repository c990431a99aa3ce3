from __future__ import annotations

import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.scene import CameraGeometry

CFG = parse_config(
    {
        "cameras": {
            "a": {
                "source": "x",
                "zones": {
                    "z": {"polygon": [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]], "direction": [1, 0]}
                },
                "lines": {"l": {"points": [[0, 0.5], [1, 0.5]]}},
                "calibration": {
                    "image_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
                    "ground_points": [[0, 0], [20, 0], [20, 10], [0, 10]],
                },
            }
        }
    }
).cameras["a"]


def test_zone_in_pixels_and_contains() -> None:
    g = CameraGeometry.build(CFG, 200, 100)
    z = g.zones["z"]
    pts = np.array([[150, 75], [50, 75], [100, 50], [199, 99]], dtype=float)
    assert z.contains(pts).tolist() == [True, False, True, True]
    assert z.direction is not None and np.allclose(z.direction, [1, 0])


def test_line_crossing_sides() -> None:
    g = CameraGeometry.build(CFG, 200, 100)
    line = g.lines["l"]  # from left to right along y=50; y grows downwards
    assert line.crossing(np.array([10.0, 40]), np.array([12.0, 60])) == "right"
    assert line.crossing(np.array([10.0, 60]), np.array([12.0, 40])) == "left"
    assert line.crossing(np.array([10.0, 40]), np.array([12.0, 45])) is None
    # Crossing the supporting line beyond the segment is no crossing.
    assert line.crossing(np.array([-10.0, 40]), np.array([-12.0, 60])) is None


def test_ground_plane_homography() -> None:
    g = CameraGeometry.build(CFG, 200, 100)
    assert g.ground is not None
    m = g.ground.to_metres(np.array([[100.0, 50.0], [200.0, 100.0]]))
    assert m == pytest.approx(np.array([[10.0, 5.0], [20.0, 10.0]]), abs=1e-6)
    d = g.ground.local_direction(np.array([100.0, 50.0]), np.array([0.0, 1.0]))
    assert d == pytest.approx([0.0, 1.0], abs=1e-6)


def test_unit_box_clips() -> None:
    g = CameraGeometry.build(CFG, 200, 100)
    assert g.to_unit_box(np.array([-10, 10, 100, 120])) == (0.0, 0.1, 0.5, 1.0)
