"""The supervisor on tiny generated clips with a light detector in the shared pool.

The detector finds bright blobs (the clips' stand-ins for persons), so these tests exercise the
processes, the pool, dropping, restarts and stops without loading a model.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.perception.detector import DetectorSpec
from veilleur.runtime import AttachedEvent, SignalEvent, Supervisor
from veilleur.runtime.metrics import render
from veilleur.types import PERSON, Detections


class BlobDetector:
    """Bright blobs are persons; `crash_on` (a file that exists) makes it crash the pool."""

    name = "blobs"
    classes = ("person",)
    flexible = False
    input_size = 320

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def detect(self, image: np.ndarray, scale: float | None = None) -> Detections:
        if self.delay_s:
            time.sleep(self.delay_s)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        n, _, stats, _ = cv2.connectedComponentsWithStats((gray > 180).astype(np.uint8))
        boxes = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:n] if area >= 30]
        k = len(boxes)
        return Detections(
            xyxy=np.array(boxes, np.float32).reshape(-1, 4),
            confidence=np.full(k, 0.9),
            class_id=np.full(k, PERSON),
        )


def blob_factory(spec: DetectorSpec) -> BlobDetector:
    return BlobDetector()


def slow_factory(spec: DetectorSpec) -> BlobDetector:
    return BlobDetector(delay_s=0.5)


def write_clip(path: Path, *, seconds: float, fps: int = 10, w: int = 320, h: int = 240) -> Path:
    """A 'person' (a bright, textured rectangle) walks from left to right."""
    rng = np.random.default_rng(1)
    texture = rng.integers(180, 256, (60, 24, 3), dtype=np.uint8)
    n = round(seconds * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(n):
            img = np.full((h, w, 3), 50, np.uint8)
            x = int(10 + (w - 50) * i / max(n - 1, 1))
            img[90:150, x : x + 24] = texture
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def site_for(clips: dict[str, Path | str], **camera: Any) -> Any:
    cams = {
        name: {
            "source": str(clip),
            "analysis_fps": 5,
            "zones": {"right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
            "situations": {
                "zone_intrusion": {
                    "enabled": True,
                    "zones": ["right"],
                    "classes": ["person"],
                    "min_duration_s": 0.4,
                    "cooldown_s": 0,
                }
            },
            **camera,
        }
        for name, clip in clips.items()
    }
    return parse_config({"perception": {"detector": "blobs"}, "cameras": cams})


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "walk.mp4", seconds=4)


class Inbox:
    def __init__(self) -> None:
        self.events: list[SignalEvent] = []
        self.threads: set[str] = set()
        self.cond = threading.Condition()

    def __call__(self, event: SignalEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self.cond.notify_all()

    def wait(self, n: int, timeout: float) -> list[SignalEvent]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.events) >= n, timeout)
            return list(self.events)


def wait_for(pred: Any, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for s in made:
        s.close()


def test_signals_arrive_blurred_with_a_clip(clip: Path, supervisors: list[Supervisor]) -> None:
    inbox = Inbox()
    sup = Supervisor(
        site_for({"a": clip}), on_signal=inbox, realtime_files=False, detector_factory=blob_factory
    )
    supervisors.append(sup)
    sup.start()
    events = inbox.wait(1, timeout=30)
    assert events, sup.status()
    ev = events[0]
    assert ev.signal.situation == "zone_intrusion" and ev.signal.camera == "a"
    assert ev.signal.zone == "right"
    assert ev.known_limits
    assert ev.wall_time.tzinfo is not None
    assert inbox.threads and threading.main_thread().name not in inbox.threads
    snap = cv2.imdecode(np.frombuffer(ev.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snap.shape == (240, 320, 3)
    assert ev.clip_mp4 is not None
    with av.open(io.BytesIO(ev.clip_mp4)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(stream)]
    assert 2 <= len(frames) <= 21


def test_status_and_metrics(clip: Path, supervisors: list[Supervisor]) -> None:
    sup = Supervisor(
        site_for({"a": clip}), on_signal=lambda e: None, loop_files=True,
        detector_factory=blob_factory,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: sup.status()["a"].fps > 3, 30), sup.status()
    st = sup.status()["a"]
    assert st.state == "running" and st.restarts == 0 and st.last_error is None
    assert st.active_situations == ["zone_intrusion"]
    assert st.lag_s < 1.0
    assert wait_for(lambda: sup.latest_jpeg("a") is not None, 5)
    text = render()[0].decode()
    assert 'veilleur_camera_fps{camera="a"}' in text
    assert 'veilleur_detector_queue_depth{pool="0"}' in text


def _child(name: str) -> Any:
    import multiprocessing as mp

    found = [p for p in mp.active_children() if p.name == name]
    return found[0] if found else None


def test_stop_camera_and_stop_all_within_a_second(
    clip: Path, supervisors: list[Supervisor]
) -> None:
    inbox = Inbox()
    sup = Supervisor(
        site_for({"a": clip, "b": clip}), on_signal=inbox, loop_files=True,
        detector_factory=blob_factory,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: all(s.state == "running" for s in sup.status().values()), 30)
    t0 = time.monotonic()
    sup.stop_camera("a")
    took = time.monotonic() - t0
    assert took < 1.0, f"stop_camera took {took:.2f} s"  # SPEC S5
    assert _child("veilleur-camera-a") is None
    assert sup.status()["a"].state == "stopped"
    assert sup.status()["b"].state == "running"
    time.sleep(0.3)
    assert sup.latest_jpeg("a") is not None  # the last picture stays for the wall

    sup.start_camera("a")
    assert wait_for(lambda: sup.status()["a"].state == "running", 30)
    t0 = time.monotonic()
    sup.stop_all()
    took = time.monotonic() - t0
    assert took < 1.0, f"stop_all took {took:.2f} s"
    assert _child("veilleur-camera-a") is None and _child("veilleur-camera-b") is None
    assert {s.state for s in sup.status().values()} == {"stopped"}
    n = len(inbox.events)
    time.sleep(1.0)
    assert len(inbox.events) == n  # nothing delivered after a stop

    # Several at once (a revocation): their processes end together; unknown names are skipped.
    sup.start_camera("a")
    sup.start_camera("b")
    assert wait_for(lambda: all(s.state == "running" for s in sup.status().values()), 30)
    t0 = time.monotonic()
    sup.stop_cameras(["a", "b", "not-a-camera"])
    took = time.monotonic() - t0
    assert took < 1.0, f"stop_cameras took {took:.2f} s"
    assert _child("veilleur-camera-a") is None and _child("veilleur-camera-b") is None
    assert {s.state for s in sup.status().values()} == {"stopped"}


def test_set_situation_takes_effect_within_a_second(
    clip: Path, supervisors: list[Supervisor]
) -> None:
    inbox = Inbox()
    sup = Supervisor(
        site_for({"a": clip}), on_signal=inbox, loop_files=True, detector_factory=blob_factory
    )
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: sup.status()["a"].state == "running", 30)
    cam = sup._cameras["a"]
    assert wait_for(lambda: cam.report.get("active") == ["zone_intrusion"], 5)
    t0 = time.monotonic()
    sup.set_situation("a", "zone_intrusion", False)
    assert sup.status()["a"].active_situations == []
    # The camera's process has dropped the situation (and its state) within a second.
    assert wait_for(lambda: cam.report.get("active") == [], 1.0)
    assert time.monotonic() - t0 < 1.0
    n = len(inbox.events)
    time.sleep(1.0)
    assert len(inbox.events) == n
    sup.set_situation("a", "zone_intrusion", True)
    assert wait_for(lambda: cam.report.get("active") == ["zone_intrusion"], 1.0)
    with pytest.raises(ValueError, match="not enabled"):
        sup.set_situation("a", "fire_start", True)
    with pytest.raises(ValueError, match="unknown situation"):
        sup.set_situation("a", "loitering", False)
    with pytest.raises(KeyError):
        sup.set_situation("nope", "zone_intrusion", False)


def test_under_load_frames_are_dropped_not_queued(
    clip: Path, supervisors: list[Supervisor]
) -> None:
    # 0.5 s per detection against 5 frames a second: the camera keeps up by dropping.
    sup = Supervisor(
        site_for({"a": clip}), on_signal=lambda e: None, loop_files=True,
        detector_factory=slow_factory,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: sup.status()["a"].dropped_frames >= 8, 30), sup.status()
    lags = []
    for _ in range(6):
        time.sleep(0.5)
        lags.append(sup.status()["a"].lag_s)
    st = sup.status()["a"]
    assert 0.5 <= st.fps <= 3.0
    assert max(lags) < 1.5, lags  # bounded: the newest frame is analysed, not a backlog
    text = render()[0].decode()
    assert 'veilleur_camera_dropped_frames_total{camera="a"}' in text
    assert 'veilleur_camera_detector_ms{camera="a"}' in text


def test_a_crashed_camera_process_is_restarted(clip: Path, supervisors: list[Supervisor]) -> None:
    sup = Supervisor(
        site_for({"a": clip}), on_signal=lambda e: None, loop_files=True,
        detector_factory=blob_factory,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: sup.status()["a"].fps > 2, 30)
    _child("veilleur-camera-a").kill()
    assert wait_for(lambda: sup.status()["a"].restarts == 1, 5), sup.status()
    assert "exited" in (sup.status()["a"].last_error or "")
    assert wait_for(lambda: sup.status()["a"].state == "running", 30), sup.status()
    assert wait_for(lambda: sup.status()["a"].fps > 2, 10)
    # The second or more the camera was down (1 s of back-off, a new process) is counted.
    assert sup.status()["a"].lost_frames >= 5, sup.status()
    assert 'veilleur_camera_lost_frames_total{camera="a"}' in render()[0].decode()


def test_a_stalled_camera_process_is_restarted(clip: Path, supervisors: list[Supervisor]) -> None:
    import os
    import signal

    sup = Supervisor(
        site_for({"a": clip}), on_signal=lambda e: None, loop_files=True,
        detector_factory=blob_factory, stall_s=2.0,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: sup.status()["a"].fps > 2, 30)
    os.kill(_child("veilleur-camera-a").pid, signal.SIGSTOP)
    assert wait_for(lambda: sup.status()["a"].restarts == 1, 6), sup.status()
    assert "stalled" in (sup.status()["a"].last_error or "")
    assert wait_for(lambda: sup.status()["a"].fps > 2, 30), sup.status()


def test_a_crashed_pool_is_restarted_and_cameras_recover(
    clip: Path, supervisors: list[Supervisor]
) -> None:
    sup = Supervisor(
        site_for({"a": clip}), on_signal=lambda e: None, loop_files=True,
        detector_factory=blob_factory,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: sup.status()["a"].fps > 2, 30)
    frames = sup._cameras["a"].report["frames"]
    _child("veilleur-detector-pool-0").kill()
    assert wait_for(lambda: _child("veilleur-detector-pool-0") is not None, 10)
    assert wait_for(lambda: sup._cameras["a"].report["frames"] > frames + 10, 20), sup.status()
    assert sup.status()["a"].restarts == 0  # the camera itself carried on
    assert 'veilleur_detector_pool_restarts_total{pool="0"} 1.0' in render()[0].decode()


def test_a_source_that_cannot_be_opened_fails_with_its_reason(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    sup = Supervisor(
        site_for({"a": tmp_path / "missing.mp4"}), on_signal=lambda e: None,
        detector_factory=blob_factory,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: sup.status()["a"].state == "failed", 30), sup.status()
    assert "file not found" in (sup.status()["a"].last_error or "")
    # Retried with back-off (1 s, then 2 s, ...): the file may appear.
    assert wait_for(lambda: sup.status()["a"].restarts >= 2, 10), sup.status()


def test_a_dropped_stream_is_reported_and_reconnects(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    ts = write_clip(tmp_path / "cam.ts", seconds=3).read_bytes()
    hits: list[float] = []
    down_until = [0.0]

    class Camera(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(time.monotonic())
            body = ts
            if len(hits) == 1:  # the first connection is cut half-way, then 2 s of outage
                body = ts[: len(ts) // 2]
                down_until[0] = time.monotonic() + 2.0
            elif time.monotonic() < down_until[0]:
                body = b""
            self.send_response(200 if body else 503)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cam.ts"
        sup = Supervisor(
            site_for({"a": url}), on_signal=lambda e: None, detector_factory=blob_factory
        )
        supervisors.append(sup)
        sup.start()
        seen: list[tuple[str, str | None]] = []
        end = time.monotonic() + 30
        while time.monotonic() < end:
            st = sup.status()["a"]
            if not seen or seen[-1][0] != st.state:
                seen.append((st.state, st.last_error))
            if any(s == "reconnecting" for s, _ in seen) and seen[-1][0] == "running":
                break
            time.sleep(0.02)
        states = [s for s, _ in seen]
        assert "reconnecting" in states, seen
        assert states[-1] == "running", seen
        dropped = next(err for s, err in seen if s == "reconnecting")
        assert dropped is not None and "reconnecting" in dropped
        assert sup.status()["a"].restarts == 0  # the source reconnected by itself
    finally:
        server.shutdown()
        server.server_close()


def test_switching_a_situation_off_forgets_its_state(clip: Path) -> None:
    from veilleur.pipeline import CameraPipeline
    from veilleur.runtime.worker import CameraWorker, WorkerSpec

    site = site_for({"a": clip})
    spec = WorkerSpec("a", site, 1, frozenset(), "", b"", realtime=False, loop=False)
    worker = CameraWorker(spec, control=None, events=None, stop=None)  # type: ignore[arg-type]
    worker.pipeline = CameraPipeline("a", site, detector=BlobDetector())
    worker.available = {s.id: (type(s), s.config) for s in worker.pipeline.situations}
    before = worker.pipeline.situations[0]
    worker.apply_inactive(frozenset({"zone_intrusion"}))
    assert worker.pipeline.situations == []
    worker.apply_inactive(frozenset({"zone_intrusion"}))  # idempotent
    worker.apply_inactive(frozenset())
    (after,) = worker.pipeline.situations
    assert after.id == "zone_intrusion" and after is not before  # starts afresh
    worker.apply_inactive(frozenset())
    assert worker.pipeline.situations == [after]  # an active one keeps its state


def test_further_events_reach_on_further_after_their_signal(
    clip: Path, supervisors: list[Supervisor]
) -> None:
    # The walker crosses the zone on every loop of the clip: the first crossing is a signal,
    # the next ones fall within its cool-down and are attached to its episode.
    situations = {
        "zone_intrusion": {
            "enabled": True, "zones": ["right"], "classes": ["person"], "min_duration_s": 0.4,
            "grace_s": 0.5, "cooldown_s": 600,
        }
    }  # fmt: skip
    inbox = Inbox()
    further: list[AttachedEvent] = []
    sup = Supervisor(
        site_for({"a": clip}, situations=situations), on_signal=inbox,
        on_further=further.append, realtime_files=False, loop_files=True,
        detector_factory=blob_factory,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    assert wait_for(lambda: len(further) >= 2, timeout=60), sup.status()
    sup.stop_all()
    signals = inbox.wait(1, timeout=1)
    assert len(signals) == 1  # one episode: its cool-down outlasts the test
    episode = signals[0].signal.episode
    # Unique to this camera process (a random prefix), then the situation's own key.
    assert episode.split("/")[1].startswith("zone_intrusion:") and len(episode) <= 64
    assert {f.event.episode for f in further} == {episode}
    assert all(f.event.zone == "right" and f.wall_time.tzinfo is not None for f in further)
    assert further[0].wall_time >= signals[0].wall_time


def test_pooled_factory_pools_the_detector_and_builds_the_pose_model_here() -> None:
    from veilleur.runtime.pool import PooledFactory

    class Client:
        def __init__(self) -> None:
            self.built: list[DetectorSpec] = []

        def build(self, spec: DetectorSpec) -> BlobDetector:
            self.built.append(spec)
            return BlobDetector()

    here: list[DetectorSpec] = []

    def local(spec: DetectorSpec) -> BlobDetector:
        here.append(spec)
        return BlobDetector()

    client = Client()
    factory = PooledFactory(client, local=local)  # type: ignore[arg-type]
    detection = DetectorSpec("yolox-nano", classes=(0, 2))
    pose = DetectorSpec("movenet-multipose", purpose="pose")
    factory(detection)
    factory(pose)
    assert (client.built, here) == ([detection], [pose])


def test_live_pictures_only_while_watched(clip: Path) -> None:
    # Blurring and encoding a picture nobody sees is most of what a quiet camera spends besides
    # analysing: unwatched, the process sends the first picture (for the wall) and then one per
    # `idle_jpeg_interval_s`; watched, one per `jpeg_interval_s`.
    import queue

    from veilleur.pipeline import CameraPipeline
    from veilleur.runtime.worker import CameraWorker, WorkerSpec
    from veilleur.sources import open_source

    site = site_for({"a": clip})
    spec = WorkerSpec(
        "a", site, 1, frozenset(), "", b"", realtime=False, loop=False, jpeg_interval_s=0.0,
        idle_jpeg_interval_s=3600.0, watched=False,
    )  # fmt: skip
    control: queue.Queue[Any] = queue.Queue()
    sent: list[Any] = []
    events = type("Events", (), {"put": staticmethod(sent.append)})()
    worker = CameraWorker(spec, control, events, stop=None)  # type: ignore[arg-type]
    worker.pipeline = CameraPipeline("a", site, detector=BlobDetector())
    with open_source(str(clip), analysis_fps=5) as source:
        frames = list(source.frames())
    assert len(frames) >= 12

    def pictures() -> int:
        return sum(1 for kind, *_ in sent if kind == "jpeg")

    for frame in frames[:4]:
        worker.analyse(frame, time.monotonic())
    assert pictures() == 1  # the first one only
    control.put(("preview", True))
    worker._drain_control()
    for frame in frames[4:8]:
        worker.analyse(frame, time.monotonic())
    assert pictures() == 5  # every frame (interval 0)
    control.put(("preview", False))
    worker._drain_control()
    for frame in frames[8:12]:
        worker.analyse(frame, time.monotonic())
    assert pictures() == 5


def test_latest_jpeg_asks_for_live_pictures_while_called(
    clip: Path, supervisors: list[Supervisor], monkeypatch: pytest.MonkeyPatch
) -> None:
    from veilleur.runtime import hub

    monkeypatch.setattr(hub, "PREVIEW_WATCH_S", 1.5)
    sup = Supervisor(
        site_for({"a": clip}), on_signal=lambda e: None, loop_files=True,
        detector_factory=blob_factory,
    )  # fmt: skip
    supervisors.append(sup)
    sup.start()
    cam = sup._cameras["a"]
    assert wait_for(lambda: cam.latest_jpeg is not None, 30), sup.status()
    first = cam.latest_jpeg
    time.sleep(2.0)
    assert cam.latest_jpeg is first  # nobody asked: no new picture within the idle 10 s
    assert not cam.watched
    assert sup.latest_jpeg("a") is first  # the last one kept, at once
    assert cam.watched
    # Watched: a fresh picture at the process's next frame, then one a second.
    assert wait_for(lambda: cam.latest_jpeg is not first, 2.0)
    second = cam.latest_jpeg
    assert wait_for(lambda: cam.latest_jpeg is not second, 2.0)
    # Nobody asks any more: back to the idle rate.
    assert wait_for(lambda: not cam.watched, 3.0)


def test_default_workers_follow_the_frames_asked_for(clip: Path) -> None:
    from veilleur.runtime.supervisor import POOL_REQUESTS_PER_S, default_workers

    def site(n: int, fps: float = 5) -> Any:
        return site_for({f"c{i}": clip for i in range(n)}, analysis_fps=fps)

    assert POOL_REQUESTS_PER_S == 70.0
    assert default_workers(site(1), cores=2) == 1
    assert default_workers(site(14), cores=2) == 1  # 70 frames a second: one pool holds
    every_other = site_for(
        {f"c{i}": clip for i in range(28)}, perception={"detector": "blobs", "detect_every": 2}
    )
    assert default_workers(every_other, cores=2) == 1  # 28 cameras detecting 2.5 frames a second
    assert default_workers(site(16), cores=2) == 2  # 80: one pool queues (docs/runtime.md)
    assert default_workers(site(40), cores=2) == 2  # never more than the cores
    assert default_workers(site(40), cores=16) == 3
    assert default_workers(site(40, fps=1), cores=16) == 1


def test_cameras_are_spread_over_the_pools_in_turn(
    clip: Path, supervisors: list[Supervisor]
) -> None:
    names = ["busy00", "busy01", "car02", "hall03", "car04"]
    sup = Supervisor(
        site_for(dict.fromkeys(names, clip)), on_signal=lambda e: None,
        detector_factory=blob_factory, workers=2,
    )  # fmt: skip
    supervisors.append(sup)
    assert [sup._pool_for(name).index for name in names] == [0, 1, 0, 1, 0]


def test_a_camera_detecting_every_other_frame_signals_blurred_and_analyses_every_frame(
    clip: Path, supervisors: list[Supervisor]
) -> None:
    # perception.detect_every: 2 through the whole runtime (camera process, detector pool):
    # the frames between detections are analysed too (bridged, a frame late), the signal comes
    # with its blurred snapshot and clip.
    inbox = Inbox()
    site = site_for({"a": clip}, perception={"detector": "blobs", "detect_every": 2})
    sup = Supervisor(site, on_signal=inbox, realtime_files=False, detector_factory=blob_factory)
    supervisors.append(sup)
    sup.start()
    events = inbox.wait(1, timeout=30)
    assert events, sup.status()
    ev = events[0]
    assert ev.signal.situation == "zone_intrusion" and ev.signal.zone == "right"
    assert ev.snapshot_jpeg and ev.clip_mp4 is not None


def test_a_worker_detecting_every_other_frame_concludes_each_frame_once_in_order(
    clip: Path,
) -> None:
    import queue

    from veilleur.pipeline import CameraPipeline
    from veilleur.runtime.worker import CameraWorker, WorkerSpec
    from veilleur.sources import open_source

    site = site_for({"a": clip}, perception={"detector": "blobs", "detect_every": 2})
    spec = WorkerSpec(
        "a", site, 1, frozenset(), "", b"", realtime=False, loop=False, jpeg_interval_s=0.0,
    )  # fmt: skip
    sent: list[Any] = []
    events = type("Events", (), {"put": staticmethod(sent.append)})()
    worker = CameraWorker(spec, queue.Queue(), events, stop=None)  # type: ignore[arg-type]
    worker.pipeline = CameraPipeline("a", site, detector=BlobDetector())
    with open_source(str(clip), analysis_fps=5) as source:
        frames = list(source.frames())[:6]
    done: list[int] = []
    for frame in frames:
        worker.analyse(frame, time.monotonic())
        done.append(worker.frames)
    assert done == [1, 1, 3, 3, 5, 5]  # a bridged frame is concluded with the next detected one
    worker._finish()  # the stream ended: the last frame gets a detection of its own
    assert worker.frames == 6
    assert [t for t, _, _ in worker.ring] == [f.t for f in frames]
    assert all(mask is not None for _, _, mask in worker.ring)  # each one blurred before shown
    assert sum(1 for kind, *_ in sent if kind == "jpeg") == 6
