"""An operator watches a signal arrive live and qualifies it; an administrator draws a zone, and
the running camera uses it. Real Chromium, real server, real camera process on a real clip."""

from __future__ import annotations

import time
from typing import Any

import pytest
from browser_helpers import Live, login, screenshot, wait_true

pytestmark = pytest.mark.browser

SIGNAL_WAIT_MS = 90_000  # camera process start, model load, then seconds of video


def _processing(live: Live, on: bool) -> None:
    with live.api("supervisor") as api:
        state = api.get("/api/processing").json()["plaza"]["processing"]
        if state != on:
            r = api.post(f"/api/processing/{'start' if on else 'stop'}", json={"camera": "plaza"})
            r.raise_for_status()


def test_login_is_required_and_refuses_a_wrong_password(browser: Any, live: Live) -> None:
    page = browser.new_page()
    page.goto(f"{live.url}/signals")
    assert "/login" in page.url
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator("p.error").inner_text() == "Unknown account or wrong password."
    screenshot(page, "login")
    page.close()


def test_operator_sees_a_signal_arrive_live_and_qualifies_it(browser: Any, live: Live) -> None:
    _processing(live, False)
    page = login(browser, live, "operator", "/signals")
    assert page.url.endswith("/signals")
    wait_true(page, "window.veilleur && window.veilleur.streamOpen", 10_000)
    before = page.locator("article.signal-card").count()
    page.click("h1")  # a click on the page lets it play the sound cue (browser autoplay rule)

    started = time.monotonic()
    _processing(live, True)  # a supervisor starts the camera: the clip replays from its start
    page.locator("article.signal-card.fresh").first.wait_for(timeout=SIGNAL_WAIT_MS)
    # Pin the card by its id: more signals may arrive on top of it meanwhile.
    signal_id = int(page.locator("article.signal-card.fresh").first.get_attribute("data-id"))
    card = page.locator(f"#signal-{signal_id}")
    waited = time.monotonic() - started
    print(f"\nfirst signal on screen {waited:.1f} s after the camera was started")
    assert page.locator("article.signal-card").count() > before
    text = card.inner_text()
    assert "Zone intrusion" in text or "Wrong way" in text
    assert "plaza" in text
    assert "Known limits" in text
    assert "threat" not in page.content().lower()
    assert page.locator("#toast").is_visible()
    # Announced by its label, which console.js reads from the situation records on <body>.
    toast = page.locator("#toast").inner_text()
    assert ("Zone intrusion" in toast or "Wrong way" in toast) and "_" not in toast.split(" on ")[0]
    assert page.evaluate("window.veilleur.signalsReceived") >= 1
    assert page.evaluate("window.veilleur.chimes || 0") >= 1  # the sound cue played
    # The snapshot is the stored, blurred one.
    snapshot = card.locator(".signal-media img")
    snapshot.wait_for()
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", snapshot.element_handle())
    screenshot(page, "signals")

    card.locator("textarea[name=comment]").fill("seen on the wall, person crossing")
    card.locator("button[value=confirmed]").click()
    qualified = page.locator(f"#signal-{signal_id} .verdict.confirmed")
    qualified.wait_for(timeout=10_000)
    assert "by operator" in page.locator(f"#signal-{signal_id}").inner_text()
    with live.api("auditor") as api:
        review = api.get(f"/api/signals/{signal_id}").json()["review"]
    assert review["verdict"] == "confirmed"
    assert review["comment"] == "seen on the wall, person crossing"
    assert review["by"] == "operator"

    page.goto(f"{live.url}/signals/{signal_id}")
    screenshot(page, "signal")
    page.goto(f"{live.url}/wall")
    page.locator(".stage.has-image").first.wait_for(timeout=20_000)
    screenshot(page, "wall")
    page.close()


def _canvas_click(page: Any, selector: str, x: float, y: float) -> None:
    box = page.locator(selector).bounding_box()
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def test_administrator_draws_a_zone_that_the_camera_then_uses(browser: Any, live: Live) -> None:
    _processing(live, True)
    page = login(browser, live, "admin", "/cameras/plaza")
    page.locator("#zone-editor .stage.has-image").wait_for(timeout=SIGNAL_WAIT_MS)
    # Draw a zone over the plaza where people walk, and close it on its first corner.
    corners = [(0.3, 0.3), (0.9, 0.3), (0.9, 0.95), (0.3, 0.95)]
    page.fill("#shape-name", "gate")
    page.click("button[data-mode=zone]")
    for x, y in [*corners, corners[0]]:
        _canvas_click(page, "#editor-canvas", x, y)
    assert "Zone gate" in page.locator("#shape-list").inner_text()
    with page.expect_navigation(timeout=15_000):  # saved, then the page reloads
        page.click("#save-geometry")
    page.wait_for_selector("#situation-zone_intrusion input[name=zones][value=gate]")

    with live.api("admin") as api:
        zone = api.get("/api/cameras/plaza").json()["config"]["zones"]["gate"]
    for (x, y), (zx, zy) in zip(corners, zone["polygon"], strict=True):
        assert abs(x - zx) < 0.01 and abs(y - zy) < 0.01

    # Watch it for intrusions: the camera restarts with it.
    form = page.locator("#situation-zone_intrusion")
    form.locator("input[name=zones][value=gate]").check()
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    with live.api("admin") as api:
        watched = api.get("/api/cameras/plaza").json()["config"]["situations"]["zone_intrusion"]
    assert "gate" in watched["zones"]
    screenshot(page, "camera", full_page=True)

    # The wall draws it over the live image.
    page.goto(f"{live.url}/wall")
    page.locator(".stage.has-image").first.wait_for(timeout=20_000)
    overlay = page.locator(".tile[data-camera=plaza] canvas.overlay")
    assert "gate" in overlay.get_attribute("data-geometry")
    wait_true(page, "document.querySelector('.tile canvas.overlay').dataset.shapes === '5'", 5000)

    # And a signal in that zone comes, live.
    page.goto(f"{live.url}/signals?camera=plaza&situation=zone_intrusion")
    gate = page.locator("article.signal-card", has_text="gate").first
    gate.wait_for(timeout=SIGNAL_WAIT_MS)
    assert "Zone intrusion" in gate.inner_text()
    page.close()


def test_supervisor_stops_everything_and_auditor_sees_figures(browser: Any, live: Live) -> None:
    _processing(live, True)
    page = login(browser, live, "supervisor", "/processing")
    page.wait_for_selector("#proc-plaza")
    screenshot(page, "processing")
    page.once("dialog", lambda d: d.accept())
    page.click("text=Stop everything")
    page.wait_for_selector("#proc-plaza >> text=Start camera", timeout=10_000)
    with live.api("supervisor") as api:
        assert api.get("/api/processing").json()["plaza"]["processing"] is False
        assert api.get("/api/processing").json()["plaza"]["status"]["state"] == "stopped"
    page.close()

    page = login(browser, live, "auditor", "/dashboard")
    assert page.url.endswith("/dashboard")
    assert page.locator("svg.chart").count() == 3
    assert page.locator(".kpi .n").first.inner_text() != "0"
    screenshot(page, "dashboard", full_page=True)
    page.goto(f"{live.url}/wall")
    assert "Not allowed" in page.content()  # no live image for auditors
    page.close()


def test_console_runs_under_its_content_security_policy(browser: Any, live: Live) -> None:
    """No page breaks under the policy (scripts only from the server, no inline handler): the
    confirmations and the period selector, once inline handlers, work from console.js."""
    page = login(browser, live, "admin", "/wall")
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.on("pageerror", lambda e: refused.append(str(e)))
    for path in ("/wall", "/signals", "/cameras/plaza", "/authorisations", "/statistics"):
        response = page.goto(f"{live.url}{path}")
        assert response is not None and "script-src 'self'" in response.headers.get(
            "content-security-policy", ""
        ), path
    page.goto(f"{live.url}/retention")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("#purge-now button[type=submit]")
    page.wait_for_timeout(300)
    assert asked and "retention period" in asked[0]
    assert page.url.endswith("/retention")  # dismissed: nothing was sent
    page.goto(f"{live.url}/dashboard")
    with page.expect_navigation():
        page.select_option("select[name=days]", "7")
    assert "days=7" in page.url
    # The situations' labels and colours reach console.js as data, not as an inline script.
    meta = page.evaluate("JSON.parse(document.body.dataset.situations)")
    assert meta["fire_start"] == {"label": "Fire start", "colour": "#e377c2"} and len(meta) == 8
    assert refused == []
    page.close()
