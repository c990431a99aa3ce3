"""Running many camera pipelines live on one machine (see docs/runtime.md).

`Supervisor` starts one process per camera and a shared detector pool, restarts what crashes or
stalls, and hands `SignalEvent`s (blurred snapshot and clip, never a track id), and the
`AttachedEvent`s of their episodes, to its caller.
"""

from veilleur.runtime.events import CAMERA_STATES, AttachedEvent, CameraStatus, SignalEvent
from veilleur.runtime.supervisor import Supervisor

__all__ = ["CAMERA_STATES", "AttachedEvent", "CameraStatus", "SignalEvent", "Supervisor"]
