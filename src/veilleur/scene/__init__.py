"""Per-camera scene state built from perception: tracks, zones, lines, ground plane."""

from veilleur.scene.geometry import CameraGeometry, Ground, LineGeometry, ZoneGeometry
from veilleur.scene.state import LineCrossing, Scene, TrackPoint, TrackState

__all__ = [
    "CameraGeometry",
    "Ground",
    "LineCrossing",
    "LineGeometry",
    "Scene",
    "TrackPoint",
    "TrackState",
    "ZoneGeometry",
]
