"""Running many camera pipelines live on one machine (see docs/runtime.md).

`Supervisor` starts one process per camera and a shared detector pool, restarts what crashes or
stalls, and hands `SignalEvent`s (blurred snapshot and clip, never a track id), and the
`AttachedEvent`s of their episodes, to its caller. `CameraHub` is what it shares with the
cluster runtime (`veilleur.cluster.ClusterRuntime`), and the type the server holds either as.
"""

from veilleur.runtime.events import CAMERA_STATES, AttachedEvent, CameraStatus, SignalEvent
from veilleur.runtime.hub import CameraHub
from veilleur.runtime.supervisor import Supervisor

__all__ = [
    "CAMERA_STATES",
    "AttachedEvent",
    "CameraHub",
    "CameraStatus",
    "SignalEvent",
    "Supervisor",
]
