"""Every process the server starts ends with it (issue 12): SIGTERM, SIGINT and SIGKILL of the
real `veilleur serve` end its camera and detector-pool processes within 5 s, and its runtime
folder goes with them.

The server runs as a subprocess on 127.0.0.1 with one camera on a tiny generated clip and an
authorisation covering it, as a deployment would; its temporary folder is the test's own.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_runtime_supervisor import write_clip

from veilleur import store
from veilleur.cli import server as cli_server
from veilleur.config import CameraConfig
from veilleur.runtime import lifetime

CAMERA = {
    "analysis_fps": 5,
    "zones": {"right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}},
    "situations": {"zone_intrusion": {"enabled": True, "zones": ["right"], "classes": ["person"]}},
}


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] in ("Z", "X"):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(pred: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return bool(pred())  # type: ignore[operator]


class Running:
    def __init__(self, proc: subprocess.Popen[bytes], tmp: Path, log: Path, port: int) -> None:
        self.proc, self.tmp, self.log, self.port = proc, tmp, log, port

    def runtime_folders(self) -> list[Path]:
        return sorted(self.tmp.glob(lifetime.RUNTIME_PREFIX + "*"))

    def workers(self) -> set[int]:
        """The camera and pool processes (multiprocessing's spawned children)."""
        return {p for p in descendants(self.proc.pid) if "spawn_main" in cmdline(p)}

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    pytest.importorskip("onnxruntime")
    clip = write_clip(tmp_path / "clip.mp4", seconds=60)
    data = tmp_path / "data"
    data.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    camera = {"source": str(clip), **CAMERA}
    config = tmp_path / "site.yaml"
    import yaml

    config.write_text(yaml.safe_dump({"cameras": {"yard": camera}}))
    url = store.default_url(data)
    store.upgrade(url)
    engine = store.make_engine(url)
    with store.session_factory(engine)() as s:
        store.upsert_camera(s, "yard", CameraConfig.model_validate(camera))
        assert cli_server.ensure_demo_authorisation(s, "yard", ["zone_intrusion"])
    engine.dispose()
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "TMPDIR": str(tmp)}
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from veilleur.cli import app; app()", "serve",
             "-c", str(config), "--data-dir", str(data), "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    running = Running(proc, tmp, log, port)

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any answer: the server is up
        except OSError:
            return False

    try:
        assert wait_for(answers, 60), running.output()
        # The detector pool and the camera's process, started by the authorisation gate.
        assert wait_for(lambda: len(running.workers()) >= 2, 30), running.output()
        assert len(running.runtime_folders()) == 1
        yield running
    finally:
        for pid in [*descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(10)


def assert_all_gone(running: Running, pids: set[int], timeout: float = 5.0) -> None:
    t0 = time.monotonic()
    gone = wait_for(lambda: not any(alive(p) for p in pids), timeout)
    print(f"processes gone {time.monotonic() - t0:.2f} s after the signal")
    left = {p: cmdline(p) for p in pids if alive(p)}
    assert gone, f"still running {timeout:g} s after the signal: {left}\n{running.output()}"
    assert wait_for(lambda: not running.runtime_folders(), 1.0), running.runtime_folders()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_server_ends_its_processes(server: Running, sig: signal.Signals) -> None:
    pids = descendants(server.proc.pid)
    assert len(server.workers()) >= 2
    server.proc.send_signal(sig)
    assert_all_gone(server, pids)  # within 5 s of the signal, whatever the main process does
    code = server.proc.wait(10)
    assert "Traceback" not in server.output()
    # The main process unwound (its `finally` closed the supervisor) rather than dying of the
    # signal uvicorn raises again after its shutdown.
    assert code >= 0, server.output()
    if sig == signal.SIGTERM:
        assert code == 128 + sig


def test_a_stopped_server_ends_its_processes_with_a_live_stream_open(server: Running) -> None:
    """What operators leave open: the live signal stream. Cameras stop and streams end before
    uvicorn gives open connections their 3 s: the processes end within 5 s of the signal."""
    found = re.search(r"with\s+password\s+(\S+)", server.output())
    assert found is not None, server.output()
    login = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = json.dumps({"username": "admin", "password": found[1]})
    login.request("POST", "/api/session", body, {"Content-Type": "application/json"})
    answer = login.getresponse()
    answer.read()
    assert answer.status == 200
    cookie = (answer.getheader("set-cookie") or "").split(";")[0]
    stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    stream.request("GET", "/api/signals/stream", headers={"Cookie": cookie})
    assert stream.getresponse().status == 200
    pids = descendants(server.proc.pid)
    server.proc.send_signal(signal.SIGTERM)
    assert_all_gone(server, pids)
    assert server.proc.wait(10) == 128 + signal.SIGTERM, server.output()
    stream.close()
    login.close()


def test_a_killed_server_takes_its_processes_with_it(server: Running) -> None:
    pids = descendants(server.proc.pid)
    assert len(server.workers()) >= 2
    server.proc.kill()
    server.proc.wait(5)  # reaped at once, as a service manager would
    assert_all_gone(server, pids)


def test_stale_runtime_folders_are_swept(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / (lifetime.RUNTIME_PREFIX + "stale")
    stale.mkdir()
    (stale / lifetime.OWNER_FILE).write_text(f"{dead.pid} 1\n")
    (stale / "pool-0.sock").write_text("")
    mine = tmp_path / (lifetime.RUNTIME_PREFIX + "mine")
    mine.mkdir()
    (mine / lifetime.OWNER_FILE).write_text(f"{os.getpid()} {lifetime._start_time(os.getpid())}\n")
    unknown = tmp_path / (lifetime.RUNTIME_PREFIX + "unknown")  # no owner file: left alone
    unknown.mkdir()
    assert lifetime.sweep_stale_folders(str(tmp_path)) == [str(stale)]
    assert mine.exists() and unknown.exists() and not stale.exists()
    # A reused pid (same number, another start time) does not keep a folder.
    (mine / lifetime.OWNER_FILE).write_text(f"{os.getpid()} 1\n")
    assert lifetime.sweep_stale_folders(str(tmp_path)) == [str(mine)]


def test_an_orphaned_process_stops_then_exits(tmp_path: Path) -> None:
    """ParentWatch in a grandchild whose parent exits: on_orphan runs, and a process that does
    not stop by itself exits anyway after the grace period."""
    marker = tmp_path / "orphaned"
    child_py = tmp_path / "child.py"
    child_py.write_text(
        "import sys, time\n"
        "from veilleur.runtime.lifetime import ParentWatch\n"
        f"ParentWatch(int(sys.argv[1]), on_orphan=lambda: open({str(marker)!r}, 'w').close(),\n"
        "            grace_s=0.5).start()\n"
        "time.sleep(60)  # does not stop by itself: the watch ends it\n"
    )
    parent_py = tmp_path / "parent.py"
    parent_py.write_text(
        "import os, subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, {str(child_py)!r}, str(os.getpid())])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(1.0)\n"
        "os._exit(0)\n"
    )
    parent = subprocess.Popen([sys.executable, str(parent_py)], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.wait(10)
    assert wait_for(lambda: not alive(child), 5.0)
    assert marker.exists()
