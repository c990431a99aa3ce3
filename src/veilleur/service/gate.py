"""The authorisation gate: a thread that re-applies the authorisations to the cameras at each of
their bounds, so live processing starts and stops by itself (SPEC §4).

It sleeps until the next start or end of an authorisation (at most `recheck_s`, so a record
added by another process is seen too), then asks the platform to apply what is authorised
then. Changes made through the platform (create, renew, revoke) are applied at once by the
platform itself; they `poke` the gate so that it recomputes its next wake-up. A step of the
wall clock wakes it too.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from veilleur.service.platform import Platform

log = logging.getLogger(__name__)

LATE_S = 0.01
"""Waking this much after a bound makes sure the bound has passed on the platform's clock."""
CLOCK_CHECK_S = 1.0
"""How often the sleeping gate compares the wall clock with the monotonic clock."""
CLOCK_STEP_S = 1.0
"""A change of their difference beyond this is a step of the wall clock."""


class AuthorisationGate:
    def __init__(self, platform: Platform, *, recheck_s: float = 30.0) -> None:
        self.platform = platform
        self.recheck_s = recheck_s
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="veilleur-gate", daemon=True)
        self.applied = 0
        """How many times the authorisations were applied (tests wait on it)."""

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Apply again now (and recompute the next wake-up)."""
        self._wake.set()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.clear()
            wait = self.recheck_s
            try:
                state = self.platform.apply_authorisations()
                if state.next_change is not None:
                    until = (state.next_change - self.platform.clock()).total_seconds()
                    wait = min(wait, max(0.0, until) + LATE_S)
            except Exception:
                # The gate must outlive a database hiccup; it tries again soon.
                log.exception("could not apply the authorisations; retrying in 5 s")
                wait = min(wait, 5.0)
            self.applied += 1
            self._sleep(wait)

    def _clock_offset(self) -> float:
        return self.platform.clock().timestamp() - time.monotonic()

    def _sleep(self, wait: float) -> None:
        """Sleep `wait` s (on the monotonic clock), or less: until poked, or until the wall
        clock steps (NTP correcting a drifted clock, an operator setting the time), since the
        next bound was computed on the wall clock: a step forward past an authorisation's end
        stops its processing within `CLOCK_CHECK_S`, not at the next scheduled wake-up."""
        offset = self._clock_offset()
        end = time.monotonic() + wait
        while (left := end - time.monotonic()) > 0:
            if self._wake.wait(min(left, CLOCK_CHECK_S)):
                return
            if abs(self._clock_offset() - offset) > CLOCK_STEP_S:
                log.warning("the wall clock stepped by %+.1f s: applying the authorisations "
                            "again", self._clock_offset() - offset)  # fmt: skip
                return
