"""The console in a real Chromium (Debian's `chromium`, driven by Playwright; no browser is ever
downloaded), against the real server: database, supervisor, camera process and detector pool
on a short real clip cut from PETS 2009 S2L1.

Outside CI the tests skip when chromium, Playwright or the clip is absent; under CI (CI=true)
that is a failure. VEILLEUR_SCREENSHOTS=DIR saves screenshots of the main pages there.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
import uvicorn
from browser_helpers import Live

from veilleur import store
from veilleur.cli.server import (
    DEMO_CAMERA,
    build_server,
    demo_camera,
    demo_clip,
    ensure_demo_accounts,
)
from veilleur.config import parse_config
from veilleur.config.server import ServerSettings

CHROMIUM = Path(os.environ.get("VEILLEUR_CHROMIUM", "/usr/bin/chromium"))
CLIP_S = 12.0


def _need(ok: bool, why: str) -> None:
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why} (required under CI)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first seconds of PETS 2009 S2L1 (people cross the plaza's centre from the start)."""
    source = demo_clip()
    _need(source is not None, "the PETS clip is absent (opencv-doc's vtest.avi or VEILLEUR_SHARED)")
    assert source is not None
    out = tmp_path_factory.mktemp("clip") / "pets_first_seconds.mp4"
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        stream = dst.add_stream("libx264", rate=10, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = vin.width, vin.height, "yuv420p"
        for i, frame in enumerate(src.decode(vin)):
            if frame.time is not None and frame.time >= CLIP_S:
                break
            image = av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")
            image.pts, image.time_base = i, Fraction(1, 10)
            for packet in stream.encode(image):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


@contextmanager
def serving(
    clip: Path, data_dir: Path, url: str, *, camera: str = DEMO_CAMERA, **settings: Any
) -> Iterator[Live]:
    """`veilleur demo`'s server (same code) on the short clip and the database at `url`,
    looping, camera stopped at first so that a test sees its first signal arrive. `camera`
    names it: the signal counters are per process and the session's server runs a camera
    named as the demo's."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server_settings = ServerSettings(data_dir=data_dir, database_url=url, port=port, **settings)
    site = parse_config({"cameras": {camera: demo_camera(str(clip))}}, "<browser tests>")
    store.upgrade(url)
    engine = store.make_engine(url)
    with store.session_factory(engine)() as s:
        store.upsert_camera(s, camera, site.cameras[camera], processing=False)
    engine.dispose()
    # As `veilleur demo`: a demo authorisation lets the camera's situations run live (SPEC §4).
    server = build_server(server_settings, site, loop_files=True, demo_authorisation=camera)
    ensure_demo_accounts(server_settings)
    config = uvicorn.Config(
        server.app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not web.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield Live(f"http://127.0.0.1:{port}", server, data_dir)
    finally:
        web.should_exit = True
        thread.join(timeout=10)
        server.close()


@pytest.fixture(scope="session")
def live(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The console's server on SQLite (see `serving`)."""
    data_dir = tmp_path_factory.mktemp("veilleur-data")
    with serving(clip, data_dir, store.default_url(data_dir)) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running in the main thread while
    # it is open, which would break later tests that start their own loop.
    _need(CHROMIUM.is_file(), f"{CHROMIUM} is absent (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright package is absent (pip install -e '.[test]')")
        raise
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()
