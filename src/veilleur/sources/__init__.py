"""Video input: files, network streams and capture devices.

Open one with `open_source(uri, ...)`; what comes back is a `Source` (`base`). The modules:
`base` (the protocol and the types it hands out), `address` (what a URI names, password
redaction), `timing` (timeline, timestamp repair, sampling, pacing), `reconnect` (back-off),
`events` (the event log) and `pyav` (the PyAV reader, `PyAVSource`).
"""

from __future__ import annotations

from typing import Any

from veilleur.sources.address import NETWORK_SCHEMES, redact
from veilleur.sources.base import EVENT_KINDS, Source, SourceError, SourceEvent, SourceInfo
from veilleur.sources.pyav import PyAVSource, VideoSource


def open_source(uri: str, **kwargs: Any) -> Source:
    """Open a video file, network stream (rtsp, rtmp, http(s), ...) or capture device.

    The keyword arguments are `PyAVSource`'s (`analysis_fps`, `size`, `threads`, `reconnect`,
    `max_retries`, `on_event`, `realtime`, `loop`, ...). Raises `SourceError` when the source
    cannot be opened, `ValueError` for a meaningless argument.
    """
    return PyAVSource(uri, **kwargs)


__all__ = [
    "EVENT_KINDS",
    "NETWORK_SCHEMES",
    "PyAVSource",
    "Source",
    "SourceError",
    "SourceEvent",
    "SourceInfo",
    "VideoSource",
    "open_source",
    "redact",
]
