"""Shared pieces of the API tests: an app on a test database, logged-in clients, signals."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from veilleur import store
from veilleur.app import create_app
from veilleur.compliance.authorisations import AuthorisationInput
from veilleur.config import SITUATION_IDS, CameraConfig
from veilleur.config.server import ServerSettings
from veilleur.runtime.events import CameraStatus, SignalEvent
from veilleur.service.bus import SignalBus
from veilleur.service.platform import Platform, SignalRecorder
from veilleur.types import Signal

ROLES = ("operator", "supervisor", "administrator", "auditor")


def password(role: str) -> str:
    return f"pass-{role}-123"


def jpeg(width: int = 64, height: int = 48) -> bytes:
    image = np.full((height, width, 3), 90, np.uint8)
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


class RecordingSupervisor:
    """Stands in for `veilleur.runtime.Supervisor` in API tests: it records what the API asked
    and answers status and images like the real one (the real one runs processes; it has its
    own tests, and the browser tests drive it for real)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.configs: dict[str, CameraConfig] = {}
        self.running: set[str] = set()
        self.inactive: dict[str, set[str]] = {}
        self.image = jpeg()
        self.unblurred_image = jpeg(32, 24)  # told apart from the blurred one by its size

    def start_camera(self, name: str, config: CameraConfig | None = None) -> None:
        self.calls.append(("start_camera", name, config))
        if config is not None:
            self.configs[name] = config
        elif name not in self.configs:
            raise KeyError(name)
        self.running.add(name)

    def stop_camera(self, name: str) -> None:
        self.calls.append(("stop_camera", name))
        if name not in self.configs:
            raise KeyError(name)
        self.running.discard(name)

    def set_situation(self, camera: str, situation: str, active: bool) -> None:
        self.calls.append(("set_situation", camera, situation, active))
        if camera not in self.configs:
            raise KeyError(camera)
        off = self.inactive.setdefault(camera, set())
        if active:
            off.discard(situation)
        else:
            off.add(situation)

    def stop_cameras(self, names: list[str]) -> None:
        self.calls.append(("stop_cameras", tuple(names)))
        self.running.difference_update(names)

    def stop_all(self) -> None:
        self.calls.append(("stop_all",))
        self.running.clear()

    def status(self) -> dict[str, CameraStatus]:
        out = {}
        for name, cfg in self.configs.items():
            enabled = [n for n, s in cfg.situations.items() if s.enabled]
            out[name] = CameraStatus(
                name=name,
                state="running" if name in self.running else "stopped",
                fps=5.0 if name in self.running else 0.0,
                lag_s=0.12,
                dropped_frames=0,
                restarts=0,
                last_error=None,
                active_situations=[s for s in enabled if s not in self.inactive.get(name, ())],
            )
        return out

    def latest_jpeg(self, camera: str) -> bytes | None:
        return self.image if camera in self.running else None

    def unblurred_jpeg(self, camera: str, timeout_s: float = 2.0) -> bytes | None:
        self.calls.append(("unblurred_jpeg", camera))
        return self.unblurred_image if camera in self.running else None


@dataclass
class Env:
    app: FastAPI
    settings: ServerSettings
    sessions: sessionmaker[Session]
    bus: SignalBus
    supervisor: RecordingSupervisor
    recorder: SignalRecorder
    data_dir: Path
    clients: list[TestClient] = field(default_factory=list)

    def client(self, role: str | None = None) -> TestClient:
        """A client logged in with the account of `role` (None: not logged in)."""
        c = TestClient(self.app)
        self.clients.append(c)
        if role is not None:
            r = c.post("/api/session", json={"username": role, "password": password(role)})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    @property
    def platform(self) -> Platform:
        plat: Platform = self.app.state.platform
        return plat

    def authorise(
        self,
        cameras: list[str],
        situations: list[str] | tuple[str, ...] = SITUATION_IDS,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """Record an authorisation of live processing (store level: the cameras need not
        exist yet) and apply it, as the API does; returns its id."""
        start = start or datetime.now(UTC) - timedelta(minutes=1)
        data = AuthorisationInput(
            reference="test decision", issuer="the prefect of tests", controller="the tests",
            rights_contact="dpo@example.org", served_kind="sporting_event",
            served_name="Test match", perimeter="the test site", cameras=cameras,
            situations=list(situations), recipient_services=["control room"],
            starts_at=start, ends_at=end or start + timedelta(days=20),
        )  # fmt: skip
        with self.sessions() as s:
            row = store.create_authorisation(s, data, actor="administrator")
            self.platform.apply_authorisations(s)
            return row.id

    def signal(self, camera: str = "plaza", situation: str = "zone_intrusion") -> int:
        """Store a signal through the supervisor's `on_signal` path, under an authorisation
        (recorded here if none covers it yet); returns its id."""
        if not self.platform.is_authorised(camera, situation):
            self.authorise([camera], [situation])
        refused = self.recorder.refused
        self.recorder(signal_event(camera, situation))
        assert self.recorder.failures == 0
        assert self.recorder.refused == refused, f"no authorisation covers {camera}/{situation}"
        with self.sessions() as s:
            return store.list_signals(s, limit=1)[0].id


def signal_event(camera: str = "plaza", situation: str = "zone_intrusion") -> SignalEvent:
    """A live signal as a camera process sends it, recognised now."""
    return SignalEvent(
        signal=Signal(
            situation=situation, camera=camera, zone="lawn", start_s=3.0, end_s=4.0,
            frame=20, bbox=(0.1, 0.5, 0.2, 0.8), confidence=0.82, model="yolox-nano",
            config_version="abc123",
        ),
        snapshot_jpeg=jpeg(),
        clip_mp4=None,
        known_limits="People on the lawn edge may be counted inside.",
        wall_time=datetime.now(UTC),
    )  # fmt: skip


def make_env(db_url: str, data_dir: Path) -> Iterator[Env]:
    engine = store.make_engine(db_url)
    sessions = store.session_factory(engine)
    with sessions() as s:
        for role in ROLES:
            store.create_user(s, role, password(role), role)
    bus = SignalBus()
    sup = RecordingSupervisor()
    settings = ServerSettings(data_dir=data_dir, database_url=db_url, metrics_token="scrape-me")
    app = create_app(settings, sup, bus=bus, sessions=sessions)  # type: ignore[arg-type]
    # Wired as `veilleur serve` wires it: live signals outside an authorisation are dropped.
    recorder = SignalRecorder(sessions, data_dir, bus, authorised=app.state.platform.is_authorised)
    env = Env(app, settings, sessions, bus, sup, recorder, data_dir)
    try:
        yield env
    finally:
        for c in env.clients:
            c.close()
        engine.dispose()


PLAZA: dict[str, Any] = {
    "source": "/videos/plaza.mp4",
    "analysis_fps": 5,
    "zones": {"lawn": {"polygon": [[0, 0.5], [0.4, 0.6], [0.75, 1], [0, 1]]}},
    "situations": {"zone_intrusion": {"enabled": True, "zones": ["lawn"]}},
}


class LiveServer:
    """The app served by uvicorn on a free local port, in a thread (for the live stream, which
    a TestClient cannot read while it is open)."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning",
            timeout_graceful_shutdown=1,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
