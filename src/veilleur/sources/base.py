"""What every video source is: the `Source` protocol and the types it hands out.

A source turns an address into a stream of `veilleur.types.Frame`, sampled at the analysis
rate, with times taken from the stream's own timestamps. What goes wrong on the way is reported
as `SourceEvent`s and never ends the video silently. Callers open one with
`veilleur.sources.open_source` and see only this protocol; `pyav.PyAVSource` is the reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from veilleur.types import Frame

#: Every `SourceEvent.kind` a source emits.
EVENT_KINDS: tuple[str, ...] = (
    "corrupt_data",
    "stream_dropped",
    "reconnected",
    "gave_up",
    "end_of_stream",
    "no_timestamps",
)


@dataclass(frozen=True)
class SourceInfo:
    """What was opened. `width`/`height` are the stream's own size (frames may be resized)."""

    uri: str
    """The URI as given, with any password replaced by `***`."""
    width: int
    height: int
    fps: float | None
    codec: str
    duration_s: float | None
    is_live: bool


@dataclass(frozen=True)
class SourceEvent:
    """Something the operator must know about, so that nothing is lost silently.

    `kind` is one of "corrupt_data", "stream_dropped", "reconnected", "gave_up",
    "end_of_stream", or "no_timestamps" (the stream carries no timestamps; times are derived from
    the frame rate instead).
    """

    kind: str
    t: float
    """Stream time in seconds when it happened (best known)."""
    message: str


class SourceError(Exception):
    """The source cannot be opened at all; the message names the URI, the cause, what to check."""

    def __init__(self, message: str, uri: str = "") -> None:
        super().__init__(message)
        self.uri = uri


@runtime_checkable
class Source(Protocol):
    """An opened video source (opening raises `SourceError` when it is impossible).

    `frames()` yields BGR frames, sampled at the analysis rate, until the end of the video or
    until reconnection gives up; it may be abandoned and called again to continue where it
    stopped. `events` holds the most recent problems (also passed to the `on_event` given at
    opening). `close()` may be called twice, or from another thread.
    """

    @property
    def info(self) -> SourceInfo:
        """What was opened (the URI with its password redacted)."""
        ...

    @property
    def events(self) -> list[SourceEvent]:
        """The most recent problems, oldest first."""
        ...

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
