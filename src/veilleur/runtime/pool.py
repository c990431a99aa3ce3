"""The detector pool: one process that runs the detector for every camera.

A camera worker copies the (already resized) picture, or a crop of it, into a shared-memory
block it owns and sends a small request over a local socket (`multiprocessing.connection`,
authenticated); the pool runs the detector on the block in place and answers with the boxes.
Each camera has at most one request in flight, so serving the ready connections in turn is
fair, and the number of them waiting is the pool's queue depth.

In the worker, `PooledDetector` has the interface the pipeline uses (`detect(image, scale=)`,
`name`, `flexible`, `input_size`, `gives_pose`), and `PooledFactory` is the `DetectorFactory`
handed to the camera's pipeline: the pipeline describes its detector (`DetectorSpec`) exactly
as when it runs alone, and the pool builds it (once per distinct spec) instead of the camera.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from multiprocessing import shared_memory
from multiprocessing.connection import Client, Connection, Listener, wait
from multiprocessing.synchronize import Event
from typing import Any, Protocol

import numpy as np

from veilleur.perception.detector import Detector, DetectorFactory, DetectorSpec, is_scalable
from veilleur.perception.factory import build_local
from veilleur.types import Detections

log = logging.getLogger(__name__)

#: How often the pool reports its figures (also its heartbeat), in seconds.
REPORT_INTERVAL_S = 1.0


class PoolUnavailable(RuntimeError):
    """The detector pool did not answer (restarting, stalled, or gone)."""


class PutQueue(Protocol):
    def put(self, obj: Any) -> None: ...


class Outbox:
    """A process's line to the supervisor: its own pipe, written by any of its threads.

    One pipe per process rather than one queue for all: a process killed in the middle of a
    write can only damage its own pipe, never block the others behind a shared lock.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def put(self, obj: Any) -> None:
        # OSError: the supervisor is gone, nobody is left to tell.
        with self._lock, contextlib.suppress(OSError):
            self._conn.send(obj)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def detector_key(spec: DetectorSpec) -> str:
    """The pool's name for a detector: equal specs share one detector."""
    return repr(spec)


# ------------------------------------------------------------------------------------- pool


def pool_main(
    index: int,
    address: str,
    authkey: bytes,
    outbox: Connection,
    stop: Event,
    factory: DetectorFactory | None = None,
    parent_pid: int | None = None,
) -> None:
    """Entry point of a pool process: serve detector requests until `stop` is set, or until
    the server (`parent_pid`) is gone: then its socket and the runtime folder go too."""
    from veilleur.runtime.lifetime import ParentWatch, remove_orphaned_socket

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the supervisor's to handle
    watch = ParentWatch(
        os.getppid() if parent_pid is None else parent_pid,
        on_orphan=stop.set,
        cleanup=lambda: remove_orphaned_socket(address),
    ).start()
    events = Outbox(outbox)
    import cv2

    cv2.setNumThreads(1)
    if factory is None:
        factory = build_local
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)  # left by a pool process that was killed
    listener = Listener(address, family="AF_UNIX", authkey=authkey)
    conns: list[Connection] = []
    attached: dict[Connection, shared_memory.SharedMemory] = {}
    lock = threading.Lock()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn = listener.accept()
            except Exception:  # a client that failed authentication, or the listener closed
                if stop.is_set():
                    return
                log.warning("detector pool %d: a connection was refused", index, exc_info=True)
                continue
            with lock:
                conns.append(conn)

    threading.Thread(target=accept, name="pool-accept", daemon=True).start()
    detectors: dict[str, Detector] = {}
    served = 0
    infer_s = 0.0
    depth_sum = 0
    last_report = time.monotonic()

    def drop(conn: Connection) -> None:
        with lock:
            if conn in conns:
                conns.remove(conn)
        shm = attached.pop(conn, None)
        if shm is not None:
            shm.close()
        conn.close()

    def serve(conn: Connection) -> float:
        """Answer one request of `conn`; returns the inference time spent."""
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            drop(conn)
            return 0.0
        kind = msg[0]
        try:
            if kind == "build":
                _, spec = msg
                key = detector_key(spec)
                if key not in detectors:
                    detectors[key] = factory(spec)
                conn.send(("built", key, describe_detector(detectors[key])))
                return 0.0
            if kind == "detect":
                _, key, shm_name, shape, scale = msg
                shm = attached.get(conn)
                if shm is None or shm.name != shm_name:
                    if shm is not None:
                        shm.close()
                    shm = shared_memory.SharedMemory(name=shm_name)
                    attached[conn] = shm
                image = np.ndarray(shape, dtype=np.uint8, buffer=shm.buf)
                det = detectors[key]
                t0 = time.perf_counter()
                if scale is None:
                    dets = det.detect(image)
                elif is_scalable(det):
                    dets = det.detect(image, scale=scale)
                else:
                    raise ValueError(f"{det.name} cannot run on a crop at another scale")
                dt = time.perf_counter() - t0
                del image  # the block cannot be closed while a view of it exists
                conn.send(("dets", dets.xyxy, dets.confidence, dets.class_id, dets.keypoints, dt))
                return dt
            conn.send(("error", f"unknown request {kind!r}"))
        except (EOFError, OSError, BrokenPipeError):
            drop(conn)
        except Exception as exc:  # the camera reports it; the pool keeps serving the others
            log.exception("detector pool %d: request failed", index)
            with contextlib.suppress(OSError):
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return 0.0

    try:
        while not stop.is_set():
            with lock:
                current = list(conns)
            ready = wait(current, timeout=0.2) if current else []
            if not current:
                stop.wait(0.05)
            # Requests still waiting behind each one taken (0: nobody ever waits).
            depth_sum += len(ready) * (len(ready) - 1) // 2
            for conn in ready:
                assert isinstance(conn, Connection)
                infer_s += serve(conn)
                served += 1
            now = time.monotonic()
            if now - last_report >= REPORT_INTERVAL_S:
                events.put(
                    (
                        "pool",
                        index,
                        {
                            "requests": served,
                            "inference_ms": 1000.0 * infer_s / served if served else None,
                            "queue_depth": depth_sum / served if served else 0.0,
                            "clients": len(current),
                        },
                    )
                )
                served, infer_s, depth_sum, last_report = 0, 0.0, 0, now
    finally:
        listener.close()
        for conn in list(conns):
            drop(conn)
        if watch.orphaned.is_set():
            remove_orphaned_socket(address)


def describe_detector(detector: Detector) -> dict[str, Any]:
    """What the pipeline reads of a detector besides `detect`."""
    size = getattr(detector, "input_size", None)
    return {
        "name": getattr(detector, "name", type(detector).__name__),
        "classes": tuple(getattr(detector, "classes", ())),
        "flexible": bool(getattr(detector, "flexible", False)),
        "input_size": int(size) if isinstance(size, int | np.integer) else None,
        "gives_pose": bool(getattr(detector, "gives_pose", False)),
    }


# ----------------------------------------------------------------------------------- client


class PoolClient:
    """A camera worker's line to the pool: one connection, one shared-memory block."""

    def __init__(self, address: str, authkey: bytes, *, timeout_s: float = 10.0) -> None:
        self.address = address
        self.authkey = authkey
        self.timeout_s = timeout_s
        self._conn: Connection | None = None
        self._shm: shared_memory.SharedMemory | None = None
        self._builds: dict[str, DetectorSpec] = {}
        self.requests = 0
        self.request_s = 0.0
        """Wall time of the detect requests: queueing in the pool and inference."""
        self.inference_s = 0.0

    def _connection(self) -> Connection:
        if self._conn is None:
            # A camera spawned with its pool may get here before the pool listens: wait for
            # the socket a while (pool start-up imports take a second or two on a busy machine).
            deadline = time.monotonic() + self.timeout_s
            while True:
                try:
                    conn = Client(self.address, family="AF_UNIX", authkey=self.authkey)
                    break
                except (FileNotFoundError, ConnectionRefusedError) as exc:
                    if time.monotonic() >= deadline:
                        raise PoolUnavailable(
                            f"the detector pool is not reachable ({exc})"
                        ) from None
                    time.sleep(0.05)
                except (OSError, EOFError) as exc:
                    raise PoolUnavailable(f"the detector pool is not reachable ({exc})") from None
            self._conn = conn
            try:
                for spec in self._builds.values():  # a restarted pool knows nothing yet
                    self._call(("build", spec), timeout_s=120.0)
            except BaseException:
                self._disconnect()
                raise
        return self._conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _call(self, msg: tuple[Any, ...], timeout_s: float | None = None) -> tuple[Any, ...]:
        conn = self._conn
        assert conn is not None
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            conn.send(msg)
            if not conn.poll(limit):
                # A late answer would be taken for the next request's: start a new connection.
                self._disconnect()
                raise PoolUnavailable(f"the detector pool did not answer within {limit:g} s")
            reply: tuple[Any, ...] = conn.recv()
        except (OSError, EOFError) as exc:
            self._disconnect()
            raise PoolUnavailable(f"lost the detector pool ({type(exc).__name__})") from None
        if reply[0] == "error":
            raise RuntimeError(f"detector pool: {reply[1]}")
        return reply

    def build(self, spec: DetectorSpec) -> PooledDetector:
        """Have the pool build (or reuse) this detector; returns its stand-in."""
        self._connection()
        # Loading a model takes a while, and the pool may be loading another camera's.
        _, key, described = self._call(("build", spec), timeout_s=120.0)
        self._builds[key] = spec
        return PooledDetector(self, key, described)

    def detect(self, key: str, image: np.ndarray, scale: float | None) -> Detections:
        if image.dtype != np.uint8 or image.ndim != 3:
            raise ValueError(f"expected an H×W×3 uint8 image, got {image.dtype} {image.shape}")
        t0 = time.perf_counter()
        self._connection()
        shm = self._block(image.nbytes)
        view = np.ndarray(image.shape, dtype=np.uint8, buffer=shm.buf)
        view[...] = image  # a crop is a strided view: this also makes it contiguous
        del view
        reply = self._call(("detect", key, shm.name, image.shape, scale))
        _, xyxy, confidence, class_id, keypoints, infer_s = reply
        self.requests += 1
        self.request_s += time.perf_counter() - t0
        self.inference_s += infer_s
        return Detections(xyxy=xyxy, confidence=confidence, class_id=class_id, keypoints=keypoints)

    def _block(self, nbytes: int) -> shared_memory.SharedMemory:
        shm = self._shm
        if shm is None or shm.size < nbytes:
            if shm is not None:
                shm.close()
                shm.unlink()
            # Some headroom, so that a slightly larger crop does not reallocate.
            shm = shared_memory.SharedMemory(create=True, size=max(nbytes * 5 // 4, 4096))
            self._shm = shm
        return shm

    def close(self) -> None:
        self._disconnect()
        shm, self._shm = self._shm, None
        if shm is not None:
            shm.close()
            with contextlib.suppress(FileNotFoundError):
                shm.unlink()


class DetectRequests(Protocol):
    """What sends a pooled detector's requests: `PoolClient`, or the cluster's client."""

    def detect(self, key: str, image: np.ndarray, scale: float | None) -> Detections: ...


class PooledDetector:
    """Stands for a detector that runs in the pool process."""

    def __init__(self, client: DetectRequests, key: str, described: dict[str, Any]) -> None:
        self.client = client
        self.key = key
        self.name: str = described["name"]
        self.classes: tuple[str, ...] = described["classes"]
        self.flexible: bool = described["flexible"]
        self.input_size: int | None = described["input_size"]
        self.gives_pose: bool = described["gives_pose"]

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections:
        return self.client.detect(self.key, image, scale)


class DetectorBuilder(Protocol):
    """What builds a camera's detector in its pool: `PoolClient`, or the cluster's client."""

    def build(self, spec: DetectorSpec) -> Detector: ...


class PooledFactory:
    """The `DetectorFactory` of a camera process: its detector is the pool's; its pose model
    (`purpose="pose"`, which only this camera needs) is built here by `local`."""

    def __init__(self, client: DetectorBuilder, local: DetectorFactory = build_local) -> None:
        self.client = client
        self.local = local

    def __call__(self, spec: DetectorSpec, /) -> Detector:
        if spec.purpose == "detection":
            return self.client.build(spec)
        return self.local(spec)
