"""What runs on the cluster's nodes: a camera's analysis as a Ray actor, and each node's
detector pool as another.

`CameraActor` wraps the very `runtime.worker.CameraWorker` a camera process runs on one
machine: the same decoding thread and one-frame slot, the same pipeline, the same blurring of
every picture before it leaves (SPEC S6), the same messages. Only the transport differs: the
messages wait in a queue that the server drains (`poll`, a long poll that is also the camera's
heartbeat), the runtime's orders come through `tell`, and `stop` sets the flag the analysis
loop checks before every frame.

`DetectorPoolActor` is the node's `runtime.pool`: it builds each distinct `DetectorSpec` once
(with `perception.factory.build_local`, or the runtime's factory) and runs the detector for
the cameras of its node, one request after the other. A camera reaches it by its name
(`pool_name`), so that a pool re-created after a crash is found again; its pictures travel
through the node's object store, never across the network.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import Any

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayError

from veilleur.perception.detector import Detector, DetectorFactory, DetectorSpec, is_scalable
from veilleur.perception.factory import build_local
from veilleur.runtime.pool import PooledDetector, PoolUnavailable, describe_detector, detector_key
from veilleur.runtime.worker import EXIT_CRASHED, CameraWorker, WorkerSpec
from veilleur.types import Detections

log = logging.getLogger(__name__)

#: The pool actor's concurrency groups (beside the default one, of one thread: requests are
#: served one after the other, as in the local pool).
POOL_CONCURRENCY = {"health": 1}
#: Messages a camera actor keeps for the server before it drops the ones a later message
#: replaces. The server drains them at every poll (at least twice a second), so this many wait
#: only when it stops polling (a network partition, until Ray ends the actor): figures and
#: pictures then stop piling up, while signals, further events, statistics and states, which
#: nothing replaces, are kept for the server.
MAX_WAITING = 1000
#: What a later message of the same camera replaces: figures, the latest picture, log notes.
REPLACEABLE = frozenset({"report", "jpeg", "note"})


class OutgoingMessages(queue.Queue[tuple[Any, ...]]):
    """A camera actor's messages for the server, bounded for what a later one replaces."""

    def __init__(self, limit: int = MAX_WAITING) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0
        """Replaceable messages not kept because `limit` were waiting."""

    def put(self, item: tuple[Any, ...], block: bool = True, timeout: float | None = None) -> None:
        if item[0] in REPLACEABLE and self.qsize() >= self.limit:
            if self.dropped == 0:
                log.warning("%s: %d messages wait for the server; figures and pictures are "
                            "dropped until it takes them", item[1], self.limit)  # fmt: skip
            self.dropped += 1
            return
        super().put(item, block, timeout)


class DetectorPoolActor:
    """One node's detector pool (see the module's docstring). Made remote with the
    concurrency groups of `POOL_CONCURRENCY`: requests one after the other, the heartbeat
    beside them."""

    def __init__(self, factory: DetectorFactory | None = None) -> None:
        import cv2

        cv2.setNumThreads(1)  # the node's cameras already use its cores
        self.factory = factory or build_local
        self.detectors: dict[str, Detector] = {}
        self.served = 0
        self.infer_s = 0.0

    def node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())

    def build(self, spec: DetectorSpec) -> tuple[str, dict[str, Any]]:
        key = detector_key(spec)
        if key not in self.detectors:
            self.detectors[key] = self.factory(spec)
        return key, describe_detector(self.detectors[key])

    def detect(
        self, key: str, image: np.ndarray, scale: float | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, float]:
        det = self.detectors[key]
        t0 = time.perf_counter()
        if scale is None:
            dets = det.detect(image)
        elif is_scalable(det):
            dets = det.detect(image, scale=scale)
        else:
            raise ValueError(f"{det.name} cannot run on a crop at another scale")
        dt = time.perf_counter() - t0
        self.served += 1
        self.infer_s += dt
        return dets.xyxy, dets.confidence, dets.class_id, dets.keypoints, dt

    @ray.method(concurrency_group="health")
    def report(self) -> dict[str, Any]:
        """Requests served and their mean inference time since the last report (also the
        pool's heartbeat for the server). It runs in a concurrency group of its own, so that
        it answers while a model loads or requests queue: a busy pool is not a lost node."""
        served, infer_s = self.served, self.infer_s
        self.served, self.infer_s = 0, 0.0
        return {
            "requests": served,
            "inference_ms": 1000.0 * infer_s / served if served else None,
        }


class RayPoolClient:
    """A camera actor's line to its node's pool actor (`runtime.worker.DetectorLine`).

    A request that fails (the pool is restarting, or gone) fails that frame only, as with the
    local pool (`PoolUnavailable`); the next one looks the pool up again by name and has it
    build the camera's detectors afresh."""

    def __init__(self, pool_name: str, *, timeout_s: float = 10.0) -> None:
        self.pool_name = pool_name
        self.timeout_s = timeout_s
        self._pool: Any = None
        self._builds: dict[str, DetectorSpec] = {}
        self.requests = 0
        self.request_s = 0.0
        self.inference_s = 0.0

    def _handle(self) -> Any:
        if self._pool is None:
            deadline = time.monotonic() + self.timeout_s
            while True:
                try:
                    pool = ray.get_actor(self.pool_name)
                    break
                except ValueError:  # not (yet, or no longer) registered
                    if time.monotonic() >= deadline:
                        raise PoolUnavailable(
                            f"no detector pool '{self.pool_name}' on this node"
                        ) from None
                    time.sleep(0.1)
            try:
                for spec in self._builds.values():  # a re-created pool knows nothing yet
                    ray.get(pool.build.remote(spec), timeout=120.0)
            except (RayError, GetTimeoutError) as exc:
                raise PoolUnavailable(f"the detector pool failed ({type(exc).__name__})") from None
            self._pool = pool
        return self._pool

    def _get(self, ref: Any, timeout_s: float) -> Any:
        try:
            return ray.get(ref, timeout=timeout_s)
        except GetTimeoutError:
            self._pool = None
            raise PoolUnavailable(
                f"the detector pool did not answer within {timeout_s:g} s"
            ) from None
        except RayError as exc:
            self._pool = None
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception) and not isinstance(cause, RayError):
                raise RuntimeError(f"detector pool: {type(cause).__name__}: {cause}") from None
            raise PoolUnavailable(f"lost the detector pool ({type(exc).__name__})") from None

    def build(self, spec: DetectorSpec) -> Detector:
        pool = self._handle()
        # Loading a model takes a while, and the pool may be loading another camera's.
        key, described = self._get(pool.build.remote(spec), 120.0)
        self._builds[key] = spec
        return PooledDetector(self, key, described)

    def detect(self, key: str, image: np.ndarray, scale: float | None) -> Detections:
        if image.dtype != np.uint8 or image.ndim != 3:
            raise ValueError(f"expected an H×W×3 uint8 image, got {image.dtype} {image.shape}")
        t0 = time.perf_counter()
        pool = self._handle()
        # A crop is a strided view: the copy also makes it contiguous for the object store.
        ref = pool.detect.remote(key, np.ascontiguousarray(image), scale)
        xyxy, confidence, class_id, keypoints, infer_s = self._get(ref, self.timeout_s)
        self.requests += 1
        self.request_s += time.perf_counter() - t0
        self.inference_s += infer_s
        # Arrays from the object store are read-only views; the pipeline shifts boxes in place.
        return Detections(
            xyxy=np.array(xyxy),
            confidence=np.array(confidence),
            class_id=np.array(class_id),
            keypoints=None if keypoints is None else np.array(keypoints),
        )

    def close(self) -> None:
        self._pool = None


class CameraActor:
    """One camera's analysis on a cluster node (see the module's docstring). Created with
    `max_concurrency` > 1: `poll`, `tell` and `stop` are answered while the analysis runs.

    Created without a `spec`, it is a node's *spare*: a process with the analysis's modules
    already imported, waiting for `begin`, so that a camera moved from a lost node starts in
    well under a second of process and import time instead of several."""

    def __init__(
        self,
        spec: WorkerSpec | None = None,
        pool_name: str = "",
        detector_timeout_s: float = 10.0,
    ):
        import cv2

        cv2.setNumThreads(1)  # one actor per camera already uses the node's cores
        self.events = OutgoingMessages()
        self.control: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.stop_flag = threading.Event()
        self.ended = threading.Event()
        self.code: int | None = None
        self.worker: CameraWorker | None = None
        if spec is None:
            # What the analysis imports anyway (the pipeline, its situations, decoding).
            import veilleur.pipeline
            import veilleur.sources  # noqa: F401
        else:
            self.begin(spec, pool_name, detector_timeout_s)

    def begin(self, spec: WorkerSpec, pool_name: str, detector_timeout_s: float = 10.0) -> None:
        """Start the camera's analysis (once)."""
        if self.worker is not None:
            raise RuntimeError("this actor already runs a camera")
        self.worker = CameraWorker(
            spec,
            self.control,
            self.events,
            self.stop_flag,
            connect=lambda: RayPoolClient(pool_name, timeout_s=detector_timeout_s),
        )
        threading.Thread(
            target=self._run, args=(self.worker,), name="analysis", daemon=True
        ).start()

    def _run(self, worker: CameraWorker) -> None:
        try:
            self.code = worker.run()
        except BaseException:
            log.exception("%s: the analysis ended abnormally", worker.camera)
            self.code = EXIT_CRASHED
        finally:
            self.ended.set()

    def node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())

    def poll(self, wait_s: float = 0.5) -> tuple[list[tuple[Any, ...]], int | None]:
        """The messages sent since the last poll (waiting up to `wait_s` for a first one), and
        the analysis's exit code once it has ended and everything it sent was taken."""
        out: list[tuple[Any, ...]] = []
        with contextlib.suppress(queue.Empty):
            out.append(self.events.get(timeout=wait_s))
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                break
        ended = self.ended.is_set() and self.events.empty()
        return out, (self.code if ended else None)

    def tell(self, message: tuple[Any, ...]) -> None:
        """An order of the runtime (`("inactive", [...])`, `("unblurred", request)`), taken
        by the analysis loop before its next frame."""
        self.control.put(message)

    def stop(self, wait_s: float = 0.5) -> dict[str, Any]:
        """Stop the analysis: the loop checks the flag before every frame. Waits up to
        `wait_s` for it to end; says whether it did, and when its last frame was analysed."""
        self.stop_flag.set()
        worker = self.worker
        if worker is None:  # a spare: nothing runs
            return {"ended": True, "frames": 0, "last_analysed_at": None}
        self.ended.wait(wait_s)
        return {
            "ended": self.ended.is_set(),
            "frames": worker.frames,
            "last_analysed_at": worker.last_analysed_at,
        }
