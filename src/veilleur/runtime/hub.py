"""What every runtime does with its cameras' messages, whatever carries them.

A camera's analysis (`runtime.worker.CameraWorker`) speaks in messages
`(kind, camera, generation, payload)`: its state, its figures (`report`, also its heartbeat),
its latest blurred picture, signals, further events, statistics, an unblurred frame asked for.
`CameraHub` keeps, from those messages, each camera's status and metrics and its latest
picture, and hands signals, further events and statistics to the caller's callbacks from a
delivery thread of its own (retrying while the store is unreachable, in order). It is shared
by the runtime of one machine (`runtime.supervisor.Supervisor`: processes and pipes) and the
cluster runtime (`veilleur.cluster.ClusterRuntime`: Ray actors), which differ only in how a
camera is started, stopped, told something and watched.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from veilleur.config.common import SITUATION_IDS
from veilleur.config.model import CameraConfig, SiteConfig
from veilleur.runtime import metrics
from veilleur.runtime.events import AttachedEvent, CameraStatus, SignalEvent, StoreUnavailable
from veilleur.scene.statistics import DEFAULT_BUCKET_S, StatisticRow

log = logging.getLogger(__name__)

#: Back-off between restarts of a failing camera: doubles from the first to the last.
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
#: A camera that has run this long without trouble starts its back-off afresh.
BACKOFF_RESET_S = 60.0
#: Time a new camera has to send its first message (imports and model loading take a while
#: on a busy machine) before it counts as stalled.
START_GRACE_S = 60.0
#: Window over which a camera's frame rate is measured.
FPS_WINDOW_S = 3.0
#: Back-off between hand-overs to a store that cannot be reached: doubles up to the last.
#: A camera whose live picture was asked for within this time is watched: its analysis sends
#: one a second; otherwise one every `WorkerSpec.idle_jpeg_interval_s` (10 s), which spares
#: unseen cameras the blurring and encoding (docs/runtime.md, "CPU per camera").
PREVIEW_WATCH_S = 10.0
#: Back-off between hand-overs to a store that cannot be reached: doubles up to the last.
STORE_RETRY_FIRST_S = 0.5
STORE_RETRY_MAX_S = 5.0

#: The most signals and further events handed to `on_batch` at once.
MAX_BATCH = 64


@dataclass
class _Batch:
    """Signals and further events that waited together, in their order of arrival."""

    events: list[SignalEvent | AttachedEvent]


Delivery = SignalEvent | AttachedEvent | list[StatisticRow]
_Queued = Delivery | _Batch


@dataclass
class _Camera:
    name: str
    config: CameraConfig
    inactive: set[str] = field(default_factory=set)
    wanted: bool = False
    generation: int = 0
    # The local supervisor's process and pipes (the cluster's camera adds its actor).
    process: Any = None
    stop: Any = None
    control: Any = None
    reader: Any = None
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
    """Whether the camera's analysis was told that someone looks (pictures at 1/s)."""
    lag_s: float = 0.0
    detector_ms: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    frames_seen: deque[tuple[float, int]] = field(default_factory=deque)
    fps_offset: int = 0
    """Frames counted by earlier processes of this camera (each process counts from 0)."""
    lost_frames: int = 0
    down_since: float | None = None
    """When the failed analysis was last heard from, until its replacement analyses again."""


class CameraHub:
    """Cameras' bookkeeping and delivery, without the transport; see the module's docstring.

    Subclasses provide `_send_control(cam, message) -> bool` (False: it could not be sent)
    and `_restart(cam, reason)`, and call `_handle` with each message a camera sends, under
    `self._lock`.
    """

    def __init__(
        self,
        site: SiteConfig,
        *,
        on_signal: Callable[[SignalEvent], None],
        on_further: Callable[[AttachedEvent], None] | None = None,
        on_statistics: Callable[[list[StatisticRow]], None] | None = None,
        statistics_bucket_s: int = DEFAULT_BUCKET_S,
        stall_s: float = 15.0,
        on_batch: Callable[[list[SignalEvent | AttachedEvent]], None] | None = None,
    ) -> None:
        self.site = site
        self.on_signal = on_signal
        self.on_further = on_further
        self.on_batch = on_batch
        """When given, the signals and further events that waited in the queue together (up
        to `MAX_BATCH`, in order) are handed over in one call instead of one by one: the
        store commits them in one transaction, which keeps up with bursts of many cameras
        (docs/scaling.md). It raises `StoreUnavailable` like the others: the whole batch is
        handed over again."""
        self.on_statistics = on_statistics
        self.statistics_bucket_s = statistics_bucket_s
        self.stall_s = stall_s
        self._cameras: dict[str, _Camera] = {
            name: self._new_camera(name, cfg) for name, cfg in site.cameras.items()
        }
        self._lock = threading.RLock()
        self._deliveries: queue.Queue[Delivery | None] = queue.Queue()
        self._requests = itertools.count(1)
        self._unblurred: dict[int, tuple[threading.Event, list[bytes | None]]] = {}
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self.store_unavailable_since: float | None = None
        """Wall time since which the store has not answered (None: it answers)."""

    # ------------------------------------------------------------- to provide

    def _new_camera(self, name: str, config: CameraConfig) -> _Camera:
        return _Camera(name, config)

    def _send_control(self, cam: _Camera, message: tuple[Any, ...]) -> bool:
        raise NotImplementedError

    def _restart(self, cam: _Camera, reason: str) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start every camera of the site."""
        raise NotImplementedError

    def start_camera(self, name: str, config: CameraConfig | None = None) -> None:
        """Start a camera (with a new configuration if given; a running one restarts on it)."""
        raise NotImplementedError

    def stop_cameras(self, names: Iterable[str]) -> None:
        """Stop these cameras together (unknown names are skipped), within a second."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop every camera and whatever serves them, and end the runtime's threads."""
        raise NotImplementedError

    # ------------------------------------------------------------------- public

    def stop_camera(self, name: str) -> None:
        """Stop a camera: nothing more of it is delivered from now; its analysis ends within a
        second; KeyError if it is not configured."""
        self._camera(name)
        self.stop_cameras([name])

    def stop_all(self) -> None:
        """Stop every camera, within a second."""
        self.stop_cameras(list(self._cameras))

    def set_situation(self, camera: str, situation: str, active: bool) -> None:
        """Switch one situation of a camera off or back on. Off takes effect at once here (its
        signals are no longer delivered) and in the camera's analysis at its next frame, where
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
            # A camera that is not running gets it at its (re)start, from `cam.inactive`.
            self._send_control(cam, ("inactive", sorted(cam.inactive)))

    def status(self) -> dict[str, CameraStatus]:
        with self._lock:
            return {name: self._status(cam) for name, cam in self._cameras.items()}

    def camera_report(self, camera: str) -> dict[str, Any]:
        """The latest figures the camera's analysis sent (its own counters since it started:
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
        self._send_control(cam, ("preview", watched))  # a dead analysis learns it at its restart

    def _expire_previews(self, now: float) -> None:
        """Tell the cameras nobody looked at for `PREVIEW_WATCH_S` to send pictures rarely."""
        with self._lock:
            for cam in self._cameras.values():
                if cam.watched and now - cam.viewed_at > PREVIEW_WATCH_S:
                    self._tell_preview(cam, False)

    def unblurred_jpeg(self, camera: str, timeout_s: float = 2.0) -> bytes | None:
        """The camera's current frame as JPEG, NOT blurred, asked of its analysis now; None if
        the camera is not running, is in the statistics mode, or does not answer within
        `timeout_s`. Kept nowhere: the caller shows it and journals the view."""
        done = threading.Event()
        answer: list[bytes | None] = [None]
        with self._lock:
            cam = self._cameras.get(camera)
            if cam is None or not cam.wanted:
                return None
            request = next(self._requests)
            self._unblurred[request] = (done, answer)
            if not self._send_control(cam, ("unblurred", request)):
                del self._unblurred[request]
                return None
        try:
            done.wait(timeout_s)
        finally:
            with self._lock:
                self._unblurred.pop(request, None)
        return answer[0]

    # ---------------------------------------------------------------- internals

    def _camera(self, name: str) -> _Camera:
        cam = self._cameras.get(name)
        if cam is None:
            raise KeyError(f"camera '{name}' is not configured")
        return cam

    def _enabled(self, cam: _Camera) -> set[str]:
        return {sid for sid, cfg in cam.config.situations.items() if cfg.enabled}

    def _site_for(self, cam: _Camera) -> SiteConfig:
        """The site as this camera's analysis needs it: its own, current configuration."""
        return self.site.model_copy(update={"cameras": {**self.site.cameras, cam.name: cam.config}})

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
            lost_frames=cam.lost_frames,
            node=self._node_of(cam),
        )

    def _node_of(self, cam: _Camera) -> str | None:
        return None

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

    def _reset_for_start(self, cam: _Camera) -> None:
        """A new analysis of `cam` starts: its figures count afresh."""
        if cam.config.mode == "statistics":
            cam.latest_jpeg = None  # no picture of a camera counting only
        cam.frames_seen.clear()
        cam.fps_offset = 0
        cam.report = {}
        cam.restart_at = None
        self._set_state(cam, "starting")
        cam.started_at = cam.last_message = time.monotonic()
        cam.heard = False

    def _start_threads(self, *targets: tuple[Callable[[], None], str]) -> None:
        """The delivery thread, and the subclass's own."""
        for target, name in ((self._deliver, "deliver"), *targets):
            t = threading.Thread(target=target, name=f"veilleur-runtime-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def _end_threads(self) -> None:
        self._closing.set()
        self._deliveries.put(None)
        for t in self._threads:
            t.join(timeout=2.0)

    def _silent(self, cam: _Camera, now: float) -> bool:
        """Whether a camera has said nothing for too long (longer while it starts)."""
        if cam.heard:
            return now - cam.last_message > self.stall_s
        return now - cam.started_at > max(self.stall_s, START_GRACE_S)

    def _count_failure(self, cam: _Camera, reason: str) -> None:
        """Count a failure of the camera's analysis and schedule its replacement (after the
        camera's back-off), for `_restart`, once the failed analysis is halted."""
        cam.restarts += 1
        metrics.CAMERA_RESTARTS.labels(cam.name).inc()
        if cam.down_since is None:
            cam.down_since = cam.last_message
        cam.last_error = reason if cam.last_error is None else f"{reason} ({cam.last_error})"
        self._set_state(cam, "failed")
        cam.restart_at = time.monotonic() + cam.backoff
        cam.backoff = min(cam.backoff * 2, BACKOFF_MAX_S)

    # ----------------------------------------------------------------- delivery

    def _deliver(self) -> None:
        waiting: list[Delivery | None] = []  # taken from the queue, not yet handed over
        while True:
            event = waiting.pop(0) if waiting else self._deliveries.get()
            if event is None:
                return
            if self.on_batch is None or isinstance(event, list):
                self._deliver_until_stored(event)
                continue
            # Whatever else waits behind this event goes with it, up to the next statistics
            # rows or the end mark (handed over after it, in order).
            batch: list[SignalEvent | AttachedEvent] = [event]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._deliveries.get_nowait()
                except queue.Empty:
                    break
                if more is None or isinstance(more, list):
                    waiting.append(more)
                    break
                batch.append(more)
            self._deliver_until_stored(_Batch(batch) if len(batch) > 1 else event)

    def _deliver_until_stored(self, event: _Queued) -> None:
        """Hand `event` over; while the store cannot be reached, keep it and try again with
        back-off. Later events wait behind it, so their order (a further event after its
        signal) is kept. At shutdown, what still waits is counted and logged as lost."""
        delay = STORE_RETRY_FIRST_S
        size = len(event.events) if isinstance(event, _Batch) else 1
        while True:
            try:
                self._hand_over(event)
            except StoreUnavailable as exc:
                metrics.STORE_RETRIES.inc()
                waiting = self._deliveries.qsize() + size
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
                            self._deliveries.qsize() + size)  # fmt: skip
                self.store_unavailable_since = None
            metrics.DELIVERIES_WAITING.set(self._deliveries.qsize())
            return

    def _give_up(self, first: _Queued) -> None:
        lost: list[_Queued] = list(first.events) if isinstance(first, _Batch) else [first]
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

    def _hand_over(self, event: _Queued) -> None:
        """One hand-over to the callbacks; only `StoreUnavailable` comes out of it (any other
        failure is logged: one failing delivery must not stop the next ones)."""
        try:
            if isinstance(event, _Batch):
                assert self.on_batch is not None
                self.on_batch(event.events)
            elif isinstance(event, list):
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
            if isinstance(event, _Batch):
                log.exception("on_batch failed for %d events", len(event.events))
            elif isinstance(event, list):
                log.exception("on_statistics failed for %d rows", len(event))
            elif isinstance(event, AttachedEvent):
                log.exception("on_further failed for a %s event", event.event.situation)
            else:
                log.exception("on_signal failed for a %s signal", event.signal.situation)

    # ----------------------------------------------------------------- messages

    def _handle(self, msg: tuple[Any, ...]) -> None:
        """One message of a camera's analysis `(kind, camera, generation, payload)`; called
        under `self._lock`."""
        kind, name, generation, payload = msg
        cam = self._cameras.get(name)
        if kind == "statistics" and cam is not None:
            # Anonymous counts of frames already analysed, taken even from an analysis being
            # stopped: its last, partial bucket is sent as it ends.
            if payload:
                self._deliveries.put(list(payload))
            return
        if cam is None or generation != cam.generation or not cam.wanted:
            return  # from an analysis that was stopped or replaced
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
                return  # switched off after the analysis saw it
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
        if cam.down_since is not None and r["frames"] > 0:
            # Analysing again after a failure: what the source showed meanwhile is lost.
            due = (now - cam.down_since) * cam.config.analysis_fps
            lost = max(0, round(due) - r["frames"])
            cam.lost_frames += lost
            cam.down_since = None
            if lost:
                metrics.CAMERA_LOST.labels(name).inc(lost)
        seen = cam.frames_seen
        seen.append((now, r["frames"]))
        while len(seen) > 2 and now - seen[0][0] > FPS_WINDOW_S:
            seen.popleft()
        metrics.CAMERA_FPS.labels(name).set(self._fps(cam))
        if r["beat_age_s"] > self.stall_s:
            self._restart(cam, f"stalled: no progress for {r['beat_age_s']:.0f} s")
