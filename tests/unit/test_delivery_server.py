"""`veilleur serve --delivery FILE`: a bad file is refused naming the key; the server starts the
delivery worker, its signal recorder queues each signal's deliveries, and it stops the worker."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from veilleur import store
from veilleur.cli import app as cli_app
from veilleur.compliance.authorisations import AuthorisationInput
from veilleur.config.delivery import DeliverySettings
from veilleur.delivery.webhook import verify

SECRET = "server-test-secret-0123"


def test_serve_refuses_a_bad_delivery_file(tmp_path: Path) -> None:
    config = Path(__file__).parents[2] / "examples" / "pets_s2l1.yaml"
    delivery = tmp_path / "delivery.yaml"
    delivery.write_text(
        "recipients:\n  - name: room\n    kind: webhook\n    service: police\n"
        "    url: https://example.org/hook\n    secret: short\n"
    )
    result = CliRunner().invoke(
        cli_app,
        ["serve", "--config", str(config), "--data-dir", str(tmp_path), "--delivery",
         str(delivery)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "recipients.0" in result.output and "at least 16 characters" in result.output
    assert "short" not in result.output  # the secret itself is never echoed


def test_the_server_delivers_a_recorded_signal_and_stops_its_worker(tmp_path: Path) -> None:
    from veilleur.config.server import ServerSettings
    from veilleur.service.delivery import delivery_worker

    try:  # the CLI became a package (veilleur.cli.server) on main meanwhile
        from veilleur.cli.server import build_server
    except ImportError:
        from veilleur.cli.server import build_server
    from veilleur.config import parse_config
    from veilleur.runtime.events import SignalEvent
    from veilleur.types import Signal

    got: list[dict[str, Any]] = []
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if verify(SECRET.encode(), dict(self.headers.items()), body):
                got.append(json.loads(body))
                arrived.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return None

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    settings = ServerSettings(
        data_dir=tmp_path,
        database_url=store.default_url(tmp_path),
        delivery=DeliverySettings.model_validate(
            {"recipients": [{"name": "room", "kind": "webhook", "service": "police",
                             "url": url, "secret": SECRET}]}
        ),
    )  # fmt: skip
    server = build_server(
        settings, parse_config({"cameras": {"plaza": {"source": "/no/such.mp4"}}}, "<test>")
    )
    try:
        worker = delivery_worker(server.app)
        assert worker.running
        with server.app.state.sessions() as s:
            store.scopes.set_camera_services(s, "plaza", ["police"])
            now = datetime.now(UTC)
            data = AuthorisationInput(
                reference="test decision", issuer="the prefect of tests", controller="tests",
                rights_contact="dpo@example.org", served_kind="sporting_event",
                served_name="Test match", perimeter="the test site", cameras=["plaza"],
                situations=["zone_intrusion"], recipient_services=["police"],
                starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(days=1),
            )  # fmt: skip
            store.create_authorisation(s, data, actor="administrator")
            server.app.state.platform.apply_authorisations(s)
        event = SignalEvent(
            signal=Signal(
                situation="zone_intrusion", camera="plaza", zone=None, start_s=1.0, end_s=2.0,
                frame=5, bbox=(0.1, 0.1, 0.2, 0.2), confidence=0.7, model="m",
                config_version="v",
            ),
            snapshot_jpeg=b"", clip_mp4=None, known_limits="", wall_time=store.models.utcnow(),
        )  # fmt: skip
        server.supervisor.on_signal(event)
        assert arrived.wait(10), "the webhook did not arrive"
    finally:
        server.close()
        receiver.shutdown()
        receiver.server_close()
    assert not worker.running
    (body,) = got
    assert body["event"] == "signal.recorded" and body["signal"]["camera"] == "plaza"
