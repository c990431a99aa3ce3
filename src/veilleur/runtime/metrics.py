"""Prometheus metrics of the runtime, in a registry of their own that the API exposes at
`/metrics` (`render()`), so nothing else of the process is published by accident."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    generate_latest,
)

from veilleur.runtime.events import CAMERA_STATES

REGISTRY = CollectorRegistry(auto_describe=True)

CAMERA_FPS = Gauge(
    "veilleur_camera_fps", "Frames analysed per second", ["camera"], registry=REGISTRY
)
CAMERA_LAG = Gauge(
    "veilleur_camera_lag_seconds",
    "How late the latest analysed frame was finished, compared with its place in the stream",
    ["camera"],
    registry=REGISTRY,
)
CAMERA_DROPPED = Counter(
    "veilleur_camera_dropped_frames",
    "Frames decoded but not analysed because a newer frame had arrived (load shedding)",
    ["camera"],
    registry=REGISTRY,
)
CAMERA_RESTARTS = Counter(
    "veilleur_camera_restarts",
    "Camera worker restarts after a crash or a stall",
    ["camera"],
    registry=REGISTRY,
)
CAMERA_LOST = Counter(
    "veilleur_camera_lost_frames",
    "Frames no analysis saw while the camera's analysis was down (crash, stall, node lost)",
    ["camera"],
    registry=REGISTRY,
)
CAMERA_DETECTOR_MS = Gauge(
    "veilleur_camera_detector_ms",
    "Mean time of one detector request of the camera, queueing in the pool included (ms)",
    ["camera"],
    registry=REGISTRY,
)
CAMERA_FRAMES = Counter("veilleur_camera_frames", "Frames analysed", ["camera"], registry=REGISTRY)
CAMERA_STATE = Enum(
    "veilleur_camera_state",
    "State of the camera's processing",
    ["camera"],
    states=list(CAMERA_STATES),
    registry=REGISTRY,
)
SIGNALS = Counter("veilleur_signals", "Signals raised", ["camera", "situation"], registry=REGISTRY)
POOL_QUEUE_DEPTH = Gauge(
    "veilleur_detector_queue_depth",
    "Requests waiting behind the one the detector pool takes (mean over the last second)",
    ["pool"],
    registry=REGISTRY,
)
POOL_INFERENCE_MS = Gauge(
    "veilleur_detector_inference_ms",
    "Mean inference time of one request in the detector pool process (ms)",
    ["pool"],
    registry=REGISTRY,
)
POOL_REQUESTS = Counter(
    "veilleur_detector_requests", "Detector requests served", ["pool"], registry=REGISTRY
)
POOL_RESTARTS = Counter(
    "veilleur_detector_pool_restarts",
    "Detector pool process restarts after a crash or a stall",
    ["pool"],
    registry=REGISTRY,
)

DELIVERIES_WAITING = Gauge(
    "veilleur_deliveries_waiting",
    "Signals, further events and statistics waiting to be stored (the store does not answer)",
    registry=REGISTRY,
)
STORE_RETRIES = Counter(
    "veilleur_store_retries",
    "Hand-overs to the store tried again because it could not be reached",
    registry=REGISTRY,
)
DELIVERIES_LOST = Counter(
    "veilleur_deliveries_lost",
    "Events still waiting for the store when the server shut down",
    registry=REGISTRY,
)


def render() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and the content type to serve them with."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
