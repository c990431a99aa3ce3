"""Video input: files, network streams and capture devices (PyAV)."""

from veilleur.sources.video import (
    EVENT_KINDS,
    NETWORK_SCHEMES,
    SourceError,
    SourceEvent,
    SourceInfo,
    VideoSource,
    open_source,
    redact,
)

__all__ = [
    "EVENT_KINDS",
    "NETWORK_SCHEMES",
    "SourceError",
    "SourceEvent",
    "SourceInfo",
    "VideoSource",
    "open_source",
    "redact",
]
