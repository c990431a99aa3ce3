"""The database goes away while the camera runs and an operator watches (issue 12, faults).

The real server on PostgreSQL, reached through a TCP proxy the test cuts for a while: the
console says the database is unreachable; signals raised meanwhile wait in the server; once the
database is back they are all stored, and the operator's page shows them without a reload.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Live, login, screenshot, wait_true
from conftest import serving
from sqlalchemy import make_url
from tcp_proxy import TcpProxy

from veilleur.config import SITUATION_IDS
from veilleur.runtime.metrics import REGISTRY

pytestmark = pytest.mark.browser

SIGNAL_WAIT_MS = 90_000
#: Not the demo's name: the session's server may run a camera of that name meanwhile, and
#: `raised` counts from the process's metrics.
CAMERA = "outage"


@pytest.fixture(scope="module")
def outage(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, TcpProxy]]:
    # Imported here, after collection: other modules load db_fixtures as a pytest plugin.
    from db_fixtures import PG_ADMIN_URL, _admin_engine, _create_pg_database, _drop_pg_database

    engine = _admin_engine()
    try:
        with engine.connect():
            pass
    except Exception as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable")
    finally:
        engine.dispose()
    url = _create_pg_database("veilleur_outage")
    parsed = make_url(url)
    proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    proxied = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    try:
        data_dir = tmp_path_factory.mktemp("veilleur-outage")
        # A short heartbeat: the stream notices the outage within seconds.
        with serving(clip, data_dir, proxied, camera=CAMERA, sse_heartbeat_s=1.0) as live:
            yield live, proxy
    finally:
        proxy.close()
        _drop_pg_database(url)


def raised() -> float:
    """Signals the camera `CAMERA` has raised in this test process, all situations."""
    return sum(
        REGISTRY.get_sample_value(
            "veilleur_signals_total", {"camera": CAMERA, "situation": situation}
        )
        or 0.0
        for situation in SITUATION_IDS
    )


def test_console_says_the_database_is_down_and_loses_no_signal(
    browser: Any, outage: tuple[Live, TcpProxy]
) -> None:
    live, proxy = outage
    baseline = raised()
    with live.api("supervisor") as api:
        api.post("/api/processing/start", json={"camera": CAMERA}).raise_for_status()
    page = login(browser, live, "operator", "/signals")
    wait_true(page, "window.veilleur && window.veilleur.streamOpen", 10_000)
    page.locator("article.signal-card").first.wait_for(timeout=SIGNAL_WAIT_MS)

    before = raised()
    proxy.cut()
    banner = page.locator("#store-state")
    banner.wait_for(state="visible", timeout=20_000)
    assert "Database unreachable" in banner.inner_text()
    screenshot(page, "store-outage")
    # Signals keep being raised by the camera; they wait in the server.
    deadline = time.monotonic() + 60
    while raised() < before + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    during = raised() - before
    assert during >= 2, "no signal was raised during the outage"
    assert live.server.supervisor.store_unavailable_since is not None

    proxy.restore()
    banner.wait_for(state="hidden", timeout=30_000)
    with live.api("supervisor") as api:
        api.post("/api/processing/stop", json={"camera": CAMERA}).raise_for_status()
    supervisor = live.server.supervisor
    deadline = time.monotonic() + 30
    while supervisor.store_unavailable_since is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    total = int(raised() - baseline)
    with live.api("auditor") as api:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            items = api.get("/api/signals", params={"limit": 500}).json()
            if len(items) >= total:
                break
            time.sleep(0.5)
    assert len(items) == total, f"{len(items)} stored of {total} raised"
    # The page shows each of them, without a reload.
    newest = max(item["id"] for item in items)
    page.locator(f"#signal-{newest}").wait_for(timeout=30_000)
    page.close()
