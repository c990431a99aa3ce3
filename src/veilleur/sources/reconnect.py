"""When to try opening a source again: exponential back-off with jitter and a retry budget."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class OpenFailure(Exception):
    """An attempt to open failed; `permanent` when trying again cannot help (bad password,
    missing file, not a video)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Reconnector:
    """Reopens a dropped source with exponential back-off.

    The failure count and delay carry over from one drop to the next until a connection
    delivers a picture (`delivered`), so a server that accepts and hangs up at once is not
    hammered. `stop` ends a wait at once (the source was closed).
    """

    def __init__(
        self,
        *,
        max_retries: int | None,
        backoff_initial_s: float,
        backoff_max_s: float,
        stop: threading.Event,
        label: str,
    ) -> None:
        self.max_retries = max_retries
        self.initial = backoff_initial_s
        self.maximum = max(backoff_max_s, backoff_initial_s)
        self.stop = stop
        self.label = label
        self.failures = 0
        self.delay = backoff_initial_s
        self.last_error = "unknown error"

    def delivered(self) -> None:
        """The last connection delivered pictures: the next drop starts the back-off afresh."""
        self.failures, self.delay = 0, self.initial

    def failed(self, cause: str) -> None:
        """A connection that delivered nothing counts as a failed attempt."""
        self.failures += 1
        self.last_error = cause

    def retry(
        self,
        open_: Callable[[], T],
        *,
        closed: Callable[[], bool],
        gave_up: Callable[[str], None],
    ) -> T | None:
        """`open_()` again after each back-off until it succeeds; None when the source is closed,
        or (after calling `gave_up` with the reason) when the retries run out."""
        while not closed():
            if self.max_retries is not None and self.failures >= self.max_retries:
                gave_up(
                    f"gave up after {self.failures} failed reconnection "
                    f"attempts (last error: {self.last_error})"
                )
                return None
            # Jitter spreads the retries of many cameras that dropped together.
            if self.stop.wait(self.delay * random.uniform(0.9, 1.1)):
                return None
            self.delay = min(self.delay * 2, self.maximum)
            try:
                return open_()
            except OpenFailure as exc:
                self.failures += 1
                self.last_error = str(exc)
                log.warning(
                    "%s: reconnection attempt %d failed: %s", self.label, self.failures, exc
                )
        return None
