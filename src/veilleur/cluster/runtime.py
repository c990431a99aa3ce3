"""The cluster runtime: the cameras of a site spread over the nodes of a Ray cluster.

`ClusterRuntime` offers what `runtime.Supervisor` offers (start, start_camera, stop_camera,
stop_cameras, set_situation, stop_all, close, status, latest_jpeg, unblurred_jpeg, the
`on_signal`, `on_further` and `on_statistics` callbacks, Prometheus metrics), so the API, the
store and the console do not change: it lives in the server's process (the Ray driver), which
stays the only writer of the database and the journal. What the cameras send is handled by the
same `runtime.hub.CameraHub` as on one machine.

- **Placement.** A node offers cameras through a custom resource (`veilleur_camera`, how many
  cameras it takes: `ray start --resources '{"veilleur_camera": 8}'`). Each camera is a
  `CameraActor` needing one unit of it, placed by the runtime on the node with the lowest share
  of its units in use (and pinned there), beside that node's `DetectorPoolActor`. A node with
  a unit free keeps a spare camera actor (its modules imported, holding the unit) that the
  next camera placed there becomes: a camera moved from a lost node starts without waiting
  for a new process and its imports.
- **What flows where.** The server long-polls each camera actor (`poll`, every half second at
  most): states, figures, the latest blurred picture (about 1/s), signals with their blurred
  snapshot and clip, further events, statistics. Pictures are blurred on the camera's node
  before they leave it (SPEC S6); detector requests stay on the node (its object store).
- **Stops** (`stop_camera`, `stop_cameras`, `stop_all`, and so the authorisation gate's
  revocations) take effect at once in the server (nothing more of the camera is delivered),
  set the actor's stop flag, checked before every frame, wait up to half a second for the
  analysis to end, then kill the actor whatever it was doing.
- **Failures.** A camera whose poll fails, or stays unanswered for `lost_s`, is restarted
  with the local back-off. A node where a camera's poll or the pool's heartbeat finds the
  actor unreachable (Ray says so about 2 s after a node dies), or whose pool leaves its
  heartbeat unanswered for `lost_s`, counts as lost
  (Ray itself declares a dead node only after about 15 s): its cameras are restarted at once
  on the other nodes, their restarts and lost frames counted. A pool that died on a live node
  is re-created, and its cameras find it again by name.

Every actor is owned by the server's Ray job: when the server ends, however it ends, Ray ends
its actors, so no camera goes on analysing outside a stop or an authorisation.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from veilleur.cluster.actors import POOL_CONCURRENCY, CameraActor, DetectorPoolActor
from veilleur.config.model import CameraConfig, SiteConfig
from veilleur.perception.detector import DetectorFactory
from veilleur.runtime import metrics
from veilleur.runtime.events import AttachedEvent, SignalEvent
from veilleur.runtime.hub import BACKOFF_FIRST_S, BACKOFF_RESET_S, START_GRACE_S, CameraHub, _Camera
from veilleur.runtime.worker import EXIT_DONE, WorkerSpec
from veilleur.scene.statistics import DEFAULT_BUCKET_S, StatisticRow

log = logging.getLogger(__name__)

#: The custom resource by which a node offers cameras (its amount: how many).
CAMERA_RESOURCE = "veilleur_camera"
#: How long a camera actor's poll waits for a first message.
POLL_S = 0.5
#: How often each node's pool is asked for its figures (also its heartbeat).
PING_S = 0.5
#: Time an analysis has to end after its stop flag is set before its actor is killed.
STOP_WAIT_S = 0.5
#: How often a node counted lost, that Ray still lists, is probed with a new pool.
PROBE_S = 2.0


@dataclass
class _ActorCamera(_Camera):
    actor: Any = None
    node: str | None = None
    poll_ref: Any = None
    poll_sent: float = 0.0


@dataclass
class _NodePool:
    node: str
    name: str
    handle: Any
    started_at: float
    last_answer: float = 0.0
    heard: bool = False
    ping_ref: Any = None
    ping_sent: float = 0.0


_remote_camera: Any = None
_remote_pool: Any = None


def _remote_classes() -> tuple[Any, Any]:
    """The actor classes, made remote once per process (after `ray.init`)."""
    global _remote_camera, _remote_pool
    if _remote_camera is None:
        _remote_camera = ray.remote(CameraActor)
        make_remote: Any = ray.remote  # its overloads do not list `concurrency_groups`
        _remote_pool = make_remote(concurrency_groups=POOL_CONCURRENCY)(DetectorPoolActor)
    return _remote_camera, _remote_pool


class ClusterRuntime(CameraHub):
    """Runs the cameras of a site on a Ray cluster; see the module's docstring.

    `address` is the cluster's (`ray.init(address=...)`, e.g. "auto" or "10.0.0.5:6379");
    when Ray is already initialised in this process (tests), that connection is used and left
    open at `close`. `lost_s` is how long a camera or a node's pool may leave a request
    unanswered before it counts as lost: a backstop for a node cut off the network, long
    enough not to take a loaded node for a lost one (a failed request counts at once).
    `camera_resource` names the nodes' custom resource. The other arguments are
    `runtime.Supervisor`'s.
    """

    def __init__(
        self,
        site: SiteConfig,
        *,
        on_signal: Callable[[SignalEvent], None],
        address: str | None = None,
        realtime_files: bool = True,
        loop_files: bool = False,
        detector_factory: DetectorFactory | None = None,
        stall_s: float = 15.0,
        lost_s: float = 8.0,
        clip_s: float = 4.0,
        on_statistics: Callable[[list[StatisticRow]], None] | None = None,
        statistics_bucket_s: int = DEFAULT_BUCKET_S,
        on_further: Callable[[AttachedEvent], None] | None = None,
        on_batch: Callable[[list[SignalEvent | AttachedEvent]], None] | None = None,
        camera_resource: str = CAMERA_RESOURCE,
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
        self.address = address
        self.realtime_files = realtime_files
        self.loop_files = loop_files
        self.detector_factory = detector_factory
        self.lost_s = lost_s
        self.clip_s = clip_s
        self.camera_resource = camera_resource
        # Names of this runtime's pools: two servers on one cluster never share one.
        self._token = secrets.token_hex(4)
        self._pools: dict[str, _NodePool] = {}
        self._spares: dict[str, Any] = {}
        """Per node, a camera actor with its modules imported, waiting to become a camera."""
        self._lost_nodes: dict[str, float] = {}
        """Nodes counted lost, left out of placement until a new pool there answers (a node
        that was only slow) or Ray no longer lists them."""
        self._next_probe = 0.0
        self._next_prepare = 0.0
        self._refs: dict[Any, tuple[str, str, int]] = {}
        self._own_ray = False
        self._started = False
        self._closed = False
        self.last_stops: dict[str, dict[str, Any]] = {}
        """Per camera, its latest stop: when it was asked (`requested_at`, wall time), whether
        the analysis ended by itself before the kill (`ended`), when its last frame was
        analysed (`last_analysed_at`), and when the actor was killed (`killed_at`)."""

    # ------------------------------------------------------------------- public

    def connect(self) -> None:
        """Join the cluster now (otherwise at the first camera started): a wrong address fails
        here, at the server's start, rather than when an authorisation begins."""
        with self._lock:
            self._ensure_started()

    def start(self) -> None:
        """Connect to the cluster and start every camera of the site."""
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
                cam = self._cameras[name] = self._new_camera(name, config)
            elif config is not None:
                cam.config = config
                cam.inactive &= self._enabled(cam)
            if self._actor_camera(cam).actor is not None:
                # Stopped as at a stop (its last statistics kept), then started afresh.
                self.stop_cameras([name])
            cam.wanted = True
            cam.backoff = BACKOFF_FIRST_S
            cam.last_error = None
            cam.down_since = None
            self._spawn(self._actor_camera(cam))

    def stop_cameras(self, names: Iterable[str]) -> None:
        """Stop these cameras together (unknown names are skipped): nothing more of them is
        delivered from now, their analyses end at their next frame, and their actors are gone
        within a second for all of them."""
        with self._lock:
            cams = [self._actor_camera(self._cameras[n]) for n in names if n in self._cameras]
            for cam in cams:
                cam.wanted = False
                cam.restart_at = None
                cam.down_since = None  # stopped on purpose: nothing is being lost
                self._set_state(cam, "stopped")
            actors = [(cam.name, cam.actor) for cam in cams if cam.actor is not None]
            for cam in cams:
                self._halt(cam, kill=False)
        if not actors:
            return
        # Outside the lock: the dispatcher goes on handling the other cameras meanwhile.
        asked = time.time()
        stops = {actor.stop.remote(STOP_WAIT_S): name for name, actor in actors}
        ready, _ = ray.wait(list(stops), num_returns=len(stops), timeout=STOP_WAIT_S + 0.15)
        results: dict[str, dict[str, Any]] = {}
        for ref in ready:
            with contextlib.suppress(RayError):
                results[stops[ref]] = ray.get(ref)
        # The last, partial bucket of a camera counting statistics is not lost at a stop.
        ended = [(n, a) for n, a in actors if results.get(n, {}).get("ended")]
        self._take_statistics(ended)
        for _, actor in actors:
            with contextlib.suppress(Exception):  # the backstop: whatever it was doing
                ray.kill(actor, no_restart=True)
        killed = time.time()
        with self._lock:
            for name, _ in actors:
                self.last_stops[name] = {
                    "requested_at": asked,
                    "ended": bool(results.get(name, {}).get("ended")),
                    "last_analysed_at": results.get(name, {}).get("last_analysed_at"),
                    "killed_at": killed,
                }

    def close(self) -> None:
        """Stop every camera and the pools, end the runtime's threads, and leave the cluster
        (if this runtime joined it)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.stop_all()
        with self._lock:
            actors = [pool.handle for pool in self._pools.values()] + list(self._spares.values())
            self._pools.clear()
            self._spares.clear()
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        self._end_threads()
        if self._own_ray:
            ray.shutdown()

    def nodes(self) -> dict[str, list[str]]:
        """The nodes running cameras of this runtime, with their cameras."""
        with self._lock:
            out: dict[str, list[str]] = {}
            for cam in self._cameras.values():
                node = self._actor_camera(cam).node
                if node is not None and cam.wanted:
                    out.setdefault(node, []).append(cam.name)
            return out

    def __enter__(self) -> ClusterRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- internals

    def _new_camera(self, name: str, config: CameraConfig) -> _Camera:
        return _ActorCamera(name, config)

    @staticmethod
    def _actor_camera(cam: _Camera) -> _ActorCamera:
        assert isinstance(cam, _ActorCamera)
        return cam

    def _node_of(self, cam: _Camera) -> str | None:
        return self._actor_camera(cam).node

    def _ensure_started(self) -> None:
        if self._closed:
            raise RuntimeError("the cluster runtime is closed")
        if self._started:
            return
        if not ray.is_initialized():
            # No telemetry (SPEC S10): Ray reports usage unless told not to; this covers a
            # cluster this process starts itself (the nodes' own `ray start` need the same).
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            ray.init(address=self.address, include_dashboard=False)
            self._own_ray = True
        self._started = True
        self._start_threads((self._dispatch, "cluster-dispatch"))

    def _send_control(self, cam: _Camera, message: tuple[Any, ...]) -> bool:
        actor = self._actor_camera(cam).actor
        if actor is None:
            return False
        actor.tell.remote(message)
        return True

    def _halt(self, cam: _ActorCamera, *, kill: bool = True) -> None:
        """Forget the camera's actor (anything it still sends is ignored); kill it unless the
        caller stops it itself."""
        if cam.actor is not None and kill:
            with contextlib.suppress(Exception):
                ray.kill(cam.actor, no_restart=True)
        cam.actor = None
        cam.node = None
        cam.poll_ref = None
        cam.generation += 1

    def _take_statistics(self, actors: list[tuple[str, Any]]) -> None:
        if not actors:
            return
        refs = [actor.poll.remote(0.0) for _, actor in actors]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.2)
        for ref in ready:
            with contextlib.suppress(RayError):
                msgs, _ = ray.get(ref)
                with self._lock:
                    for msg in msgs:
                        if msg[0] == "statistics":
                            self._handle(msg)

    # ------------------------------------------------------------------ placement

    def _alive_nodes(self) -> dict[str, float]:
        """Nodes Ray says are alive, with how many cameras each offers."""
        out = {}
        for node in ray.nodes():
            units = float(node.get("Resources", {}).get(self.camera_resource, 0.0))
            if node.get("Alive") and units >= 1:
                out[node["NodeID"]] = units
        return out

    def _place(self, now: float) -> str | None:
        """The node for one more camera: the lowest share of its units in use, among those
        that have a unit free and were not lost lately."""
        used: dict[str, int] = {}
        for cam in self._cameras.values():
            node = self._actor_camera(cam).node
            if node is not None:
                used[node] = used.get(node, 0) + 1
        best: tuple[float, int, str] | None = None
        for node, units in self._alive_nodes().items():
            if node in self._lost_nodes:
                continue
            pool = self._pools.get(node)
            if pool is not None and pool.heard and now - pool.last_answer > 4 * PING_S:
                # Its pool is late: perhaps the node is going (a camera there was just lost),
                # and Ray would still place an actor there; this camera waits a moment.
                continue
            n = used.get(node, 0)
            if n + 1 > units:
                continue
            key = (n / units, n, node)
            if best is None or key < best:
                best = key
        return None if best is None else best[2]

    def _pool_on(self, node: str) -> _NodePool:
        pool = self._pools.get(node)
        if pool is None:
            _, remote_pool = _remote_classes()
            name = f"veilleur-pool-{self._token}-{node[:16]}"
            handle = remote_pool.options(
                name=name,
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
                max_restarts=0,
            ).remote(self.detector_factory)
            now = time.monotonic()
            pool = self._pools[node] = _NodePool(node, name, handle, now, last_answer=now)
        return pool

    def _new_pool(self, node: str) -> bool:
        """`_pool_on`, where a pool that just died may still hold its name for a moment:
        False then, and the next round tries again."""
        try:
            self._pool_on(node)
        except ValueError as exc:  # "the name is already taken"
            log.info("detector pool on node %s not created yet: %s", node[:8], exc)
            return False
        return True

    def _spawn(self, cam: _ActorCamera) -> None:
        now = time.monotonic()
        node = self._place(now)
        if node is None or not self._new_pool(node):
            cam.generation += 1
            self._set_state(cam, "failed")
            cam.last_error = (
                f"no cluster node can take it now: none answering has a free "
                f"'{self.camera_resource}' (add one with `ray start --address ... "
                f"--resources '{{\"{self.camera_resource}\": 4}}'`)"
            )
            cam.restart_at = now + BACKOFF_FIRST_S
            return
        pool = self._pools[node]
        cam.generation += 1
        spec = WorkerSpec(
            camera=cam.name,
            site=self._site_for(cam),
            generation=cam.generation,
            inactive=frozenset(cam.inactive),
            pool_address="",  # the pool is the node's actor, reached by name
            authkey=b"",
            realtime=self.realtime_files,
            loop=self.loop_files,
            clip_s=self.clip_s,
            statistics_bucket_s=self.statistics_bucket_s,
            watched=cam.watched,
        )
        spare = self._spares.pop(node, None)
        if spare is not None:
            # The node's spare becomes the camera (it holds its unit already).
            spare.begin.remote(spec, pool.name)
            cam.actor = spare
        else:
            cam.actor = self._camera_actor(node).remote(spec, pool.name)
        cam.node = node
        cam.poll_ref = None
        self._reset_for_start(cam)

    def _camera_actor(self, node: str) -> Any:
        """The options of a camera actor (or a spare) on `node`."""
        remote_camera, _ = _remote_classes()
        return remote_camera.options(
            num_cpus=0,
            resources={self.camera_resource: 1},
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            max_concurrency=4,  # poll, tell and stop while the analysis runs
            max_restarts=0,  # restarts are this runtime's: on another node if need be
        )

    def _prepare_nodes(self, now: float) -> None:
        """Every node that takes cameras gets its pool, and a spare while it has a unit free,
        so that cameras moved there start at once. Not while a camera of this runtime is
        starting: a spare's imports would slow it down."""
        if now < self._next_prepare or any(c.state == "starting" for c in self._cameras.values()):
            return
        self._next_prepare = now + PROBE_S
        used: dict[str, int] = {}
        for cam in self._cameras.values():
            node = self._actor_camera(cam).node
            if node is not None:
                used[node] = used.get(node, 0) + 1
        for node, units in self._alive_nodes().items():
            if node in self._lost_nodes:
                continue
            if not self._new_pool(node):
                continue
            if node not in self._spares and used.get(node, 0) + 1 <= units:
                self._spares[node] = self._camera_actor(node).remote()

    def _restart(self, cam: _Camera, reason: str, *, at_once: bool = False) -> None:
        """Count a failure of the camera's actor and schedule its replacement (at once when
        its node was lost: that is not the camera's failure)."""
        acam = self._actor_camera(cam)
        log.warning("camera %s: %s; restarting", cam.name, reason)
        self._halt(acam)
        self._count_failure(cam, reason)
        if at_once:
            cam.restart_at = time.monotonic()

    # ------------------------------------------------------------------ the thread

    def _dispatch(self) -> None:
        last_check = 0.0
        while not self._closing.is_set():
            with self._lock:
                self._send_requests(time.monotonic())
                refs = list(self._refs)
            if refs:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.1, fetch_local=True)
            else:
                ready = []
                self._closing.wait(0.1)
            for ref in ready:
                try:
                    self._receive(ref)
                except Exception:  # one bad answer must not end the runtime's thread
                    log.exception("cluster runtime: cannot handle an answer")
            with self._lock:
                if self._closing.is_set():
                    return
                now = time.monotonic()
                if now - last_check >= 0.2:
                    last_check = now
                    try:
                        self._check_health(now)
                    except Exception:  # the cluster's state could not be read: next round
                        log.exception("cluster runtime: health check failed")

    def _send_requests(self, now: float) -> None:
        for cam in self._cameras.values():
            acam = self._actor_camera(cam)
            if acam.actor is not None and acam.poll_ref is None:
                acam.poll_ref = acam.actor.poll.remote(POLL_S)
                acam.poll_sent = now
                self._refs[acam.poll_ref] = ("camera", cam.name, cam.generation)
        for pool in self._pools.values():
            if pool.ping_ref is None and now - pool.ping_sent >= PING_S:
                pool.ping_ref = pool.handle.report.remote()
                pool.ping_sent = now
                self._refs[pool.ping_ref] = ("pool", pool.node, 0)

    def _receive(self, ref: Any) -> None:
        try:
            answer: Any = ray.get(ref)
            error: Exception | None = None
        except Exception as exc:
            answer, error = None, exc
        with self._lock:
            kind, key, generation = self._refs.pop(ref, ("", "", 0))
            if kind == "pool":
                self._pool_answered(key, answer, error)
                return
            cam = self._cameras.get(key)
            if cam is None:
                return
            acam = self._actor_camera(cam)
            if acam.poll_ref is ref:
                acam.poll_ref = None
            if generation != cam.generation or not cam.wanted:
                # A stopped or replaced actor: only its statistics still count.
                if error is None:
                    for msg in answer[0]:
                        if msg[0] == "statistics":
                            self._handle(msg)
                return
            if error is not None:
                why = f"camera actor lost ({type(error).__name__})"
                if isinstance(error, ActorUnavailableError) and acam.node is not None:
                    # Its node cannot be reached (Ray has not said it died): the node is
                    # counted lost, its cameras move at once, and it is probed later.
                    self._node_lost(acam.node, why)
                else:
                    self._restart(cam, why)
                return
            msgs, code = answer
            for msg in msgs:
                try:
                    self._handle(msg)
                except Exception:
                    log.exception("cluster runtime: cannot handle %r", msg[:3])
            if code is not None and cam.generation == generation and cam.wanted:
                if code == EXIT_DONE:
                    # The end of a file that is not looped: finished, not failed.
                    self._halt(acam)
                    cam.wanted = False
                    if cam.state != "failed":
                        self._set_state(cam, "stopped")
                else:
                    self._restart(cam, f"camera analysis exited with code {code}")

    def _pool_answered(self, node: str, answer: Any, error: Exception | None) -> None:
        pool = self._pools.get(node)
        if pool is None:
            return
        pool.ping_ref = None
        if error is None:
            pool.last_answer = time.monotonic()
            pool.heard = True
            if self._lost_nodes.pop(node, None) is not None:
                log.warning("cluster node %s answers again: it takes cameras again", node[:8])
            label = node[:8]
            metrics.POOL_REQUESTS.labels(label).inc(answer["requests"])
            if answer["inference_ms"] is not None:
                metrics.POOL_INFERENCE_MS.labels(label).set(answer["inference_ms"])
            return
        if node in self._lost_nodes:
            # The probe of a node counted lost failed: still lost, probed again later.
            del self._pools[node]
            self._lost_nodes[node] = time.monotonic()
            return
        if isinstance(error, ActorDiedError) and node in self._alive_nodes():
            # The pool's process died on a node still alive: a new pool; the cameras there
            # fail a frame or two and find it by name.
            log.warning("detector pool on node %s died; re-creating it", node[:8])
            del self._pools[node]
            metrics.POOL_RESTARTS.labels(node[:8]).inc()
            self._new_pool(node)
            return
        self._node_lost(node, f"its detector pool failed ({type(error).__name__})")

    def _node_lost(self, node: str, why: str) -> None:
        log.warning("cluster node %s lost: %s; moving its cameras", node[:8], why)
        self._lost_nodes[node] = time.monotonic()
        pool = self._pools.pop(node, None)
        spare = self._spares.pop(node, None)
        for actor in (pool.handle if pool else None, spare):
            if actor is not None:
                with contextlib.suppress(Exception):
                    ray.kill(actor, no_restart=True)
        for cam in self._cameras.values():
            if cam.wanted and self._actor_camera(cam).node == node:
                self._restart(cam, f"node {node[:8]} lost: {why}", at_once=True)

    def _probe_lost_nodes(self, now: float) -> None:
        """A node counted lost that Ray still lists gets a new pool: if it answers, the node
        was only slow and takes cameras again; Ray's own verdict (about 15 s after a death)
        ends the probing."""
        if not self._lost_nodes or now < self._next_probe:
            return
        self._next_probe = now + PROBE_S
        alive = self._alive_nodes()
        for node, lost_at in list(self._lost_nodes.items()):
            if node not in alive:
                del self._lost_nodes[node]  # gone: never placed on again (not listed)
            elif node not in self._pools and now - lost_at >= PROBE_S:
                self._new_pool(node)

    def _check_health(self, now: float) -> None:
        self._expire_previews(now)
        self._probe_lost_nodes(now)
        self._prepare_nodes(now)
        for node, pool in list(self._pools.items()):
            if pool.ping_ref is None:
                continue
            waited = now - pool.ping_sent
            limit = self.lost_s if pool.heard else max(self.lost_s, START_GRACE_S)
            if waited > limit:
                self._node_lost(node, f"its detector pool did not answer for {waited:.1f} s")
        for cam in self._cameras.values():
            if not cam.wanted:
                continue
            acam = self._actor_camera(cam)
            if acam.actor is not None:
                if now - cam.started_at > BACKOFF_RESET_S and cam.state == "running":
                    cam.backoff = BACKOFF_FIRST_S
                if acam.poll_ref is not None and cam.heard:
                    waited = now - acam.poll_sent
                    if waited > POLL_S + self.lost_s:
                        self._restart(cam, f"camera actor did not answer for {waited:.1f} s")
                        continue
                if self._silent(cam, now):
                    self._restart(cam, f"stalled: no message for {now - cam.last_message:.0f} s")
            elif cam.restart_at is not None and now >= cam.restart_at:
                self._spawn(acam)
