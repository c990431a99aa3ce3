"""A camera's geometry in pixels: zones, lines, and the ground-plane calibration."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon

from veilleur.config.model import CameraConfig


@dataclass(frozen=True)
class ZoneGeometry:
    name: str
    polygon: Polygon
    """In pixels of the analysed frame."""
    direction: np.ndarray | None
    """Allowed direction as a unit vector in pixels, or None."""

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which of the (N, 2) pixel points are inside (edges count as inside)."""
        if len(points) == 0:
            return np.zeros(0, dtype=bool)
        inside = shapely.contains_xy(self.polygon, points[:, 0], points[:, 1])
        on_edge = shapely.intersects_xy(self.polygon.boundary, points[:, 0], points[:, 1])
        return np.asarray(inside | on_edge, dtype=bool)


@dataclass(frozen=True)
class LineGeometry:
    name: str
    a: np.ndarray
    b: np.ndarray
    forbidden_side: str

    def side(self, p: np.ndarray) -> float:
        """Positive on the right-hand side walking from `a` to `b` (image y points down)."""
        d = self.b - self.a
        return float(d[0] * (p[1] - self.a[1]) - d[1] * (p[0] - self.a[0]))

    def crossing(self, p: np.ndarray, q: np.ndarray) -> str | None:
        """'left' or 'right' (the side moved onto) if the step p→q crosses the segment."""
        # A point exactly on the line counts as left, so a step onto it and off it is one crossing.
        sq_right = self.side(q) > 0
        if (self.side(p) > 0) == sq_right:
            return None
        # The step must also cross the segment's supporting line within the segment.
        r = q - p
        s = self.b - self.a
        denom = r[0] * s[1] - r[1] * s[0]
        if abs(denom) < 1e-12:
            return None
        ap = self.a - p
        u = (ap[0] * r[1] - ap[1] * r[0]) / denom
        if not 0.0 <= u <= 1.0:
            return None
        return "right" if sq_right else "left"


class Ground:
    """Image pixels ↔ ground-plane metres, from a homography fitted on calibration points."""

    def __init__(self, image_px: np.ndarray, ground_m: np.ndarray) -> None:
        h, _ = cv2.findHomography(image_px.astype(np.float64), ground_m.astype(np.float64), 0)
        if h is None or not np.all(np.isfinite(h)):
            raise ValueError(
                "the calibration points do not define a ground plane (three of them on one "
                "line?); choose points spread over the ground"
            )
        self.h = h

    def to_metres(self, points_px: np.ndarray) -> np.ndarray:
        pts = np.asarray(points_px, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self.h).reshape(-1, 2)

    def local_direction(self, at_px: np.ndarray, direction_px: np.ndarray) -> np.ndarray:
        """The image direction `direction_px` at `at_px`, as a unit vector on the ground."""
        step = 5.0 * direction_px / max(float(np.linalg.norm(direction_px)), 1e-9)
        a, b = self.to_metres(np.stack([at_px, at_px + step]))
        v = b - a
        return np.asarray(v / max(float(np.linalg.norm(v)), 1e-9))


@dataclass(frozen=True)
class CameraGeometry:
    width: int
    height: int
    zones: dict[str, ZoneGeometry]
    lines: dict[str, LineGeometry]
    ground: Ground | None

    @classmethod
    def build(cls, camera: CameraConfig, width: int, height: int) -> CameraGeometry:
        scale = np.array([width, height], dtype=np.float64)
        zones: dict[str, ZoneGeometry] = {}
        for name, z in camera.zones.items():
            pts = np.asarray(z.polygon, dtype=np.float64) * scale
            poly = Polygon(pts)
            shapely.prepare(poly)
            direction = None
            if z.direction is not None:
                d = np.asarray(z.direction, dtype=np.float64) * scale
                direction = d / np.linalg.norm(d)
            zones[name] = ZoneGeometry(name, poly, direction)
        lines = {
            name: LineGeometry(
                name,
                np.asarray(ln.points[0], dtype=np.float64) * scale,
                np.asarray(ln.points[1], dtype=np.float64) * scale,
                ln.forbidden_side,
            )
            for name, ln in camera.lines.items()
        }
        ground = None
        if camera.calibration is not None:
            ground = Ground(
                np.asarray(camera.calibration.image_points, dtype=np.float64) * scale,
                np.asarray(camera.calibration.ground_points, dtype=np.float64),
            )
        return cls(width, height, zones, lines, ground)

    def to_unit_box(self, xyxy: np.ndarray) -> tuple[float, float, float, float]:
        """A pixel box as 0..1 image coordinates, clipped to the image."""
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        w, h = float(self.width), float(self.height)
        return (
            min(max(x1 / w, 0.0), 1.0),
            min(max(y1 / h, 0.0), 1.0),
            min(max(x2 / w, 0.0), 1.0),
            min(max(y2 / h, 0.0), 1.0),
        )
