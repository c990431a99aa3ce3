"""What the runtime hands to the rest of the platform: signal events, the further events attached
to them, and camera statuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from veilleur.types import FurtherEvent, Signal

#: Every `CameraStatus.state`.
CAMERA_STATES: tuple[str, ...] = ("starting", "running", "stopped", "reconnecting", "failed")


class StoreUnavailable(Exception):
    """Raised by a delivery callback (`on_signal`, `on_further`, `on_statistics`) when the
    store cannot be reached for now (database down, disk full): the supervisor keeps the event
    and hands it over again later, in order, instead of losing it."""


@dataclass(frozen=True)
class SignalEvent:
    """One signal, sent from a camera worker to the main process.

    Its images are blurred in the worker (SPEC S6): no unblurred picture and no track id ever
    leaves a camera's process. `snapshot_jpeg` is empty only if the persons of that frame were
    unknown (then no image can be shown).
    """

    signal: Signal
    snapshot_jpeg: bytes
    """Blurred JPEG of the frame that raised the signal, with the signal's box drawn on it."""
    clip_mp4: bytes | None
    """Blurred H.264 MP4 of the analysed frames of the last few seconds, up to the signal."""
    known_limits: str
    """The situation's known limits, shown beside the signal (SPEC S11)."""
    wall_time: datetime
    """UTC time at which the camera worker recognised the situation."""
    mode: str = "live"
    """The camera's mode when it recognised it: 'calibration' events are only recorded for
    tuning, never shown to operators (SPEC §2)."""


@dataclass(frozen=True)
class AttachedEvent:
    """A further event of a signal's episode (during its cool-down), sent from a camera worker
    to the main process, which adds it to the stored signal (`SignalEvent.signal.episode` =
    `event.episode`). No image and nothing about who: what, where, when."""

    event: FurtherEvent
    wall_time: datetime
    """UTC time at which the camera worker recognised it."""
    mode: str = "live"
    """The camera's mode when it recognised it (as `SignalEvent.mode`)."""


@dataclass(frozen=True)
class CameraStatus:
    """Where one camera stands."""

    name: str
    state: str
    """"starting" | "running" | "stopped" | "reconnecting" | "failed"."""
    fps: float
    """Frames analysed per second, over the last few seconds."""
    lag_s: float
    """How late the latest analysed frame was finished, compared with its place in the stream."""
    dropped_frames: int
    """Frames decoded but never analysed because a newer one had arrived (load shedding)."""
    restarts: int
    """Times the camera's worker was restarted after it crashed or stalled."""
    last_error: str | None
    active_situations: list[str] = field(default_factory=list)
    lost_frames: int = 0
    """Frames of the source's time that no analysis saw because the camera's analysis was
    down (crashed, stalled, or its node lost) until its restart: the gap times the analysis
    frame rate."""
    node: str | None = None
    """Where the camera's analysis runs: the cluster node's id (None on one machine)."""
