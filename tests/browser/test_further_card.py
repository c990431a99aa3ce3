"""An open signal card counts what happens during its cool-down: on the demo camera (the first
seconds of PETS S2L1, looping, 20 s cool-downs) more people walk the wrong way and into the
zones after a signal; the card on the operator's screen shows them, live, without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from browser_helpers import Live, login, screenshot, wait_true
from test_console import SIGNAL_WAIT_MS, _processing

pytestmark = pytest.mark.browser


def test_a_card_shows_the_further_events_of_its_episode_live(browser: Any, live: Live) -> None:
    _processing(live, False)
    page = login(browser, live, "operator", "/signals")
    wait_true(page, "window.veilleur && window.veilleur.streamOpen", 10_000)
    _processing(live, True)
    try:
        wait_true(page, "window.veilleur.furtherReceived >= 1", SIGNAL_WAIT_MS)
        further = page.locator("article.signal-card dd.further").first
        further.wait_for(timeout=15_000)
    finally:
        _processing(live, False)
    count = int(further.get_attribute("data-count"))
    card = page.locator("article.signal-card", has=page.locator("dd.further")).first
    signal_id = card.get_attribute("data-id")
    text = further.inner_text()
    assert count >= 1 and f"+{count}" in text and "cool-down" in text
    # One time per further event, as stored (the latest ten).
    assert further.locator("li time").count() == min(count, 10)
    with live.api("auditor") as api:
        stored = api.get(f"/api/signals/{signal_id}").json()
    assert stored["further_count"] >= count
    # Said in the toast (unless a new signal's message replaced it since).
    assert page.locator("#toast").inner_text().startswith(("Wrong way", "Zone intrusion", "New"))
    # Still one card per signal: a further event is not a new signal.
    assert page.locator(f"#signal-{signal_id}").count() == 1
    card.scroll_into_view_if_needed()
    screenshot(page, "signal_further")
