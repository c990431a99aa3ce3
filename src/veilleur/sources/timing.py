"""Time in a source: the timeline that stays monotonic across damage, reconnects and loops,
timestamp repair, sampling to the analysis rate, and pacing of files to real time.

Nothing here touches FFmpeg: the reader hands in raw stream times (seconds) and asks what the
frame's time `t` is, whether it is sampled, and whether a hole in the timeline is lost data.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

# Tolerance, in sampling periods, so float rounding cannot shift a picture to the next instant.
_K_EPS = 1e-6
# A gap longer than this many nominal frame durations means pictures went missing.
_GAP_FACTOR = 2.5
# Frame interval assumed when the stream announces no usable rate.
_DEFAULT_DT = 0.04


class Sampler:
    """Picks the first picture at or after each instant `k / analysis_fps` of stream time
    (None: every picture)."""

    def __init__(self, analysis_fps: float | None) -> None:
        self.analysis_fps = analysis_fps
        self.next_k = 0

    def k(self, t: float) -> int:
        """Index of the latest sampling instant at or before `t` (instants at k / analysis_fps)."""
        assert self.analysis_fps is not None
        return math.floor(t * self.analysis_fps + _K_EPS)

    def take(self, t: float) -> bool:
        """Whether the picture at `t` (the next in display order) is sampled; if so, the next
        one must reach the following instant."""
        if self.analysis_fps is None:
            return True
        k = self.k(t)
        if k < self.next_k:
            return False
        self.next_k = k + 1
        return True


@dataclass
class TimestampRepair:
    """A decoded picture's time in stream units: its pts, unless pts are unreliable and dts are
    not.

    Containers without real pts (H.264 with B-frames in AVI) get pts guessed from dts, which
    come out of the decoder out of order; like FFmpeg's best-effort timestamp, count the faults
    of each and trust the one with fewer.
    """

    prev_pts: int | None = None
    prev_dts: int | None = None
    faulty_pts: int = 0
    faulty_dts: int = 0

    def pick(self, pts: int | None, dts: int | None) -> int | None:
        if pts is not None:
            if self.prev_pts is not None and pts <= self.prev_pts:
                self.faulty_pts += 1
            self.prev_pts = pts
        if dts is not None:
            if self.prev_dts is not None and dts <= self.prev_dts:
                self.faulty_dts += 1
            self.prev_dts = dts
        if pts is not None and (dts is None or self.faulty_pts <= self.faulty_dts):
            return pts
        return dts


@dataclass
class Clock:
    """One connection's clock: raw stream seconds to the source's time `t`."""

    first_raw: float | None = None
    """Raw stream time (s) of the first picture of the whole source in this connection's clock."""
    offset: float = 0.0
    """Added to `raw - first_raw` to give `t` (monotonic across reconnects and loops)."""

    @property
    def started(self) -> bool:
        return self.first_raw is not None

    def t(self, raw: float) -> float:
        assert self.first_raw is not None
        return self.offset + raw - self.first_raw


class Timeline:
    """The source's times across connections and loops: monotonic, with holes found.

    `nominal_dt` is the stream's announced frame interval (None when unknown or absurd).
    """

    def __init__(self, nominal_dt: float | None = None) -> None:
        self.nominal_dt = nominal_dt
        self.last_t: float | None = None
        """Time of the latest picture passed (decoded or skipped)."""
        self.last_seen_t: float | None = None
        """Latest picture time checked for holes (forgotten across a reconnect or a loop)."""
        self.last_frame_wall: float | None = None
        self.regularity = 0.5  # earned by about ten on-time pictures
        self.quiet_gaps = False
        """Set while a dropped connection's last pictures come out: their holes are the drop."""
        self.looping = False
        """Set when a looped file starts again, until its first picture."""

    @property
    def dt(self) -> float:
        return self.nominal_dt or _DEFAULT_DT

    def best_t(self) -> float:
        return self.last_t if self.last_t is not None else 0.0

    def start(self, clock: Clock, raw: float) -> None:
        """The first picture of a connection (or of a loop) sets its clock."""
        clock.first_raw = raw
        if self.last_t is None:
            clock.offset = 0.0
            return
        if self.looping:
            # The file again: the next picture follows the last one by one frame interval.
            self.looping = False
            clock.offset = self.last_t + self.dt
            self.last_seen_t = None
            return
        # A new connection to a live stream: its clock is unrelated to the old one, so continue
        # after the last time plus the wall-clock time spent offline.
        gap = time.monotonic() - (self.last_frame_wall or time.monotonic())
        clock.offset = self.last_t + max(gap, self.dt)
        self.last_seen_t = None  # the time offline was reported as a drop, not as lost pictures

    def went_back(self, t: float) -> float:
        """How much to add to the clock's offset so that a picture at `t` comes after the
        last one (0.0 when it already does): a concatenated or restarted stream."""
        if self.last_t is not None and t <= self.last_t - 1e-6:
            return self.last_t + self.dt - t
        return 0.0

    def picture(self, t: float) -> None:
        """A decoded picture at `t`."""
        self.last_t = t
        self.last_frame_wall = time.monotonic()

    def skipped(self, t: float) -> None:
        """A picture at `t` the decoder was told to skip."""
        if self.last_t is None or t > self.last_t:
            self.last_t = t

    def seen(self, t: float) -> tuple[float, str] | None:
        """Note a picture at `t`; a hole in the timeline before it comes back as (where, what)
        to report as lost data."""
        prev = self.last_seen_t
        if prev is not None and t <= prev:
            return None
        self.last_seen_t = t
        dt = self.nominal_dt
        if prev is None or dt is None or self.quiet_gaps:
            return None
        gap = t - prev
        # Only a stream that has kept its nominal rate can be said to have lost pictures: a
        # variable-rate one has long intervals by design.
        was_regular = self.regularity > 0.8
        self.regularity = 0.9 * self.regularity + (0.1 if abs(gap - dt) < 0.25 * dt else 0.0)
        if gap > _GAP_FACTOR * dt and gap > dt + 0.05 and was_regular:
            missing = round(gap / dt) - 1
            return (
                prev,
                f"no picture between t={prev:.2f} s and t={t:.2f} s (about {missing} missing): "
                "damaged or lost data",
            )
        return None

    def without_pts(self, frames_out: int) -> tuple[float, float]:
        """(raw time, rate) of the `frames_out`-th picture of a stream without timestamps."""
        rate = 1.0 / self.nominal_dt if self.nominal_dt else 25.0
        return frames_out / rate, rate

    def truncation(self, duration_s: float | None, exact: bool) -> tuple[float, str] | None:
        """A file that ends well before its announced duration was cut or damaged: (where,
        what) to report. `exact`: the duration is the video stream's own, not the container's
        (which may include a longer audio track)."""
        if duration_s is None or self.last_seen_t is None:
            return None
        dt = self.dt
        seen = self.last_seen_t + dt
        slack = max(3 * dt, 0.01 * duration_s) if exact else max(1.0, 3 * dt)
        if seen < duration_s - slack:
            return (
                self.last_seen_t,
                f"the video ends at t={seen:.2f} s but the file announces "
                f"{duration_s:.2f} s: the file is truncated or damaged",
            )
        return None


class Pacer:
    """Holds each frame back until its time after the first one, so that a file stands for a
    live camera (a consumer that falls behind gets the late frames at once). `stop` ends a
    wait at once."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.origin: float | None = None
        """Monotonic time at which stream time 0 is due, set by the first paced frame."""

    def wait(self, t: float) -> None:
        now = time.monotonic()
        if self.origin is None:
            self.origin = now - t
        delay = self.origin + t - now
        if delay > 0:
            self.stop.wait(delay)
