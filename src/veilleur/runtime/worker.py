"""One camera's process: decode, analyse, and send out blurred signal events.

Two threads: the decoding thread reads the source (paced at its own speed for files standing
for live cameras) into a one-frame slot; the analysis loop takes the newest frame, runs the
camera's pipeline (its detector is the shared pool's; its pose model, if any, runs here) and
sends what it found. A frame replaced in the slot before it was analysed is dropped and
counted: under load a camera analyses fewer frames, it never falls further and further behind.

Nothing that can identify a person leaves this process: snapshots, clips and the live picture
are masked here, all by the one camera's `PrivacyMasker` fed every analysed frame and the one
`apply_privacy` (docs/privacy.md), and track ids stay in the pipeline.
The one exception is `unblurred`: the current frame as it is, sent only when the supervisor
asks for it (a privileged, journaled view) and never kept.

In the statistics mode (SPEC §2) no situation runs and no image at all leaves the process:
only anonymous aggregates per time bucket (`veilleur.scene.statistics`).
"""

from __future__ import annotations

import logging
import math
import secrets
import signal as os_signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from queue import Empty
from typing import Any, Protocol

import numpy as np

from veilleur.config.model import SiteConfig
from veilleur.perception.detector import Detector, DetectorSpec
from veilleur.privacy.masking import PrivacyMask, PrivacyMasker, apply_privacy
from veilleur.runtime.events import AttachedEvent, SignalEvent
from veilleur.runtime.media import clip_mp4, draw_signal, jpeg
from veilleur.runtime.pool import (
    Outbox,
    PoolClient,
    PooledFactory,
    PoolUnavailable,
    PutQueue,
)
from veilleur.scene.statistics import StatisticsAggregator, statistics_site
from veilleur.types import Frame, FurtherEvent, Signal

log = logging.getLogger(__name__)

#: Exit codes of a camera process.
EXIT_DONE = 0  # stopped, or the end of a file that is not looped
EXIT_CRASHED = 1
EXIT_CANNOT_START = 2
EXIT_SOURCE_FAILED = 3


class GetQueue(Protocol):
    def get_nowait(self) -> Any: ...


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class DetectorLine(Protocol):
    """A camera's line to its detector pool: the local `PoolClient`, or the cluster's client of
    its node's pool actor. `PooledFactory` builds the pipeline's detector through it."""

    requests: int
    request_s: float
    """Wall time of the detect requests: queueing in the pool and inference."""
    inference_s: float

    def build(self, spec: DetectorSpec) -> Detector: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a camera process needs (it is pickled into the new process)."""

    camera: str
    site: SiteConfig
    generation: int
    inactive: frozenset[str]
    """Enabled situations that are switched off (`Supervisor.set_situation`)."""
    pool_address: str
    authkey: bytes
    realtime: bool
    loop: bool
    clip_s: float = 4.0
    jpeg_interval_s: float = 1.0
    """Seconds between two live pictures while someone looks at the camera (`watched`)."""
    idle_jpeg_interval_s: float = 10.0
    """Seconds between two live pictures while nobody does: blurring and encoding a picture
    nobody sees is most of what a quiet camera spends besides analysing (bench/camera_profile.py);
    one every few seconds keeps a recent picture ready for the first look."""
    watched: bool = True
    """Whether someone looks at the camera's live picture now (the supervisor says when that
    changes: `("preview", watched)`)."""
    report_interval_s: float = 0.5
    detector_timeout_s: float = 10.0
    statistics_bucket_s: int = 60


class FrameSlot:
    """Hands frames from the decoding thread to the analysis loop.

    `keep_latest`: a new frame replaces one not yet taken (counted in `dropped`); otherwise
    the decoder waits, as when a recorded file is analysed as fast as possible.
    """

    def __init__(self, keep_latest: bool) -> None:
        self.keep_latest = keep_latest
        self._cond = threading.Condition()
        self._item: tuple[Frame, float] | None = None
        self.dropped = 0
        self.ended = False
        self.end_reason: str | None = None
        self.failed = False

    def put(self, frame: Frame, arrival: float, stop: threading.Event) -> None:
        with self._cond:
            if self.keep_latest:
                if self._item is not None:
                    self.dropped += 1
            else:
                while self._item is not None and not stop.is_set():
                    self._cond.wait(0.1)
            self._item = (frame, arrival)
            self._cond.notify_all()

    def finish(self, reason: str | None, *, failed: bool = False) -> None:
        with self._cond:
            self.ended, self.end_reason, self.failed = True, reason, failed
            self._cond.notify_all()

    def take(self, timeout: float) -> tuple[Frame, float] | None:
        """The newest frame and when it arrived; None after `timeout` or once ended and empty."""
        with self._cond:
            if self._item is None and not self.ended:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            if item is not None:
                self._cond.notify_all()
            return item


class CameraWorker:
    """One camera's analysis, whatever carries its messages: `control` brings the runtime's
    (`("inactive", [...])`, `("unblurred", request)`), `events` takes what it sends
    (`(kind, camera, generation, payload)`), `stop` ends it. `connect` opens its line to the
    detector pool (default: the local pool's socket named in `spec`)."""

    def __init__(
        self,
        spec: WorkerSpec,
        control: GetQueue,
        events: PutQueue,
        stop: Event | StopFlag,
        *,
        connect: Callable[[], DetectorLine] | None = None,
    ):
        self.spec = spec
        self.connect = connect or self._local_pool
        self.camera = spec.camera
        self.config = spec.site.cameras[spec.camera]
        self.control = control
        self.events = events
        self.stop = stop
        self.halt = threading.Event()
        """Set when this process winds down, whatever the reason: the threads end."""
        self.slot = FrameSlot(keep_latest=spec.realtime)
        self.source: Any = None
        self.client: DetectorLine | None = None
        self.pipeline: Any = None
        self.available: dict[str, tuple[type, Any]] = {}
        self.inactive = spec.inactive
        self.frames = 0
        self.last_analysed_at: float | None = None
        """Wall time (`time.time()`) at which the latest frame's analysis ended."""
        self.errors = 0
        self.signals = 0
        self.lag_s = 0.0
        self.beat = time.monotonic()
        self.state = "starting"
        self._offset: float | None = None
        fps = self.config.analysis_fps
        self.ring: deque[tuple[float, np.ndarray, PrivacyMask | None]] = deque(
            maxlen=max(2, math.ceil(spec.clip_s * fps) + 1)
        )
        self._arrivals: deque[tuple[Frame, float]] = deque()
        """Frames handed to the pipeline and not concluded yet, with when they arrived."""
        self._last_jpeg: float | None = None
        """When the latest picture was sent (monotonic); None until the first, which goes at
        once (a monotonic clock may start near zero: a machine booted minutes ago)."""
        self.watched = spec.watched
        self.statistics_mode = self.config.mode == "statistics"
        self.aggregator: StatisticsAggregator | None = None
        self._current: np.ndarray | None = None
        """The latest analysed frame, unblurred: only for an `unblurred` request."""
        self.run_key = secrets.token_hex(4) + "/"
        """Prefix of this process's episode keys: a restarted camera's keys never meet an
        earlier run's, so further events always reach the signal they belong to."""
        self.masker = PrivacyMasker(self.config.privacy)

    # ------------------------------------------------------------------ messages

    def send(self, kind: str, payload: Any) -> None:
        self.events.put((kind, self.camera, self.spec.generation, payload))

    def set_state(self, state: str, error: str | None = None) -> None:
        self.state = state
        self.send("state", (state, error))

    def report(self) -> dict[str, Any]:
        client = self.client
        return {
            "frames": self.frames,
            "dropped": self.slot.dropped,
            "requests": client.requests if client else 0,
            "request_s": client.request_s if client else 0.0,
            "inference_s": client.inference_s if client else 0.0,
            "lag_s": self.lag_s,
            "beat_age_s": time.monotonic() - self.beat,
            "errors": self.errors,
            "signals": self.signals,
            "active": sorted(s.id for s in self.pipeline.situations) if self.pipeline else [],
        }

    def _reporter(self) -> None:
        while not self.halt.wait(self.spec.report_interval_s):
            self.send("report", self.report())

    # ------------------------------------------------------------------- source

    def _on_source_event(self, event: Any) -> None:
        if event.kind == "stream_dropped":
            self.set_state("reconnecting", event.message)
        elif event.kind == "reconnected":
            self.set_state("running" if self.frames else "starting")
        elif event.kind in ("gave_up", "corrupt_data", "no_timestamps"):
            self.send("note", event.message)

    def _decode(self) -> None:
        from veilleur.sources import SourceError, open_source

        cfg = self.config
        size = tuple(cfg.analysis_size) if cfg.analysis_size else None
        try:
            source = open_source(
                cfg.source,
                analysis_fps=cfg.analysis_fps,
                size=size,
                threads=1,  # many cameras share few cores: one decoding thread each
                on_event=self._on_source_event,
                realtime=self.spec.realtime,
                loop=self.spec.loop,
            )
        except SourceError as exc:
            self.slot.finish(str(exc), failed=True)
            return
        except Exception as exc:
            self.slot.finish(f"cannot open the source: {type(exc).__name__}: {exc}", failed=True)
            return
        self.source = source
        try:
            for frame in source.frames():
                if self.halt.is_set():
                    break
                self.slot.put(frame, time.monotonic(), self.halt)
            gave_up = [e.message for e in source.events if e.kind == "gave_up"]
            if gave_up:
                self.slot.finish(gave_up[-1], failed=True)
            else:
                self.slot.finish("end of the video")
        except Exception as exc:
            self.slot.finish(f"decoding failed: {type(exc).__name__}: {exc}", failed=True)
        finally:
            source.close()

    # --------------------------------------------------------------- situations

    def apply_inactive(self, inactive: frozenset[str]) -> None:
        """Switch situations off (their state is forgotten) or back on (they start afresh)."""
        from veilleur.situations import SituationContext

        self.inactive = inactive
        p = self.pipeline
        current = {s.id: s for s in p.situations}
        context = SituationContext(p.camera, p.model_name, p.config_version)
        p.situations = [
            current.get(sid) or cls(cfg, context)
            for sid, (cls, cfg) in self.available.items()
            if sid not in inactive
        ]

    def _drain_control(self) -> None:
        while True:
            try:
                msg = self.control.get_nowait()
            except Empty:
                return
            if msg[0] == "inactive":
                self.apply_inactive(frozenset(msg[1]))
            elif msg[0] == "preview":
                self.watched = bool(msg[1])
            elif msg[0] == "unblurred":
                self.send("unblurred", (msg[1], self.unblurred()))

    def unblurred(self) -> bytes | None:
        """The current frame as JPEG, not blurred; None in the statistics mode (no image ever
        leaves it) or before the first frame."""
        if self.statistics_mode or self._current is None:
            return None
        return jpeg(self._current, quality=85)

    def _local_pool(self) -> DetectorLine:
        return PoolClient(
            self.spec.pool_address, self.spec.authkey, timeout_s=self.spec.detector_timeout_s
        )

    # ----------------------------------------------------------------- analysis

    def privacy_mask(self, frame: Frame) -> PrivacyMask | None:
        """Where persons may be on the frame just analysed (every picture's one mask)."""
        return self.masker.update(frame.image, frame.t, self.pipeline.person_cues())

    def analyse(self, frame: Frame, arrival: float) -> None:
        """Hand a frame to the pipeline; what it completes (this frame, or with
        `perception.detect_every` the frames it bridges, later) is handled by `_analysed`."""
        self._arrivals.append((frame, arrival))
        try:
            self.pipeline.step(frame, self._analysed)
        except PoolUnavailable as exc:
            # This frame stays unanalysed (and unshown: nobody knows where the persons are).
            self.errors += 1
            self.send("note", str(exc))

    def _finish(self) -> None:
        """The source ended: the frames waiting to be bridged are analysed now."""
        try:
            self.pipeline.finish(self._analysed)
        except PoolUnavailable as exc:
            self.errors += 1
            self.send("note", str(exc))

    def _analysed(self, frame: Frame, signals: list[Signal]) -> None:
        """One frame concluded by the pipeline, whose state is that frame's: its privacy mask,
        its signals and further events, its picture."""
        arrival = time.monotonic()
        while self._arrivals:
            queued, at = self._arrivals.popleft()
            if queued is frame:  # frames that failed before it are left behind
                arrival = at
                break
        self.frames += 1
        self.last_analysed_at = time.time()
        now = time.monotonic()
        # Stream time → monotonic time, from the earliest a frame ever arrived: a source that
        # falls behind, or an analysis that does, shows up as a growing lag.
        offset = arrival - frame.t
        self._offset = offset if self._offset is None else min(self._offset, offset)
        self.lag_s = now - (frame.t + self._offset)
        # Statistics: no image ever leaves, nothing to mask.
        mask = self.privacy_mask(frame) if self.aggregator is None else None
        if self.state == "starting":
            self.set_state("running")
        if self.aggregator is not None:
            # Statistics: counts only; no image kept or sent, no signal.
            rows = self.aggregator.update(self.pipeline.scene, datetime.now(UTC))
            if rows:
                self.send("statistics", rows)
            return
        self._current = frame.image
        self.ring.append((frame.t, frame.image, mask))
        for s in signals:
            if s.situation not in self.inactive:
                self.emit(replace(s, episode=self.run_key + s.episode), frame, mask)
        for f in self.pipeline.further:
            if f.situation not in self.inactive:
                self.attach(replace(f, episode=self.run_key + f.episode))
        interval = self.spec.jpeg_interval_s if self.watched else self.spec.idle_jpeg_interval_s
        if self._last_jpeg is None or now - self._last_jpeg >= interval:
            blurred = apply_privacy(frame.image, mask)
            if blurred is not None:
                self._last_jpeg = now
                self.send("jpeg", jpeg(blurred, quality=70))

    def emit(self, signal: Signal, frame: Frame, mask: PrivacyMask | None) -> None:
        from veilleur.situations import known_limits

        blurred = apply_privacy(frame.image, mask)
        snapshot = b"" if blurred is None else jpeg(draw_signal(blurred, signal))
        clip_frames: list[tuple[float, np.ndarray]] = []
        for t, image, seen in self.ring:
            b = blurred if t == frame.t and blurred is not None else apply_privacy(image, seen)
            if b is not None:
                clip_frames.append((t, b))
        try:
            clip = clip_mp4(clip_frames)
        except Exception as exc:  # the signal matters more than its clip
            log.warning("%s: clip encoding failed: %s", self.camera, exc)
            clip = None
        event = SignalEvent(
            signal=signal,
            snapshot_jpeg=snapshot,
            clip_mp4=clip,
            known_limits=known_limits(signal.situation) or "",
            wall_time=datetime.now(UTC),
            mode=self.config.mode,
        )
        self.signals += 1
        self.send("signal", event)

    def attach(self, further: FurtherEvent) -> None:
        """Send a further event of a signal this process sent (same `episode`)."""
        self.send(
            "further",
            AttachedEvent(event=further, wall_time=datetime.now(UTC), mode=self.config.mode),
        )

    # --------------------------------------------------------------------- main

    def run(self) -> int:
        self.set_state("starting")
        try:
            from veilleur.pipeline import CameraPipeline

            self.client = self.connect()
            site = self.spec.site
            if self.statistics_mode:
                site = statistics_site(site, self.camera)
                self.aggregator = StatisticsAggregator(
                    self.camera, self.config, self.spec.statistics_bucket_s
                )
            self.pipeline = CameraPipeline(
                self.camera, site, detector_factory=PooledFactory(self.client)
            )
        except Exception as exc:
            self.set_state("failed", f"cannot start: {type(exc).__name__}: {exc}")
            return EXIT_CANNOT_START
        self.available = {s.id: (type(s), s.config) for s in self.pipeline.situations}
        self.apply_inactive(self.inactive)
        threads = [
            threading.Thread(target=self._decode, name="decode", daemon=True),
            threading.Thread(target=self._reporter, name="report", daemon=True),
        ]
        for t in threads:
            t.start()
        code = EXIT_DONE
        try:
            while not self.stop.is_set():
                self.beat = time.monotonic()
                self._drain_control()
                item = self.slot.take(0.2)
                if item is not None:
                    if self.stop.is_set():
                        break
                    self.analyse(*item)
                elif self.slot.ended:
                    self._finish()
                    if self.slot.failed:
                        self.set_state("failed", self.slot.end_reason)
                        code = EXIT_SOURCE_FAILED
                    else:
                        self.set_state("stopped", self.slot.end_reason)
                    break
        except Exception as exc:
            self.set_state("failed", f"{type(exc).__name__}: {exc}")
            log.error("%s: analysis failed:\n%s", self.camera, traceback.format_exc())
            code = EXIT_CRASHED
        finally:
            self.halt.set()
            if self.aggregator is not None:
                # The bucket in progress, partial: what was counted is not lost at a stop.
                rows = self.aggregator.flush(self.pipeline.scene)
                if rows:
                    self.send("statistics", rows)
            self.send("report", self.report())
            if self.source is not None:
                self.source.close()
            if self.client is not None:
                self.client.close()
        return code


class PipeControl:
    """The supervisor's messages to a camera process, read without waiting."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get_nowait(self) -> Any:
        try:
            if self._conn.poll():
                return self._conn.recv()
        except (EOFError, OSError):
            pass  # the supervisor is gone; the stop event or a kill ends this process
        raise Empty


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(EXIT_DONE)


def camera_main(
    spec: WorkerSpec,
    control: Connection,
    outbox: Connection,
    stop: Event,
    parent_pid: int | None = None,
) -> None:
    """Entry point of a camera process; its exit code says how it ended (`EXIT_*`). It stops
    as at a supervisor's stop when the server (`parent_pid`) is gone (`runtime.lifetime`)."""
    import os

    from veilleur.runtime.lifetime import ParentWatch

    os_signal.signal(os_signal.SIGINT, os_signal.SIG_IGN)  # Ctrl-C is the supervisor's
    # Terminated (a stop that took too long): unwind, so that the shared memory is released.
    os_signal.signal(os_signal.SIGTERM, _exit_on_sigterm)
    ParentWatch(os.getppid() if parent_pid is None else parent_pid, on_orphan=stop.set).start()
    logging.basicConfig(level=logging.WARNING, format=f"%(levelname)s {spec.camera}: %(message)s")
    import cv2

    cv2.setNumThreads(1)  # one process per camera already uses the cores
    events = Outbox(outbox)
    code = CameraWorker(spec, PipeControl(control), events, stop).run()
    events.close()
    raise SystemExit(code)
