"""The cluster runtime on a three-node Ray cluster on this machine (`ray.cluster_utils.Cluster`:
a head and two workers, each offering cameras through the `veilleur_camera` resource), running
the demo's camera three times with YOLOX-nano: signals with blurred media reach the server's
callback, a killed node's cameras come back on the others within 10 s with their restarts and
lost frames counted, and a stop (what a revocation does) ends the remote analyses within 1 s.

The tests of this module share one cluster and one runtime, in order (it takes about 20 s to
start the cluster and the cameras on a 2-core machine): signals, then a node's loss, then the
stop of everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from veilleur.cli.server import demo_camera, demo_clip
from veilleur.config import parse_config
from veilleur.runtime import SignalEvent
from veilleur.runtime.metrics import REGISTRY

pytestmark = pytest.mark.integration

if os.environ.get("CI", "").lower() == "true":
    import ray  # CI installs `.[test]`, which brings Ray: its absence is a failure there
else:
    ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from veilleur.cluster import CAMERA_RESOURCE, ClusterRuntime  # noqa: E402

MB = 2**20
CAMERAS = ("plaza-1", "plaza-2", "plaza-3")


def _node_args(units: int) -> dict[str, Any]:
    # Fractions of a small machine: Ray is told one CPU per node, and cameras are placed by
    # the custom resource, never by real CPU counts. Small object stores, no dashboard.
    return {
        "num_cpus": 1,
        "resources": {CAMERA_RESOURCE: units},
        "object_store_memory": 100 * MB,
    }


class Inbox:
    def __init__(self) -> None:
        self.events: list[tuple[float, SignalEvent]] = []
        self.pids: set[int] = set()
        self.cond = threading.Condition()

    def __call__(self, event: SignalEvent) -> None:
        with self.cond:
            self.events.append((time.time(), event))
            self.pids.add(os.getpid())
            self.cond.notify_all()

    def cameras(self) -> set[str]:
        with self.cond:
            return {e.signal.camera for _, e in self.events}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline, no telemetry (SPEC S10)
    c = Cluster(
        initialize_head=True,
        head_node_args={**_node_args(2), "include_dashboard": False},
    )
    c.add_node(**_node_args(2))
    c.add_node(**_node_args(2))
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
    c.wait_for_nodes()
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture(scope="module")
def runtime(cluster: Cluster, inbox: Inbox, yolox_path: Path) -> Iterator[ClusterRuntime]:
    clip = demo_clip()
    if clip is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the demo clip is missing (opencv-doc, or VEILLEUR_SHARED)")
        pytest.skip("the demo clip is absent (opencv-doc, or VEILLEUR_SHARED)")
    site = parse_config(
        {
            "perception": {"detector": "yolox-nano", "model_path": str(yolox_path)},
            "cameras": {name: demo_camera(str(clip)) for name in CAMERAS},
        },
        "<cluster test>",
    )
    rt = ClusterRuntime(site, on_signal=inbox, loop_files=True)
    rt.start()
    try:
        yield rt
    finally:
        rt.close()


def wait_for(predicate: Any, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def _sample(name: str, camera: str) -> float:
    return REGISTRY.get_sample_value(name, {"camera": camera}) or 0.0


def test_cameras_spread_over_the_nodes_and_signals_reach_the_server(
    runtime: ClusterRuntime, inbox: Inbox, cluster: Cluster
) -> None:
    assert wait_for(lambda: all(s.state == "running" for s in runtime.status().values()), 90), (
        runtime.status()
    )
    # One camera per node: each node offers 2, and placement takes the least used first.
    nodes = {s.node for s in runtime.status().values()}
    assert len(nodes) == 3, runtime.status()
    assert nodes == {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    with inbox.cond:
        inbox.cond.wait_for(lambda: len(inbox.cameras()) >= 2, timeout=90)
    assert len(inbox.cameras()) >= 2, (inbox.cameras(), runtime.status())
    # The callback runs in the server's process (the only writer of the database).
    assert inbox.pids == {os.getpid()}
    _, event = inbox.events[0]
    assert event.signal.situation in ("zone_intrusion", "wrong_way")
    assert event.signal.model == "yolox-nano+bytetrack"
    snapshot = cv2.imdecode(np.frombuffer(event.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snapshot is not None and snapshot.shape == (576, 768, 3)
    assert event.clip_mp4 and event.clip_mp4[4:8] == b"ftyp"
    assert event.known_limits
    # The blurred preview (about 1/s) and the privileged, unblurred frame, asked across nodes.
    preview = runtime.latest_jpeg("plaza-1")
    assert preview is not None and preview[:2] == b"\xff\xd8"
    unblurred = runtime.unblurred_jpeg("plaza-1", timeout_s=5.0)
    assert unblurred is not None and unblurred[:2] == b"\xff\xd8"
    # Figures reach the server's metrics as on one machine.
    assert _sample("veilleur_camera_frames_total", "plaza-1") > 0
    assert all(s.fps > 0 for s in runtime.status().values()), runtime.status()


def test_a_dead_pool_is_recreated_and_its_cameras_carry_on(runtime: ClusterRuntime) -> None:
    # The pool of the node running plaza-1 dies (its process, not the node).
    node = runtime.status()["plaza-1"].node
    assert node is not None
    pool = ray.get_actor(runtime._pools[node].name)
    restarts = _pool_restarts(node)
    ray.kill(pool, no_restart=True)
    assert wait_for(lambda: _pool_restarts(node) == restarts + 1, 15), runtime.status()
    # The camera finds the new pool by its name and analyses again; it was never restarted.
    frames = _sample("veilleur_camera_frames_total", "plaza-1")
    assert wait_for(lambda: _sample("veilleur_camera_frames_total", "plaza-1") > frames + 5, 30)
    status = runtime.status()["plaza-1"]
    assert status.restarts == 0 and status.node == node, status


def _pool_restarts(node: str) -> float:
    return (
        REGISTRY.get_sample_value("veilleur_detector_pool_restarts_total", {"pool": node[:8]})
        or 0.0
    )


def test_a_lost_nodes_cameras_come_back_on_the_others_within_10_s(
    runtime: ClusterRuntime, cluster: Cluster
) -> None:
    assert cluster.head_node is not None
    head = cluster.head_node.node_id
    worker = next(n for n in cluster.worker_nodes if n.node_id in runtime.nodes())
    moved = runtime.nodes()[worker.node_id]
    restarts_before = {name: runtime.status()[name].restarts for name in moved}
    others = [n for n in CAMERAS if n not in moved]
    frames_before = {n: _sample("veilleur_camera_frames_total", n) for n in others}

    killed = time.monotonic()
    cluster.remove_node(worker, allow_graceful=False)

    def back() -> bool:
        status = runtime.status()
        return all(
            status[n].state == "running"
            and status[n].node not in (None, worker.node_id)
            and status[n].restarts > restarts_before[n]
            and status[n].fps > 0
            for n in moved
        )

    assert wait_for(back, 10.0, step=0.05), runtime.status()
    took = time.monotonic() - killed
    status = runtime.status()
    for name in moved:
        assert status[name].node in ({head} | {n.node_id for n in cluster.worker_nodes})
        assert status[name].restarts == restarts_before[name] + 1, status[name]
        assert "lost" in (status[name].last_error or ""), status[name]
        assert _sample("veilleur_camera_restarts_total", name) >= 1
    # Lost frames are counted once the camera analyses again (about 5/s of the gap).
    assert wait_for(lambda: all(runtime.status()[n].lost_frames > 0 for n in moved), 5.0)
    assert all(_sample("veilleur_camera_lost_frames_total", n) > 0 for n in moved)
    # The cameras of the other nodes went on undisturbed.
    assert all(status[n].restarts == 0 for n in others), status
    assert wait_for(
        lambda: all(_sample("veilleur_camera_frames_total", n) > frames_before[n] for n in others),
        5.0,
    )
    print(f"cameras {moved} back on another node {took:.2f} s after their node was killed")


def test_a_stop_ends_the_remote_analyses_within_a_second(
    runtime: ClusterRuntime, inbox: Inbox
) -> None:
    assert wait_for(lambda: all(s.state == "running" for s in runtime.status().values()), 30)
    # Switching a situation off reaches the remote camera (and is never delivered again).
    runtime.set_situation("plaza-1", "wrong_way", False)
    assert "wrong_way" not in runtime.status()["plaza-1"].active_situations

    # What the authorisation gate does at a revocation: stop the cameras together.
    t0 = time.monotonic()
    asked = time.time()
    runtime.stop_cameras(list(CAMERAS))
    took = time.monotonic() - t0
    assert took < 1.0, f"stop_cameras took {took:.2f} s"
    stops = runtime.last_stops
    for name in CAMERAS:
        stop = stops[name]
        assert stop["requested_at"] >= asked
        # The analysis ends at its next frame (`ended`: before the kill, unless the frame in
        # hand took longer, e.g. a signal's clip being encoded); the kill is the backstop.
        last = stop["last_analysed_at"]
        assert last is not None and last - stop["requested_at"] < 1.0, stop
        assert stop["killed_at"] - stop["requested_at"] < 1.0, stop
    status = runtime.status()
    assert all(s.state == "stopped" and s.node is None for s in status.values()), status
    # Nothing of a stopped camera is delivered after the stop.
    delivered = len(inbox.events)
    time.sleep(1.5)
    assert len(inbox.events) == delivered
    assert all(ts < asked + 0.05 for ts, _ in inbox.events)
    assert runtime.nodes() == {}


def test_serve_on_the_cluster_stores_signals_and_a_revocation_stops_the_camera(
    cluster: Cluster, yolox_path: Path, tmp_path: Path
) -> None:
    """The server as `veilleur serve --cluster` (and `demo`) builds it: the authorisation gate
    starts the camera on the cluster, the server stores its signals, and revoking the
    authorisation stops the remote camera within a second (SPEC §4, S5)."""
    from veilleur import store
    from veilleur.cli import server as cli_server
    from veilleur.config.server import ServerSettings

    clip = demo_clip()
    assert clip is not None  # the runtime fixture skipped (or failed) without it
    site = parse_config(
        {
            "perception": {"detector": "yolox-nano", "model_path": str(yolox_path)},
            "cameras": {cli_server.DEMO_CAMERA: demo_camera(str(clip))},
        },
        "<cluster serve test>",
    )
    settings = ServerSettings(
        data_dir=tmp_path,
        database_url=store.default_url(tmp_path),
        cluster_address=cluster.address,
    )
    server = cli_server.build_server(
        settings, site, loop_files=True, demo_authorisation=cli_server.DEMO_CAMERA
    )
    try:
        rt = server.supervisor
        assert isinstance(rt, ClusterRuntime)
        name = cli_server.DEMO_CAMERA
        plat = server.app.state.platform

        def stored() -> int:
            with plat.sessions() as s:
                return len(store.list_signals(s, camera=name))

        assert wait_for(lambda: stored() > 0, 90, step=0.2), (rt.status(), plat.status())
        assert rt.status()[name].node is not None
        assert plat.status()[name]["state"] == "running"
        with plat.sessions() as s:
            (authorisation,) = store.list_authorisations(s)
            aid = authorisation.id
        t0 = time.monotonic()
        with plat.sessions() as s:
            plat.revoke_authorisation(s, aid, "the event was cancelled", actor="admin")
        took = time.monotonic() - t0
        assert took < 1.0, f"revocation took {took:.2f} s"
        stop = rt.last_stops[name]
        assert stop["last_analysed_at"] - stop["requested_at"] < 1.0, stop
        assert stop["killed_at"] - stop["requested_at"] < 1.0, stop
        assert rt.status()[name].state == "stopped" and rt.nodes() == {}
        count = stored()
        time.sleep(1.5)
        assert stored() == count  # nothing of the camera is stored after the revocation
    finally:
        server.close()


def _actor_pids() -> set[int]:
    out = subprocess.run(
        ["pgrep", "-f", "ray::CameraActor|ray::DetectorPoolActor"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {int(p) for p in out.split()}


def test_a_killed_server_takes_its_remote_cameras_with_it(
    cluster: Cluster, yolox_path: Path
) -> None:
    """The actors belong to the server's Ray job: a server killed outright (SIGKILL) leaves no
    camera analysing on the nodes (as `runtime.lifetime` ensures on one machine)."""
    clip = demo_clip()
    assert clip is not None
    before = _actor_pids()
    driver = f"""
import time
from veilleur.cli.server import demo_camera
from veilleur.cluster import ClusterRuntime
from veilleur.config import parse_config
camera = demo_camera({str(clip)!r})
site = parse_config({{
    "perception": {{"detector": "yolox-nano", "model_path": {str(yolox_path)!r}}},
    "cameras": {{"a": camera}},
}})
rt = ClusterRuntime(site, on_signal=lambda e: None, address={cluster.address!r}, loop_files=True)
rt.start()
deadline = time.monotonic() + 120
while rt.status()["a"].state != "running" and time.monotonic() < deadline:
    time.sleep(0.1)
print("STATE", rt.status()["a"].state.upper(), flush=True)
time.sleep(600)
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", driver], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        # Ray forwards its nodes' log lines to the driver's stdout (a node an earlier test
        # killed, for one): the camera's state is the line the driver marks as its own.
        for line in proc.stdout:
            if line.startswith("STATE "):
                break
        else:
            line = ""  # the driver ended without saying
        assert line.split() == ["STATE", "RUNNING"], line
        theirs = _actor_pids() - before
        assert theirs, "the server's camera and pool actors are not to be seen"
    finally:
        proc.kill()
        proc.wait(10)
    assert wait_for(lambda: not (_actor_pids() & theirs), 10.0), _actor_pids() & theirs
