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
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import multiprocessing as mp
import os
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from typing import Any

from veilleur.config.common import SITUATION_IDS
from veilleur.config.model import CameraConfig, SiteConfig
from veilleur.perception.detector import DetectorFactory
from veilleur.runtime import lifetime, metrics
from veilleur.runtime.events import AttachedEvent, CameraStatus, SignalEvent, StoreUnavailable
from veilleur.runtime.pool import pool_main
from veilleur.runtime.worker import EXIT_DONE, WorkerSpec, camera_main
from veilleur.scene.statistics import DEFAULT_BUCKET_S, StatisticRow

log = logging.getLogger(__name__)

#: Back-off between restarts of a failing process: doubles from the first to the last.
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
#: A process that has run this long without trouble starts its back-off afresh.
BACKOFF_RESET_S = 60.0
#: Total time given to processes to stop before they are terminated, then killed.
STOP_GRACE_S = 0.6
KILL_GRACE_S = 0.2
#: Time a new process has to send its first message (imports and model loading take a while
#: on a busy machine) before it counts as stalled.
START_GRACE_S = 60.0
#: Window over which a camera's frame rate is measured.
FPS_WINDOW_S = 3.0
#: Detector requests a second one pool process serves before they queue (one request of
#: YOLOX-nano on a 640×360 frame: 12–15 ms of one core); `default_workers` sizes the pools by it.
POOL_REQUESTS_PER_S = 70.0
#: A camera whose live picture was asked for within this time is watched: its process sends
#: one a second; otherwise one every `WorkerSpec.idle_jpeg_interval_s` (10 s), which spares
#: unseen cameras the blurring and encoding (docs/runtime.md, "CPU per camera").
PREVIEW_WATCH_S = 10.0
#: Back-off between hand-overs to a store that cannot be reached: doubles up to the last.
STORE_RETRY_FIRST_S = 0.5
STORE_RETRY_MAX_S = 5.0


@dataclass
class _Camera:
    name: str
    config: CameraConfig
    inactive: set[str] = field(default_factory=set)
    wanted: bool = False
    generation: int = 0
    process: SpawnProcess | None = None
    stop: Any = None
    control: Connection | None = None
    reader: Connection | None = None
    state: str = "stopped"
    last_error: str | None = None
    restarts: int = 0
    dropped: int = 0
    started_at: float = 0.0
    last_message: float = 0.0
    heard: bool = False
    restart_at: float | None = None
    backoff: float = BACKOFF_FIRST_S
    latest_jpeg: bytes | None = None
    viewed_at: float = -math.inf
    """When `latest_jpeg` was last asked for this camera (monotonic)."""
    watched: bool = False
    """Whether the camera's process was told that someone looks (pictures at 1/s)."""
    lag_s: float = 0.0
    detector_ms: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    frames_seen: deque[tuple[float, int]] = field(default_factory=deque)
    fps_offset: int = 0
    """Frames counted by earlier processes of this camera (each process counts from 0)."""


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
    """Detector pool processes for `site`: enough for every camera to have each analysed
    frame detected (the most it asks for; motion gating asks less on quiet scenes), at most
    one per core, at least one."""
    wanted = sum(cam.analysis_fps for cam in site.cameras.values()) / POOL_REQUESTS_PER_S
    return max(1, min(cores or os.cpu_count() or 1, math.ceil(wanted)))


class Supervisor:
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
    ) -> None:
        self.site = site
        self.on_signal = on_signal
        self.on_further = on_further
        self.on_statistics = on_statistics
        self.statistics_bucket_s = statistics_bucket_s
        self.realtime_files = realtime_files
        self.loop_files = loop_files
        self.detector_factory = detector_factory
        self.stall_s = stall_s
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
        self._cameras: dict[str, _Camera] = {
            name: _Camera(name, cfg) for name, cfg in site.cameras.items()
        }
        self._lock = threading.RLock()
        self._deliveries: queue.Queue[SignalEvent | AttachedEvent | list[StatisticRow] | None] = (
            queue.Queue()
        )
        self._requests = itertools.count(1)
        self._unblurred: dict[int, tuple[threading.Event, list[bytes | None]]] = {}
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._closed = False
        self.store_unavailable_since: float | None = None
        """Wall time since which the store has not answered (None: it answers)."""

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
            self._spawn(cam)

    def stop_camera(self, name: str) -> None:
        """Stop a camera: nothing more of it is delivered from now; its process ends within a
        second; KeyError if it is not configured."""
        self._camera(name)
        self.stop_cameras([name])

    def set_situation(self, camera: str, situation: str, active: bool) -> None:
        """Switch one situation of a camera off or back on. Off takes effect at once here (its
        signals are no longer delivered) and in the camera's process at its next frame, where
        its state is forgotten; back on, it starts afresh."""
        if situation not in SITUATION_IDS:
            raise ValueError(f"unknown situation '{situation}' (known: {', '.join(SITUATION_IDS)})")
        with self._lock:
            cam = self._camera(camera)
            if active:
                if situation not in self._enabled(cam):
                    raise ValueError(
                        f"situation '{situation}' is not enabled in camera '{camera}''s "
                        "configuration; enable it there first"
                    )
                cam.inactive.discard(situation)
            else:
                cam.inactive.add(situation)
            if cam.control is not None:
                with contextlib.suppress(OSError):  # a dead process gets it at its restart
                    cam.control.send(("inactive", sorted(cam.inactive)))

    def stop_cameras(self, names: Iterable[str]) -> None:
        """Stop these cameras together (unknown names are skipped): their processes end in
        parallel, within a second for all of them rather than each."""
        with self._lock:
            cams = [self._cameras[n] for n in names if n in self._cameras]
            for cam in cams:
                cam.wanted = False
                cam.restart_at = None
                self._set_state(cam, "stopped")
            procs = self._halt(cams)
        # Outside the lock: the dispatcher keeps reading, so no process waits on a full pipe.
        _end_processes(procs)

    def stop_all(self) -> None:
        """Stop every camera, within a second."""
        self.stop_cameras(list(self._cameras))

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
        self._closing.set()
        self._deliveries.put(None)
        for t in self._threads:
            t.join(timeout=2.0)
        with self._lock:
            for r in self._readers:
                r.close()
            self._readers.clear()
        shutil.rmtree(self._dir, ignore_errors=True)

    def status(self) -> dict[str, CameraStatus]:
        with self._lock:
            return {name: self._status(cam) for name, cam in self._cameras.items()}

    def camera_report(self, camera: str) -> dict[str, Any]:
        """The latest figures the camera's process sent (its own counters since it started:
        `frames`, `dropped`, `requests`, `request_s`, `inference_s`, `errors`, `signals`, …);
        empty before its first report. KeyError if the camera is not configured."""
        with self._lock:
            return dict(self._camera(camera).report)

    def latest_jpeg(self, camera: str) -> bytes | None:
        """The camera's latest blurred picture: refreshed about once a second while someone
        asks for it (a call in the last `PREVIEW_WATCH_S` seconds), every 10 s otherwise
        (`WorkerSpec.idle_jpeg_interval_s`); the first call after a while without any gets
        the last picture kept, and makes the camera send a fresh one at its next frame."""
        with self._lock:
            cam = self._cameras.get(camera)
            if cam is None:
                return None
            cam.viewed_at = time.monotonic()
            if not cam.watched:
                self._tell_preview(cam, True)
            return cam.latest_jpeg

    def _tell_preview(self, cam: _Camera, watched: bool) -> None:
        cam.watched = watched
        if cam.control is not None:
            with contextlib.suppress(OSError):  # a dead process learns it at its restart
                cam.control.send(("preview", watched))

    def unblurred_jpeg(self, camera: str, timeout_s: float = 2.0) -> bytes | None:
        """The camera's current frame as JPEG, NOT blurred, asked of its process now; None if
        the camera is not running, is in the statistics mode, or does not answer within
        `timeout_s`. Kept nowhere: the caller shows it and journals the view."""
        done = threading.Event()
        answer: list[bytes | None] = [None]
        with self._lock:
            cam = self._cameras.get(camera)
            if cam is None or cam.control is None or not cam.wanted:
                return None
            request = next(self._requests)
            self._unblurred[request] = (done, answer)
            try:
                cam.control.send(("unblurred", request))
            except OSError:
                del self._unblurred[request]
                return None
        try:
            done.wait(timeout_s)
        finally:
            with self._lock:
                self._unblurred.pop(request, None)
        return answer[0]

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- internals

    def _camera(self, name: str) -> _Camera:
        cam = self._cameras.get(name)
        if cam is None:
            raise KeyError(f"camera '{name}' is not configured")
        return cam

    def _enabled(self, cam: _Camera) -> set[str]:
        return {sid for sid, cfg in cam.config.situations.items() if cfg.enabled}

    def _status(self, cam: _Camera) -> CameraStatus:
        running = cam.state in ("running", "reconnecting", "starting")
        return CameraStatus(
            name=cam.name,
            state=cam.state,
            fps=self._fps(cam) if running else 0.0,
            lag_s=cam.lag_s if running else 0.0,
            dropped_frames=cam.dropped,
            restarts=cam.restarts,
            last_error=cam.last_error,
            active_situations=sorted(self._enabled(cam) - cam.inactive),
        )

    def _fps(self, cam: _Camera) -> float:
        seen = cam.frames_seen
        if len(seen) < 2:
            return 0.0
        (t0, n0), (t1, n1) = seen[0], seen[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def _set_state(self, cam: _Camera, state: str) -> None:
        cam.state = state
        metrics.CAMERA_STATE.labels(cam.name).state(state)
        if state not in ("running", "reconnecting"):
            metrics.CAMERA_FPS.labels(cam.name).set(0.0)

    def _ensure_started(self) -> None:
        if self._closed:
            raise RuntimeError("the supervisor is closed")
        if self._started:
            return
        self._started = True
        for pool in self._pools:
            self._spawn_pool(pool)
        for target, name in ((self._dispatch, "dispatch"), (self._deliver, "deliver")):
            t = threading.Thread(target=target, name=f"veilleur-supervisor-{name}", daemon=True)
            t.start()
            self._threads.append(t)

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
        site = self.site.model_copy(update={"cameras": {**self.site.cameras, cam.name: cam.config}})
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
        if cam.config.mode == "statistics":
            cam.latest_jpeg = None  # no picture of a camera counting only
        cam.frames_seen.clear()
        cam.fps_offset = 0
        cam.report = {}
        cam.restart_at = None
        self._set_state(cam, "starting")
        cam.process.start()
        writer.close()
        control_reader.close()
        cam.control, cam.reader = control_writer, reader
        self._readers.add(reader)
        cam.started_at = cam.last_message = time.monotonic()
        cam.heard = False

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

    def _deliver(self) -> None:
        while True:
            event = self._deliveries.get()
            if event is None:
                return
            self._deliver_until_stored(event)

    def _deliver_until_stored(
        self, event: SignalEvent | AttachedEvent | list[StatisticRow]
    ) -> None:
        """Hand `event` over; while the store cannot be reached, keep it and try again with
        back-off. Later events wait behind it, so their order (a further event after its
        signal) is kept. At shutdown, what still waits is counted and logged as lost."""
        delay = STORE_RETRY_FIRST_S
        while True:
            try:
                self._hand_over(event)
            except StoreUnavailable as exc:
                metrics.STORE_RETRIES.inc()
                waiting = self._deliveries.qsize() + 1
                metrics.DELIVERIES_WAITING.set(waiting)
                if self.store_unavailable_since is None:
                    self.store_unavailable_since = time.time()
                    log.error("the store cannot be reached (%s): signals wait in the server "
                              "and are stored when it answers again", exc)  # fmt: skip
                if self._closing.is_set():
                    self._give_up(event)
                    return
                self._closing.wait(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
                continue
            if self.store_unavailable_since is not None:
                log.warning("the store answers again after %.1f s; %d events were waiting",
                            time.time() - self.store_unavailable_since,
                            self._deliveries.qsize() + 1)  # fmt: skip
                self.store_unavailable_since = None
            metrics.DELIVERIES_WAITING.set(self._deliveries.qsize())
            return

    def _give_up(self, first: SignalEvent | AttachedEvent | list[StatisticRow]) -> None:
        lost = [first]
        while True:
            try:
                more = self._deliveries.get_nowait()
            except queue.Empty:
                break
            if more is None:  # the end mark of close(): the delivery thread ends on it
                self._deliveries.put(None)
                break
            lost.append(more)
        metrics.DELIVERIES_LOST.inc(len(lost))
        metrics.DELIVERIES_WAITING.set(0)
        log.error("shutting down while the store cannot be reached: %d events could not be "
                  "stored", len(lost))  # fmt: skip

    def _hand_over(self, event: SignalEvent | AttachedEvent | list[StatisticRow]) -> None:
        """One hand-over to the callbacks; only `StoreUnavailable` comes out of it (any other
        failure is logged: one failing delivery must not stop the next ones)."""
        try:
            if isinstance(event, list):
                if self.on_statistics is not None:
                    self.on_statistics(event)
            elif isinstance(event, AttachedEvent):
                # In order after the signal it belongs to: the same queue and thread.
                if self.on_further is not None:
                    self.on_further(event)
            else:
                self.on_signal(event)
        except StoreUnavailable:
            raise
        except Exception:
            if isinstance(event, list):
                log.exception("on_statistics failed for %d rows", len(event))
            elif isinstance(event, AttachedEvent):
                log.exception("on_further failed for a %s event", event.event.situation)
            else:
                log.exception("on_signal failed for a %s signal", event.signal.situation)

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
        _, name, generation, payload = msg
        cam = self._cameras.get(name)
        if kind == "statistics" and cam is not None:
            # Anonymous counts of frames already analysed, taken even from a process being
            # stopped: its last, partial bucket is sent as it ends.
            if payload:
                self._deliveries.put(list(payload))
            return
        if cam is None or generation != cam.generation or not cam.wanted:
            return  # from a process that was stopped or replaced
        now = time.monotonic()
        cam.last_message = now
        cam.heard = True
        if kind == "state":
            state, error = payload
            self._set_state(cam, state)
            if error:
                cam.last_error = error
        elif kind == "note":
            cam.last_error = payload
        elif kind == "report":
            self._take_report(cam, payload, now)
        elif kind == "jpeg":
            cam.latest_jpeg = payload
        elif kind == "unblurred":
            request, data = payload
            waiting = self._unblurred.get(request)
            if waiting is not None:
                waiting[1][0] = data
                waiting[0].set()
        elif kind == "signal":
            event: SignalEvent = payload
            if event.signal.situation in cam.inactive:
                return  # switched off after the process saw it
            metrics.SIGNALS.labels(name, event.signal.situation).inc()
            self._deliveries.put(event)
        elif kind == "further":
            further: AttachedEvent = payload
            if further.event.situation in cam.inactive:
                return
            self._deliveries.put(further)

    def _take_report(self, cam: _Camera, r: dict[str, Any], now: float) -> None:
        prev = cam.report or dict.fromkeys(r, 0)
        cam.report = r
        name = cam.name
        new_drops = r["dropped"] - prev["dropped"]
        if new_drops > 0:
            cam.dropped += new_drops
            metrics.CAMERA_DROPPED.labels(name).inc(new_drops)
        new_frames = r["frames"] - prev["frames"]
        if new_frames > 0:
            metrics.CAMERA_FRAMES.labels(name).inc(new_frames)
        requests = r["requests"] - prev["requests"]
        if requests > 0:
            cam.detector_ms = 1000.0 * (r["request_s"] - prev["request_s"]) / requests
            metrics.CAMERA_DETECTOR_MS.labels(name).set(cam.detector_ms)
        cam.lag_s = r["lag_s"]
        metrics.CAMERA_LAG.labels(name).set(cam.lag_s)
        seen = cam.frames_seen
        seen.append((now, r["frames"]))
        while len(seen) > 2 and now - seen[0][0] > FPS_WINDOW_S:
            seen.popleft()
        metrics.CAMERA_FPS.labels(name).set(self._fps(cam))
        if r["beat_age_s"] > self.stall_s:
            self._restart(cam, f"stalled: no progress for {r['beat_age_s']:.0f} s")

    def _restart(self, cam: _Camera, reason: str) -> None:
        """Count a failure of the camera's process and schedule its replacement."""
        log.warning("camera %s: %s; restarting in %.0f s", cam.name, reason, cam.backoff)
        procs = self._halt([cam])
        if procs:  # ended aside: this thread is the one that reads their pipes
            threading.Thread(target=_end_processes, args=(procs,), daemon=True).start()
        cam.restarts += 1
        metrics.CAMERA_RESTARTS.labels(cam.name).inc()
        cam.last_error = reason if cam.last_error is None else f"{reason} ({cam.last_error})"
        self._set_state(cam, "failed")
        cam.restart_at = time.monotonic() + cam.backoff
        cam.backoff = min(cam.backoff * 2, BACKOFF_MAX_S)

    def _check_health(self, now: float) -> None:
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
            if cam.watched and now - cam.viewed_at > PREVIEW_WATCH_S:
                self._tell_preview(cam, False)
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
