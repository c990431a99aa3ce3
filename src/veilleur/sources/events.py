"""A source's event log: bounded, with damage reports rate-limited and a faulty listener
contained."""

from __future__ import annotations

import logging
from collections.abc import Callable

from veilleur.sources.base import SourceEvent

log = logging.getLogger(__name__)

# At most one corrupt_data event per this much stream time; the rest are counted into the next.
_CORRUPT_REPORT_INTERVAL_S = 1.0
# `events` keeps the most recent ones only, so a camera that misbehaves for weeks cannot eat memory.
_MAX_EVENTS = 10_000


class EventLog:
    """Events of one source, logged under its redacted `label` and passed to `on_event`."""

    def __init__(self, label: str, on_event: Callable[[SourceEvent], None] | None) -> None:
        self.label = label
        self.on_event = on_event
        self.events: list[SourceEvent] = []
        self.unreported = 0
        """corrupt_data problems not reported individually since the last report."""
        self._last_corrupt_t: float | None = None

    def emit(self, kind: str, t: float, message: str) -> None:
        event = SourceEvent(kind=kind, t=round(t, 6), message=message)
        self.events.append(event)
        if len(self.events) > _MAX_EVENTS:
            del self.events[: len(self.events) - _MAX_EVENTS]
        level = logging.INFO if kind in ("reconnected", "end_of_stream") else logging.WARNING
        log.log(level, "%s [%s t=%.2f] %s", self.label, kind, t, message)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a faulty listener must not stop the video
                log.exception("%s: on_event callback failed", self.label)

    def corrupt(self, t: float, what: str, *, always: bool = False) -> None:
        """Report damaged or lost data at `t`, unless one was reported less than a second of
        stream time before (then it is counted into the next report)."""
        last = self._last_corrupt_t
        if not always and last is not None and 0 <= t - last < _CORRUPT_REPORT_INTERVAL_S:
            self.unreported += 1
            return
        more = self.unreported
        self.unreported = 0
        self._last_corrupt_t = t
        suffix = f" (and {more} more problems since the previous report)" if more else ""
        self.emit("corrupt_data", t, f"{self.label}: {what} at t={t:.2f} s{suffix}")
