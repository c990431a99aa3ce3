"""Helpers of the browser tests: the live server's handle, logging in, screenshots."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from veilleur.cli.server import DEMO_PASSWORD, Server


@dataclass
class Live:
    url: str
    server: Server
    data_dir: Path

    @contextmanager
    def api(self, user: str) -> Iterator[httpx.Client]:
        """An API client logged in as one of the demo accounts."""
        with httpx.Client(base_url=self.url, timeout=20) as c:
            r = c.post("/api/session", json={"username": user, "password": DEMO_PASSWORD})
            r.raise_for_status()
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            yield c


def login(browser: Any, live: Live, user: str, next_path: str = "/") -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{live.url}/login?next={next_path}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", DEMO_PASSWORD)
    # Until the page asked for is loaded, scripts included: the console's scripts are
    # deferred, so its elements are there before htmx binds them, and a click that soon does
    # nothing (a busy CI machine stretches that window).
    with page.expect_navigation(url=lambda url: "/login" not in url, wait_until="load"):
        page.click("button[type=submit]")
    return page


def screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Saved only when VEILLEUR_SCREENSHOTS names a folder (docs/screenshots)."""
    folder = os.environ.get("VEILLEUR_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / f"{name}.jpg"
    page.screenshot(path=str(path), full_page=full_page, type="jpeg", quality=80)


def wait_true(page: Any, expression: str, timeout: int) -> None:
    """Wait until a JavaScript `expression` is truthy on `page` (timeout in ms).

    `page.wait_for_function` compiles its string with `new Function`, which the console's
    Content Security Policy (no 'unsafe-eval') forbids; `page.evaluate` runs the expression
    through the DevTools protocol, outside the page's policy."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        if page.evaluate(expression):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout} ms: {expression}")
        page.wait_for_timeout(100)
