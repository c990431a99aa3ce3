"""The single-machine supervisor: one process per camera, one shared detector pool.

The supervisor lives in the main process (the server's). It spawns the detector pool
process(es) and one process per camera (`multiprocessing` spawn context), reads what they send
on their pipes from a dispatcher thread, and from that thread:

- keeps each camera's status and metrics, and its latest blurred picture;
- hands signal events to `on_signal`, the further events attached to them (in order, after
  their signal) to `on_further`, and the aggregates of cameras in the statistics mode to
  `on_statistics` (through a second thread, so that a slow consumer never delays the health
  checks); a callback that raises `StoreUnavailable` gets the same event again later, with
  back-off, and the events behind it wait (nothing is lost while the database is down);
- restarts a camera process that crashed or stalled (no progress for `stall_s`), with
  exponential back-off, and a pool process likewise.

Stopping (a camera, or everything) takes effect at once in this process (nothing more of that
camera is delivered) and the processes are gone within a second: they are asked to stop, then
terminated, then killed.

What is done with the cameras' messages (status, metrics, delivery) is `runtime.hub.CameraHub`'s,
shared with the cluster runtime (`veilleur.cluster`); this module is the processes and pipes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing as mp
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from typing import Any

from veilleur.config.model import CameraConfig, SiteConfig
from veilleur.perception.detector import DetectorFactory
from veilleur.runtime import lifetime, metrics
from veilleur.runtime.events import AttachedEvent, SignalEvent
from veilleur.runtime.hub import (
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    BACKOFF_RESET_S,
    START_GRACE_S,
    CameraHub,
    _Camera,
)
from veilleur.runtime.pool import pool_main
from veilleur.runtime.worker import EXIT_DONE, WorkerSpec, camera_main
from veilleur.scene.statistics import DEFAULT_BUCKET_S, StatisticRow

log = logging.getLogger(__name__)

#: Total time given to processes to stop before they are terminated, then killed.
STOP_GRACE_S = 0.6
KILL_GRACE_S = 0.2
#: Detector requests a second one pool process serves before they queue (one request of
#: YOLOX-nano on a 640×360 frame: 12–15 ms of one core); `default_workers` sizes the pools by it.
POOL_REQUESTS_PER_S = 70.0


@dataclass
class _Pool:
    index: int
    address: str
    process: SpawnProcess | None = None
    stop: Any = None
    reader: Connection | None = None
    last_message: float = 0.0
    heard: bool = False
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None
    backoff: float = BACKOFF_FIRST_S


def default_workers(site: SiteConfig, cores: int | None = None) -> int:
    """Detector pool processes for `site`: enough for every camera to have each frame it
    detects on detected (each analysed frame, or one in `perception.detect_every`; motion
    gating asks less on quiet scenes), at most one per core, at least one."""
    asked = sum(
        cam.analysis_fps / site.perception_for(name).detect_every
        for name, cam in site.cameras.items()
    )
    wanted = asked / POOL_REQUESTS_PER_S
    return max(1, min(cores or os.cpu_count() or 1, math.ceil(wanted)))


class Supervisor(CameraHub):
    """Runs the cameras of a site live; see the module's docstring.

    `workers` is the number of detector pool processes; cameras are spread over them in turn.
    By default (None) one per `POOL_REQUESTS_PER_S` analysed frames a second the site's
    cameras may ask for, at most one per core: one process running the detector back to back
    uses a core best, and serves about 70 requests a second (14 PETS-like cameras at 5 fps
    hold on one, 16 do not; docs/runtime.md).
    `detector_factory` is the pool's `DetectorFactory` (default `build_local`; it must be
    picklable, e.g. a module-level function): tests use a light detector. `stall_s` is how
    long a camera may make no progress before its process is restarted. `on_statistics`
    receives the rows of each closed time bucket (`statistics_bucket_s`) of cameras in the
    statistics mode, and of the bucket in progress when such a camera stops. `on_further`
    receives the further events attached to a signal's episode during its cool-down, after
    that signal.
    """

    def __init__(
        self,
        site: SiteConfig,
        *,
        on_signal: Callable[[SignalEvent], None],
        realtime_files: bool = True,
        loop_files: bool = False,
        workers: int | None = None,
        detector_factory: DetectorFactory | None = None,
        stall_s: float = 15.0,
        clip_s: float = 4.0,
        on_statistics: Callable[[list[StatisticRow]], None] | None = None,
        statistics_bucket_s: int = DEFAULT_BUCKET_S,
        on_further: Callable[[AttachedEvent], None] | None = None,
        on_batch: Callable[[list[SignalEvent | AttachedEvent]], None] | None = None,
    ) -> None:
        super().__init__(
            site,
            on_signal=on_signal,
            on_further=on_further,
            on_batch=on_batch,
            on_statistics=on_statistics,
            statistics_bucket_s=statistics_bucket_s,
            stall_s=stall_s,
        )
        self.realtime_files = realtime_files
        self.loop_files = loop_files
        self.detector_factory = detector_factory
        self.clip_s = clip_s
        self._ctx = mp.get_context("spawn")
        # Each process writes to its own pipe; the dispatcher reads them all (`wait`).
        self._readers: set[Connection] = set()
        self._authkey = os.urandom(32)
        # The pools' sockets; folders left by a server killed outright are swept first.
        lifetime.sweep_stale_folders()
        self._dir = lifetime.make_runtime_folder()
        n = max(1, workers) if workers is not None else default_workers(site)
        self._pools = [_Pool(i, os.path.join(self._dir, f"pool-{i}.sock")) for i in range(n)]
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------- public

    def start(self) -> None:
        """Start the detector pool and every camera of the site."""
        with self._lock:
            self._ensure_started()
            for name in list(self._cameras):
                self.start_camera(name)

    def start_camera(self, name: str, config: CameraConfig | None = None) -> None:
        """Start a camera (with a new configuration if given; a running one restarts on it)."""
        with self._lock:
            self._ensure_started()
            cam = self._cameras.get(name)
            if cam is None:
                if config is None:
                    raise KeyError(f"camera '{name}' is not configured")
                cam = self._cameras[name] = _Camera(name, config)
            elif config is not None:
                cam.config = config
                enabled = self._enabled(cam)
                cam.inactive &= enabled
            if cam.process is not None:
                _end_processes(self._halt([cam]))
            cam.wanted = True
            cam.backoff = BACKOFF_FIRST_S
            cam.last_error = None
            cam.down_since = None
            self._spawn(cam)

    def stop_cameras(self, names: Iterable[str]) -> None:
        """Stop these cameras together (unknown names are skipped): their processes end in
        parallel, within a second for all of them rather than each."""
        with self._lock:
            cams = [self._cameras[n] for n in names if n in self._cameras]
            for cam in cams:
                cam.wanted = False
                cam.restart_at = None
                cam.down_since = None  # stopped on purpose: nothing is being lost
                self._set_state(cam, "stopped")
            procs = self._halt(cams)
        # Outside the lock: the dispatcher keeps reading, so no process waits on a full pipe.
        _end_processes(procs)

    def close(self) -> None:
        """Stop every camera and the detector pool, and end the supervisor's threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.stop_all()
        with self._lock:
            procs = self._halt_pools()
        _end_processes(procs)
        self._end_threads()
        with self._lock:
            for r in self._readers:
                r.close()
            self._readers.clear()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- internals

    def _ensure_started(self) -> None:
        if self._closed:
            raise RuntimeError("the supervisor is closed")
        if self._started:
            return
        self._started = True
        for pool in self._pools:
            self._spawn_pool(pool)
        self._start_threads((self._dispatch, "dispatch"))

    def _send_control(self, cam: _Camera, message: tuple[Any, ...]) -> bool:
        if cam.control is None:
            return False
        try:
            cam.control.send(message)
        except OSError:  # a dead process gets what it needs at its restart
            return False
        return True

    def _spawn_pool(self, pool: _Pool) -> None:
        pool.stop = self._ctx.Event()
        reader, writer = self._ctx.Pipe(duplex=False)
        pool.process = self._ctx.Process(
            target=pool_main,
            args=(
                pool.index,
                pool.address,
                self._authkey,
                writer,
                pool.stop,
                self.detector_factory,
                os.getpid(),
            ),
            name=f"veilleur-detector-pool-{pool.index}",
            daemon=True,
        )
        pool.process.start()
        writer.close()  # the child's copy is the only one left: its end is our EOF
        pool.reader = reader
        self._readers.add(reader)
        pool.started_at = pool.last_message = time.monotonic()
        pool.heard = False
        pool.restart_at = None

    def _pool_for(self, name: str) -> _Pool:
        """The pool a camera uses: in turn, by the camera's place in the site, so that
        cameras configured together (the busy ones, say) are spread evenly, where a hash of
        their names could put them all on one."""
        return self._pools[list(self._cameras).index(name) % len(self._pools)]

    def _spawn(self, cam: _Camera) -> None:
        cam.generation += 1
        pool = self._pool_for(cam.name)
        site = self._site_for(cam)
        spec = WorkerSpec(
            camera=cam.name,
            site=site,
            generation=cam.generation,
            inactive=frozenset(cam.inactive),
            pool_address=pool.address,
            authkey=self._authkey,
            realtime=self.realtime_files,
            loop=self.loop_files,
            clip_s=self.clip_s,
            statistics_bucket_s=self.statistics_bucket_s,
            watched=cam.watched,
        )
        cam.stop = self._ctx.Event()
        control_reader, control_writer = self._ctx.Pipe(duplex=False)
        reader, writer = self._ctx.Pipe(duplex=False)
        cam.process = self._ctx.Process(
            target=camera_main,
            args=(spec, control_reader, writer, cam.stop, os.getpid()),
            name=f"veilleur-camera-{cam.name}",
            daemon=True,
        )
        self._reset_for_start(cam)
        cam.process.start()
        writer.close()
        control_reader.close()
        cam.control, cam.reader = control_writer, reader
        self._readers.add(reader)

    def _halt(self, cams: list[_Camera]) -> list[SpawnProcess]:
        """Ask the cameras' processes to stop; returns them for `_end_processes`. Their pipes
        stay open until they end, so that they never block on a write."""
        procs = []
        for cam in cams:
            if cam.process is not None:
                cam.stop.set()
                procs.append(cam.process)
            cam.generation += 1  # anything the old process still sends is ignored
            cam.process = None
            cam.reader = None
            if cam.control is not None:
                cam.control.close()
                cam.control = None
        return procs

    def _halt_pools(self) -> list[SpawnProcess]:
        procs = []
        for pool in self._pools:
            if pool.process is not None:
                pool.stop.set()
                procs.append(pool.process)
                pool.process = None
                pool.reader = None
        return procs

    # ----------------------------------------------------------------- threads

    def _dispatch(self) -> None:
        last_check = 0.0
        while not self._closing.is_set():
            with self._lock:
                readers = list(self._readers)
            ready = wait(readers, timeout=0.2) if readers else []
            if not readers:
                self._closing.wait(0.2)
            for r in ready:
                assert isinstance(r, Connection)
                self._receive(r)
            with self._lock:
                if self._closing.is_set():
                    return
                now = time.monotonic()
                if now - last_check >= 0.2:
                    last_check = now
                    self._check_health(now)

    def _receive(self, reader: Connection) -> None:
        try:
            msg = reader.recv()
        except (EOFError, OSError):  # the process ended (or was killed mid-write)
            with self._lock:
                self._readers.discard(reader)
                reader.close()
            return
        with self._lock:
            try:
                self._handle(msg)
            except Exception:
                log.exception("supervisor: cannot handle %r", msg[:3])

    def _handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "pool":
            _, index, report = msg
            pool = self._pools[index]
            pool.last_message = time.monotonic()
            pool.heard = True
            label = str(index)
            metrics.POOL_QUEUE_DEPTH.labels(label).set(report["queue_depth"])
            metrics.POOL_REQUESTS.labels(label).inc(report["requests"])
            if report["inference_ms"] is not None:
                metrics.POOL_INFERENCE_MS.labels(label).set(report["inference_ms"])
            return
        super()._handle(msg)

    def _restart(self, cam: _Camera, reason: str) -> None:
        """Count a failure of the camera's process and schedule its replacement."""
        log.warning("camera %s: %s; restarting in %.0f s", cam.name, reason, cam.backoff)
        procs = self._halt([cam])
        if procs:  # ended aside: this thread is the one that reads their pipes
            threading.Thread(target=_end_processes, args=(procs,), daemon=True).start()
        self._count_failure(cam, reason)

    def _check_health(self, now: float) -> None:
        self._expire_previews(now)
        for pool in self._pools:
            proc = pool.process
            if proc is not None and (not proc.is_alive() or self._silent(pool, now)):
                why = "stalled" if proc.is_alive() else f"exited with code {proc.exitcode}"
                log.warning("detector pool %d %s; restarting", pool.index, why)
                if proc.is_alive():
                    threading.Thread(target=_end_processes, args=([proc],), daemon=True).start()
                pool.process = None
                pool.reader = None
                pool.restarts += 1
                metrics.POOL_RESTARTS.labels(str(pool.index)).inc()
                if now - pool.started_at > BACKOFF_RESET_S:
                    pool.backoff = BACKOFF_FIRST_S
                pool.restart_at = now + pool.backoff
                pool.backoff = min(pool.backoff * 2, BACKOFF_MAX_S)
            if pool.process is None and pool.restart_at is not None and now >= pool.restart_at:
                self._spawn_pool(pool)
        for cam in self._cameras.values():
            if not cam.wanted:
                continue
            proc = cam.process
            if proc is not None:
                if now - cam.started_at > BACKOFF_RESET_S and cam.state == "running":
                    cam.backoff = BACKOFF_FIRST_S
                if not proc.is_alive():
                    self._drain_into(cam)
                    code = proc.exitcode
                    if code == EXIT_DONE:
                        # The end of a file that is not looped: finished, not failed.
                        cam.process = None
                        cam.wanted = False
                        if cam.state != "failed":
                            self._set_state(cam, "stopped")
                    else:
                        self._restart(cam, f"camera process exited with code {code}")
                elif self._silent(cam, now):
                    self._restart(cam, f"stalled: no message for {now - cam.last_message:.0f} s")
            elif cam.restart_at is not None and now >= cam.restart_at:
                self._spawn(cam)

    def _silent(self, proc: _Camera | _Pool, now: float) -> bool:
        """Whether a process has said nothing for too long (longer while it starts)."""
        if proc.heard:
            return now - proc.last_message > self.stall_s
        return now - proc.started_at > max(self.stall_s, START_GRACE_S)

    def _drain_into(self, cam: _Camera) -> None:
        """Handle what a process sent just before it ended (its last state says why)."""
        reader = cam.reader
        if reader is None:
            return
        try:
            while reader.poll():
                msg = reader.recv()
                try:
                    self._handle(msg)
                except Exception:
                    log.exception("supervisor: cannot handle %r", msg[:3])
        except (EOFError, OSError):
            self._readers.discard(reader)
            reader.close()


def _end_processes(procs: list[SpawnProcess]) -> None:
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        with contextlib.suppress(OSError):
            p.terminate()
    deadline = time.monotonic() + KILL_GRACE_S
    for p in alive:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in alive:
        if p.is_alive():
            with contextlib.suppress(OSError):
                p.kill()
            p.join(KILL_GRACE_S)
