"""Process lifetime: every process the server starts ends with it.

A camera or detector-pool process outliving the server would go on decoding and analysing
video outside any stop and any authorisation. Two mechanisms end it when its parent dies,
however the parent died (SIGKILL included):

- on Linux, `prctl(PR_SET_PDEATHSIG)` has the kernel send the child a signal when its parent
  goes. The kernel sends it when the *thread* that started the child ends, too (a camera
  started from a request thread that later idles out), so the handler acts only when the
  parent process itself is gone: `os.getppid()` no longer names it;
- everywhere, a watch thread compares `os.getppid()` with the parent's pid twice a second (and
  covers a parent that died before the `prctl` call).

Once orphaned, the process is asked to stop as usual (`on_orphan`, e.g. setting its stop
event, so that it unwinds and releases its shared memory); if it has not ended after
`grace_s`, `cleanup` runs and the process exits at once.

The runtime folder (`veilleur-rt-*`: the pool's sockets) carries an `owner` file naming the
server's pid and start time: an orphaned pool removes the folder once empty, and a new
supervisor sweeps the folders whose owner is gone (`sweep_stale_folders`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

#: Prefix of the supervisor's runtime folders in the temporary folder.
RUNTIME_PREFIX = "veilleur-rt-"
OWNER_FILE = "owner"
#: How often the watch thread looks at the parent, in seconds.
WATCH_INTERVAL_S = 0.5
#: Time an orphaned process has to stop by itself before it exits at once.
ORPHAN_GRACE_S = 2.5
#: Exit code of a process that ended because its parent died and did not stop in time.
EXIT_ORPHANED = 4
_PR_SET_PDEATHSIG = 1
#: The parent-death signal: one nothing else in these processes uses.
_DEATH_SIGNAL = signal.SIGUSR2


class ParentWatch:
    """Ends this process when `parent_pid` is gone; see the module's docstring."""

    def __init__(
        self,
        parent_pid: int,
        on_orphan: Callable[[], None],
        *,
        cleanup: Callable[[], None] | None = None,
        grace_s: float = ORPHAN_GRACE_S,
        interval_s: float = WATCH_INTERVAL_S,
    ) -> None:
        self.parent_pid = parent_pid
        self.on_orphan = on_orphan
        self.cleanup = cleanup
        self.grace_s = grace_s
        self.interval_s = interval_s
        self.orphaned = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> ParentWatch:
        """Arm the kernel's signal (Linux, from the main thread) and the watch thread."""
        main = threading.current_thread() is threading.main_thread()
        if sys.platform.startswith("linux") and main:
            signal.signal(_DEATH_SIGNAL, self._on_signal)
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.prctl(_PR_SET_PDEATHSIG, int(_DEATH_SIGNAL), 0, 0, 0) != 0:
                    log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        threading.Thread(target=self._watch, name="parent-watch", daemon=True).start()
        self.check()  # the parent may have died before the signal was armed
        return self

    def parent_alive(self) -> bool:
        return os.getppid() == self.parent_pid

    def check(self) -> bool:
        """Act if the parent is gone; returns whether this process is orphaned."""
        if not self.orphaned.is_set() and not self.parent_alive():
            self._orphan()
        return self.orphaned.is_set()

    def _on_signal(self, signum: int, frame: object) -> None:
        # Only flags and a thread here: the main thread may be anywhere.
        self.check()

    def _watch(self) -> None:
        while not self.orphaned.is_set():
            time.sleep(self.interval_s)
            self.check()

    def _orphan(self) -> None:
        with self._lock:
            if self.orphaned.is_set():
                return
            self.orphaned.set()
        threading.Thread(target=self._last_resort, name="orphan-exit", daemon=True).start()
        try:
            self.on_orphan()
        except Exception:
            log.exception("stopping an orphaned process failed")

    def _last_resort(self) -> None:
        time.sleep(self.grace_s)
        if self.cleanup is not None:
            with contextlib.suppress(Exception):
                self.cleanup()
        os._exit(EXIT_ORPHANED)


# ------------------------------------------------------------------------- runtime folders


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (the state) on (Linux); None where unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: fields are counted after its ')'.
    return stat[stat.rfind(")") + 2 :].split()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, to tell a reused pid."""
    fields = _stat(pid)
    return None if fields is None else fields[19]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    fields = _stat(pid)
    return fields is None or fields[0] not in ("Z", "X")  # a zombie has ended


def make_runtime_folder() -> str:
    """A new runtime folder owned by this process (its pid and start time in `owner`)."""
    path = tempfile.mkdtemp(prefix=RUNTIME_PREFIX)
    pid = os.getpid()
    Path(path, OWNER_FILE).write_text(f"{pid} {_start_time(pid) or '-'}\n")
    return path


def owner_alive(folder: str | Path) -> bool | None:
    """Whether the process that made a runtime folder still runs; None if unknown."""
    try:
        pid_text, started = Path(folder, OWNER_FILE).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if not _pid_alive(pid):
        return False
    now = _start_time(pid)
    return started == "-" or now is None or now == started


def sweep_stale_folders(root: str | None = None) -> list[str]:
    """Remove the runtime folders whose owner is gone (a server killed with SIGKILL whose
    processes could not remove theirs); returns the folders removed."""
    removed = []
    base = Path(root or tempfile.gettempdir())
    for folder in base.glob(RUNTIME_PREFIX + "*"):
        if folder.is_dir() and owner_alive(folder) is False:
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(str(folder))
    if removed:
        log.info("removed %d runtime folder(s) of servers no longer running", len(removed))
    return removed


def remove_orphaned_socket(socket_path: str) -> None:
    """For a pool process whose server is gone: remove its socket, then the runtime folder
    once nothing but the owner file is left (the last pool to go removes it)."""
    with contextlib.suppress(OSError):
        os.unlink(socket_path)
    folder = Path(socket_path).parent
    if not folder.name.startswith(RUNTIME_PREFIX):
        return
    with contextlib.suppress(OSError):
        if {p.name for p in folder.iterdir()} <= {OWNER_FILE}:
            shutil.rmtree(folder)
