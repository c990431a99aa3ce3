"""`veilleur serve` and `veilleur demo`: the platform's server (API, console, live cameras)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from veilleur.cli import retention as retention_options

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from veilleur.config import SiteConfig
    from veilleur.config.server import ServerSettings
    from veilleur.runtime import CameraHub

err = Console(stderr=True)
out = Console()

#: The demo's accounts (name -> role). Their password is fixed and printed: acceptable only for
#: a demo on one's own machine, never for a deployment (`veilleur serve` has no such account).
DEMO_ACCOUNTS = {
    "operator": "operator",
    "supervisor": "supervisor",
    "admin": "administrator",
    "auditor": "auditor",
}
DEMO_PASSWORD = "veilleur-demo"
DEMO_CAMERA = "plaza"
#: The reference of the demo's authorisation: it says plainly that no prefect decided it.
DEMO_AUTHORISATION = "DEMO — not a real decision"
#: OpenCV's sample clip (PETS 2009 S2L1 View 1), from Debian's opencv-doc.
DEBIAN_CLIP = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
SHARED_CLIP = Path("data/pets2009_s2l1/vtest_PETS2009_S2L1_View001.avi")


def demo_clip() -> Path | None:
    """The demo's clip: opencv-doc's vtest.avi, else the same clip in $VEILLEUR_SHARED."""
    if DEBIAN_CLIP.is_file():
        return DEBIAN_CLIP
    shared = os.environ.get("VEILLEUR_SHARED")
    if shared and (Path(shared) / SHARED_CLIP).is_file():
        return Path(shared) / SHARED_CLIP
    return None


def demo_camera(source: str) -> dict[str, Any]:
    """The demo camera: the PETS plaza with the zones of examples/pets_s2l1.yaml plus two small
    zones people cross in the first seconds, so that signals show within a minute."""
    return {
        "source": source,
        "analysis_fps": 5,
        "zones": {
            "lawn": {"polygon": [[0.0, 0.5], [0.4, 0.6], [0.75, 0.78], [0.75, 1.0], [0.0, 1.0]]},
            "centre": {"polygon": [[0.45, 0.42], [0.62, 0.42], [0.62, 0.58], [0.45, 0.58]]},
            "corner": {"polygon": [[0.85, 0.55], [1.0, 0.55], [1.0, 0.85], [0.85, 0.8]]},
            "path": {
                "polygon": [
                    [0.0, 0.3],
                    [0.55, 0.3],
                    [1.0, 0.45],
                    [1.0, 0.84],
                    [0.55, 0.66],
                    [0.0, 0.47],
                ],
                "direction": [-1.0, -0.3],
            },
        },
        "situations": {
            "zone_intrusion": {
                "enabled": True,
                "zones": ["centre", "corner", "lawn"],
                "classes": ["person"],
                "min_duration_s": 1.0,
                "cooldown_s": 20.0,
            },
            "wrong_way": {
                "enabled": True,
                "zones": ["path"],
                "classes": ["person"],
                "min_distance": 0.12,
                "cooldown_s": 20.0,
            },
        },
    }


@dataclass
class Server:
    """A ready server: the web app and the running supervisor (or cluster runtime) on one
    database."""

    app: FastAPI
    supervisor: CameraHub
    engine: Engine
    settings: ServerSettings

    def stop_processing(self) -> None:
        """Stop what analyses video and end the live streams: the first thing at a shutdown,
        so that the camera processes end within seconds of the signal, not after the open
        connections have had their grace period. Idempotent."""
        from veilleur.service.delivery import delivery_worker
        from veilleur.service.retention import scheduler

        scheduler(self.app).stop()
        delivery_worker(self.app).stop()  # undelivered rows wait in the outbox
        self.app.state.platform.close()  # the authorisation gate first: it drives cameras
        self.supervisor.close()
        self.app.state.platform.bus.close()  # live streams end: their connections close

    def close(self) -> None:
        self.stop_processing()
        self.engine.dispose()


def ensure_demo_authorisation(s: Session, camera: str, situations: list[str]) -> bool:
    """For `veilleur demo` only: an authorisation labelled as a demo, covering the demo
    camera's situations for one month from now, unless one is active. True if it created one."""
    from veilleur import store
    from veilleur.compliance.authorisations import AuthorisationInput, month_after
    from veilleur.store.models import utcnow

    now = utcnow()
    for row in store.list_authorisations(s, active_at=now):
        if row.reference == DEMO_AUTHORISATION and camera in row.cameras:
            return False
    data = AuthorisationInput(
        reference=DEMO_AUTHORISATION,
        issuer="nobody: a demonstration on one's own machine",
        controller="the person running the demo",
        rights_contact="not applicable: a demonstration on a public test clip",
        served_kind="recreational_event",
        served_name="Veilleur demo (PETS 2009 clip)",
        perimeter="The PETS 2009 S2L1 test clip, looping; no real place is filmed.",
        cameras=[camera],
        situations=situations,
        recipient_services=["demo"],
        starts_at=now,
        ends_at=month_after(now),
    )
    store.create_authorisation(s, data, actor=store.journal.SYSTEM)
    return True


def build_server(
    settings: ServerSettings,
    site: SiteConfig,
    *,
    loop_files: bool = False,
    realtime_files: bool = True,
    demo_authorisation: str | None = None,
) -> Server:
    """Upgrade the database, add the site's cameras that it lacks, start the supervisor on the
    database's cameras (those whose processing is on, as far as an active authorisation allows
    live processing, SPEC §4), and build the app.

    Cameras live in the database once imported: edits made in the console survive a restart,
    and a camera of the file is imported again only if it is absent. `demo_authorisation`
    (`veilleur demo` only) names a camera to cover with a demo authorisation.
    """
    from veilleur import store
    from veilleur.app import create_app
    from veilleur.runtime import Supervisor
    from veilleur.service.bus import SignalBus
    from veilleur.service.platform import SignalRecorder

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store.upgrade(settings.database_url)
    engine = store.make_engine(settings.database_url)
    sessions = store.session_factory(engine)
    with sessions() as s:
        for name, camera in site.cameras.items():
            if store.get_camera(s, name) is None:
                store.upsert_camera(s, name, camera)
        rows = store.list_cameras(s)
        cameras = {r.name: store.camera_config(r) for r in rows}
        if demo_authorisation is not None and demo_authorisation in cameras:
            enabled = cameras[demo_authorisation].situations.items()
            wanted = [sid for sid, sit in enabled if sit.enabled]
            if wanted:
                ensure_demo_authorisation(s, demo_authorisation, wanted)
    bus = SignalBus()
    from veilleur.service.modes import StatisticsRecorder

    # on_signal runs on a supervisor thread: commit, then hand to the event loop via the bus.
    recorder = SignalRecorder(sessions, settings.data_dir, bus)
    callbacks: dict[str, Any] = {
        "on_signal": recorder,
        "on_further": recorder.further,  # further events of a signal's episode, after it
        # What waited together is committed together: bursts of many cameras keep up.
        "on_batch": recorder.batch,
        # Cameras in statistics mode: their aggregates per bucket go to the store only.
        "on_statistics": StatisticsRecorder(sessions),
    }
    supervisor: CameraHub
    cluster = None
    if settings.cluster_address:
        # The cameras run on the Ray cluster's nodes; this process stays the only writer of
        # the database and the journal (docs/cluster.md). Ray is imported only then.
        from veilleur.cluster import ClusterRuntime

        supervisor = cluster = ClusterRuntime(
            site.model_copy(update={"cameras": cameras}),
            address=settings.cluster_address,
            realtime_files=realtime_files,
            loop_files=loop_files,
            **callbacks,
        )
    else:
        supervisor = Supervisor(
            site.model_copy(update={"cameras": cameras}),
            realtime_files=realtime_files,
            loop_files=loop_files,
            **callbacks,
        )
    try:
        if cluster is not None:
            cluster.connect()  # a wrong address fails now, not at the first authorisation
            if threading.current_thread() is threading.main_thread():
                # Joining Ray replaced the SIGTERM handler (it exits with code 15): ours
                # again, so that SIGTERM and SIGHUP unwind alike (exit 128 + signal).
                _exit_on_signals()
        app = create_app(settings, supervisor, bus=bus, sessions=sessions)
        recorder.authorised = app.state.platform.is_authorised
        # Starts the cameras an active authorisation allows, then starts and stops them at
        # each authorisation's bounds.
        app.state.platform.start_gate()
        from veilleur.service.delivery import delivery_worker
        from veilleur.service.retention import scheduler

        scheduler(app).start()  # the scheduled retention purge (SPEC S8), on its own thread
        # Signals to MQTT brokers and webhooks, from the outbox (docs/delivery.md).
        recorder.delivery = delivery_worker(app)
        recorder.delivery.start()
    except BaseException:
        with contextlib.suppress(Exception):
            app.state.platform.close()
        if recorder.delivery is not None:
            recorder.delivery.stop()
        supervisor.close()
        engine.dispose()
        raise
    return Server(app, supervisor, engine, settings)


def ensure_first_administrator(settings: ServerSettings) -> tuple[str, str] | None:
    """On a database without any account, create 'admin' with a random password (printed
    once); returns (name, password) when it did."""
    from veilleur import store

    engine = store.make_engine(settings.database_url)
    try:
        with store.session_factory(engine)() as s:
            if store.list_users(s):
                return None
            password = secrets.token_urlsafe(12)
            store.create_user(s, "admin", password, "administrator")
            return "admin", password
    finally:
        engine.dispose()


def ensure_demo_accounts(settings: ServerSettings) -> None:
    from veilleur import store

    engine = store.make_engine(settings.database_url)
    try:
        with store.session_factory(engine)() as s:
            for name, role in DEMO_ACCOUNTS.items():
                if store.get_user_by_name(s, name) is None:
                    store.create_user(s, name, DEMO_PASSWORD, role)
    finally:
        engine.dispose()


def _exit_on_signals() -> None:
    """SIGTERM and SIGHUP unwind the main process like Ctrl-C does, so that the server's
    `finally` stops the camera and pool processes and removes the runtime folder.

    Uvicorn handles SIGTERM while it serves, then restores the handler it found and raises the
    signal again: with the default handler the process died there, before `server.close()`,
    and its processes went on analysing video (issue 12). Installed before the server is
    built, so that a signal during start-up unwinds as well."""

    def unwind(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, unwind)


def _run(server: Server, *, before: Callable[[], None] | None = None) -> None:
    """Serve until stopped; `server` is closed however this ends (`before` runs first, in
    the same guard)."""
    import asyncio
    import socket

    import uvicorn

    class Uvicorn(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Before uvicorn waits for open connections: cameras stop, live streams end.
            await asyncio.to_thread(server.stop_processing)
            await super().shutdown(sockets=sockets)

    try:
        if before is not None:
            before()
        config = uvicorn.Config(
            server.app,
            host=server.settings.host,
            port=server.settings.port,
            log_level="info",
            # Requests still running get a moment, then the server stops anyway.
            timeout_graceful_shutdown=3,
        )
        Uvicorn(config).run()
    finally:
        server.close()


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def serve(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Site configuration (cameras, perception).")
    ],
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", help="Folder for the embedded database and signal media."),
    ] = Path("veilleur-data"),
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="Database URL, e.g. postgresql+psycopg://veilleur@db/veilleur; "
            "default: SQLite in the data folder.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    secure_cookies: Annotated[
        bool, typer.Option(help="Session cookie only over HTTPS (behind a TLS proxy).")
    ] = False,
    images_days: retention_options.ImagesDays = None,
    signals_days: retention_options.SignalsDays = None,
    journal_days: retention_options.JournalDays = None,
    statistics_days: retention_options.StatisticsDays = None,
    purge_every: retention_options.PurgeEvery = None,
    delivery: Annotated[
        Path | None,
        typer.Option(
            "--delivery",
            help="YAML file of the MQTT brokers and webhooks signals are delivered to "
            "(docs/delivery.md); default: none.",
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Run the cameras on the nodes of this Ray cluster (e.g. 10.0.0.5:6379, or "
            "'auto' on one of its nodes; needs the extra veilleur\\[cluster], "
            "docs/cluster.md); default: as processes of this machine.",
        ),
    ] = None,
) -> None:
    """Run the platform: live cameras, signal store, REST API and operator console."""
    from veilleur import store
    from veilleur.config import ConfigError, load_config
    from veilleur.config.delivery import DeliverySettings, load_delivery
    from veilleur.config.server import ServerSettings

    try:
        site = load_config(config)
        recipients = load_delivery(delivery) if delivery is not None else DeliverySettings()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    settings = ServerSettings(
        data_dir=data_dir.resolve(),
        database_url=database or store.default_url(data_dir.resolve()),
        config_path=config.resolve(),
        host=host,
        port=port,
        secure_cookies=secure_cookies,
        metrics_token=os.environ.get("VEILLEUR_METRICS_TOKEN") or None,
        retention=retention_options.retention_settings(
            images_days, signals_days, journal_days, statistics_days, purge_every
        ),
        delivery=recipients,
        cluster_address=cluster or None,
    )
    if settings.cluster_address:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise _fail(
                "--cluster needs Ray: pip install 'veilleur[cluster]' (docs/cluster.md)"
            ) from None
    _logging()
    out.print(retention_options.periods_line(settings.retention), highlight=False)
    _exit_on_signals()
    server = build_server(settings, site)

    def announce() -> None:
        first = ensure_first_administrator(settings)
        if first:
            out.print(
                f"[bold]First start:[/] administrator account [bold]{first[0]}[/] with "
                f"password [bold]{first[1]}[/] (shown once; change it on the Users page).",
                highlight=False,
            )
        out.print(f"Veilleur console: http://{host}:{port}/", highlight=False)

    _run(server, before=announce)


def demo(
    port: Annotated[int, typer.Option(help="Port of the console.")] = 8080,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Folder for the demo's database and media.")
    ] = Path("veilleur-demo"),
    host: Annotated[
        str, typer.Option(help="Address to listen on (the demo accounts have a known password).")
    ] = "127.0.0.1",
) -> None:
    """Start everything on embedded defaults: SQLite, the default model, and a demo camera
    looping OpenCV's PETS 2009 clip; signals show in the console within a minute."""
    from veilleur import store
    from veilleur.config import parse_config
    from veilleur.config.server import ServerSettings

    clip = demo_clip()
    if clip is None:
        raise _fail(
            f"the demo clip is missing: install Debian's opencv-doc ({DEBIAN_CLIP}), e.g. "
            "`apt-get install opencv-doc`, or set VEILLEUR_SHARED to a folder holding "
            f"{SHARED_CLIP}"
        )
    data_dir = data_dir.resolve()
    settings = ServerSettings(
        data_dir=data_dir, database_url=store.default_url(data_dir), host=host, port=port
    )
    site = parse_config({"cameras": {DEMO_CAMERA: demo_camera(str(clip))}}, "<demo>")
    _logging()
    _exit_on_signals()
    server = build_server(settings, site, loop_files=True, demo_authorisation=DEMO_CAMERA)

    def announce() -> None:
        ensure_demo_accounts(settings)
        out.print(
            f"\n[bold]Veilleur demo[/]: open [bold]http://{host}:{port}/[/]\n"
            f"  accounts: {', '.join(DEMO_ACCOUNTS)} — password [bold]{DEMO_PASSWORD}[/] "
            "(a fixed demo password: never use these accounts beyond this demo)\n"
            f"  camera '{DEMO_CAMERA}' loops {clip}; data in {data_dir}\n"
            f"  live processing runs under a demo authorisation ('{DEMO_AUTHORISATION}')\n",
            highlight=False,
        )

    _run(server, before=announce)
