"""The safeguard pages in a real Chromium against the real server: authorisations (list,
create with field errors, renew, revoke, the camera's wall tile), calibration, statistics,
retention, documents, missed reports and the unblurred-view dialog; each with its roles and,
where it shows camera data, the service scope. Data the runtime would have produced over
minutes (would-be signals, statistics, old rows to purge) is written straight into the store
the server reads; the rest goes through the pages as a user would."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from browser_helpers import Live, login, screenshot, wait_true

from veilleur import store
from veilleur.cli.server import DEMO_AUTHORISATION, DEMO_CAMERA, DEMO_PASSWORD, demo_camera
from veilleur.privacy.blur import blur_persons
from veilleur.runtime.events import SignalEvent
from veilleur.scene.statistics import StatisticRow
from veilleur.service.retention import scheduler
from veilleur.types import Detections, Signal

pytestmark = pytest.mark.browser

FRAME_WAIT_MS = 90_000  # camera process start and model load before the first analysed frame
DOOR = {"door": {"polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]}}


def expect(target: Any) -> Any:
    # Imported here: without Playwright the `browser` fixture skips (or fails under CI) first.
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@dataclass
class Site:
    """What this module added to the live server, and the blurred snapshot it seeded."""

    live: Live
    snapshot: bytes
    now: datetime

    def api(self, user: str) -> Any:
        return self.live.api(user)

    def sessions(self) -> Any:
        return store.session_factory(self.live.server.engine)()


def _blurred_snapshot(clip: Path) -> bytes:
    """The clip's first frame with a person-sized box blurred, as the worker stores one."""
    with av.open(str(clip)) as src:
        frame = next(src.decode(video=0)).to_ndarray(format="bgr24")
    h, w = frame.shape[:2]
    persons = Detections(
        xyxy=np.array([[0.4 * w, 0.3 * h, 0.55 * w, 0.8 * h]]),
        confidence=np.array([0.9]),
        class_id=np.array([0]),
    )
    blurred = blur_persons(frame, persons)
    assert blurred is not None
    ok, buf = cv2.imencode(".jpg", blurred)
    assert ok
    return bytes(buf.tobytes())


def _would_be(site: Site, camera: str, situation: str, hours_ago: float) -> None:
    event = SignalEvent(
        signal=Signal(
            situation=situation, camera=camera, zone="door", start_s=1.0, end_s=2.0, frame=5,
            bbox=(0.4, 0.3, 0.55, 0.8), confidence=0.71, model="yolox-nano", config_version="v",
        ),
        snapshot_jpeg=site.snapshot, clip_mp4=None, known_limits="", mode="calibration",
        wall_time=site.now - timedelta(hours=hours_ago),
    )  # fmt: skip
    with site.sessions() as s:
        store.record_calibration(s, event, site.live.data_dir)


def _statistics(site: Site, camera: str, value: float, days_ago: float = 0) -> None:
    at = (site.now - timedelta(days=days_ago)).replace(second=0, microsecond=0)
    with site.sessions() as s:
        store.record_statistics(
            s,
            [
                StatisticRow(
                    camera, at - timedelta(minutes=m), 60, "zone_entries", "door", "", value + m
                )
                for m in (1, 2, 3)
            ]
            + [
                StatisticRow(
                    camera, at - timedelta(minutes=2), 60, "occupancy_mean", "", "", value / 2
                )
            ],
        )


@pytest.fixture(scope="module")
def site(live: Live, clip: Path) -> Iterator[Site]:
    """Cameras of two services (harbour, city) in the calibration and statistics modes, a live
    camera `tower` waiting for an authorisation, a supervisor and an auditor of the harbour
    service, and a supervisor of plaza's service holding the unblurred-view privilege."""
    site = Site(live, _blurred_snapshot(clip), datetime.now(UTC))
    added = {
        "quay": ("calibration", ["harbour"]),
        "dock": ("calibration", ["city"]),
        "count": ("statistics", ["harbour"]),
        "tally": ("statistics", ["city"]),
    }
    with live.api("admin") as api:
        for name, (mode, services) in added.items():
            config = {"source": str(clip), "mode": mode, "zones": DOOR}
            r = api.post(
                "/api/cameras",
                json={"name": name, "config": config, "processing": False, "services": services},
            )
            assert r.status_code == 201, r.text
        # Processing on, live mode, no authorisation yet: it waits (SPEC §4).
        r = api.post(
            "/api/cameras",
            json={"name": "tower", "config": demo_camera(str(clip)), "processing": True},
        )
        assert r.status_code == 201, r.text
        r = api.put(f"/api/cameras/{DEMO_CAMERA}/services", json={"services": ["plaza-room"]})
        assert r.status_code == 200, r.text
        for username, role, service, unblurred in (
            ("harbour-sup", "supervisor", "harbour", False),
            ("harbour-aud", "auditor", "harbour", False),
            ("plaza-sup", "supervisor", "plaza-room", True),
        ):
            r = api.post(
                "/api/users",
                json={"username": username, "password": DEMO_PASSWORD, "role": role,
                      "service": service, "may_view_unblurred": unblurred},
            )  # fmt: skip
            assert r.status_code == 201, r.text
    # In the order a camera would record them (the page lists the last recorded first).
    _would_be(site, "dock", "zone_intrusion", 0.3)
    _would_be(site, "quay", "zone_intrusion", 0.2)
    _would_be(site, "quay", "wrong_way", 0.1)
    _statistics(site, "count", 3.0)
    _statistics(site, "tally", 7.0)
    try:
        yield site
    finally:
        with live.api("admin") as api:
            # Back as the other browser tests found it (they share the server).
            r = api.put(f"/api/cameras/{DEMO_CAMERA}/services", json={"services": []})
            r.raise_for_status()
            api.post("/api/processing/stop", json={"camera": DEMO_CAMERA}).raise_for_status()
            for name in [*added, "tower"]:
                api.delete(f"/api/cameras/{name}").raise_for_status()


def _forbidden(browser: Any, live: Live, user: str, path: str) -> None:
    page = login(browser, live, user, path)
    assert page.locator("h1").inner_text() == "Not allowed", f"{user} reached {path}"
    page.close()


# --- authorisations ------------------------------------------------------------------------


def _fill_authorisation(page: Any, reference: str) -> None:
    form = page.locator("#new-authorisation form")
    form.locator("input[name=reference]").fill(reference)
    form.locator("input[name=issuer]").fill("The prefect of the test department")
    form.locator("input[name=controller]").fill("Municipal police of the test town")
    form.locator("input[name=rights_contact]").fill("dpo@town.example")
    form.locator("select[name=served_kind]").select_option("transport_network")
    form.locator("input[name=served_name]").fill("Tower bus station")
    form.locator("textarea[name=perimeter]").fill("The bus station's forecourt")
    form.locator("input[name=recipient_services]").fill("control room, municipal police")


def test_authorisation_created_renewed_and_revoked_stops_the_camera(
    browser: Any, live: Live, site: Site
) -> None:
    wall = login(browser, live, "supervisor", "/wall")
    tile = wall.locator("#status-tower")
    expect(tile).to_contain_text("waiting: no active authorisation")

    page = login(browser, live, "admin", "/authorisations")
    active = page.locator("#authorisations-active")
    expect(active).to_contain_text(DEMO_AUTHORISATION)
    expect(page.locator("#authorisations-revoked")).not_to_contain_text("TOWER-")

    # Field errors: no camera, then a period over one month; what was typed stays.
    _fill_authorisation(page, "TOWER-2026-01")
    page.check("#new-authorisation input[name=situations][value=zone_intrusion]")
    page.check("#new-authorisation input[name=situations][value=wrong_way]")
    page.click("#new-authorisation button[type=submit]")
    errors = page.locator("#new-authorisation ul.error")
    expect(errors.locator("li strong")).to_have_text(["cameras"])
    assert page.locator("#new-authorisation input[name=reference]").input_value() == "TOWER-2026-01"
    assert page.locator("input[name=situations][value=wrong_way]").is_checked()
    page.check("#new-authorisation input[name=cameras][value=tower]")
    starts = datetime.fromisoformat(page.locator("input[name=starts_at]").input_value())
    page.fill("input[name=ends_at]", (starts + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M"))
    page.click("#new-authorisation button[type=submit]")
    expect(errors.locator("li strong")).to_have_text(["ends_at"])
    expect(errors).to_contain_text("is more than one month after starts_at")
    assert page.locator("input[name=cameras][value=tower]").is_checked()
    with live.api("auditor") as api:
        refs = [a["reference"] for a in api.get("/api/authorisations").json()]
    assert "TOWER-2026-01" not in refs  # nothing recorded by a refused form

    page.fill("input[name=ends_at]", (starts + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M"))
    with page.expect_navigation():
        page.click("#new-authorisation button[type=submit]")
    first_id = int(re.search(r"/authorisations/(\d+)$", page.url).group(1))  # type: ignore[union-attr]
    expect(page.locator("#authorisation-status")).to_have_text("active")
    details = page.locator("section.card").first.inner_text()
    assert "Tower bus station" in details and "Transport network" in details
    assert "Zone intrusion" in details and "Wrong way" in details
    assert "control room, municipal police" in details
    assert "Not renewed" in page.locator("#renewal-chain").inner_text()
    # The camera starts within the authorisation.
    expect(tile).to_contain_text(re.compile("starting|running"), timeout=15_000)
    assert "waiting" not in tile.inner_text()

    # Renew: a new decision for the following period, upcoming; the chain links both.
    page.fill("#renew input[name=reference]", "TOWER-2026-02")
    with page.expect_navigation():
        page.click("#renew button[type=submit]")
    second_id = int(page.url.rsplit("/", 1)[1])
    assert second_id != first_id
    expect(page.locator("#authorisation-status")).to_have_text("upcoming")
    chain = page.locator("#renewal-chain li")
    expect(chain).to_have_count(2)
    assert f"#{first_id} TOWER-2026-01" in chain.nth(0).inner_text()
    assert "active" in chain.nth(0).inner_text()
    assert f"#{second_id} TOWER-2026-02" in chain.nth(1).inner_text()
    screenshot(page, "authorisation", full_page=True)

    # Revoke the active one: a blank reason is refused, a stated one stops the camera.
    page.goto(f"{live.url}/authorisations/{first_id}")
    assert page.locator("#renew").count() == 0  # renewed already: no second renewal form
    page.fill("#revoke textarea[name=reason]", "   ")
    page.click("#revoke button[type=submit]")
    expect(page.locator("ul.error")).to_contain_text("reason: say why the authorisation is revoked")
    expect(page.locator("#authorisation-status")).to_have_text("active")
    page.fill("#revoke textarea[name=reason]", "The event was cancelled by the prefecture")
    with page.expect_navigation():
        page.click("#revoke button[type=submit]")
    expect(page.locator("#authorisation-status")).to_have_text("revoked")
    assert "by admin: The event was cancelled by the prefecture" in page.content()
    assert page.locator("#revoke").count() == 0
    expect(tile).to_contain_text("waiting: no active authorisation", timeout=15_000)
    wall.close()

    page.goto(f"{live.url}/authorisations")
    expect(page.locator("#authorisations-revoked")).to_contain_text("TOWER-2026-01")
    expect(page.locator("#authorisations-upcoming")).to_contain_text("TOWER-2026-02")
    page.close()

    # Auditors read them but record nothing; operators do not see them.
    page = login(browser, live, "auditor", f"/authorisations/{second_id}")
    assert "TOWER-2026-02" in page.locator("h1").inner_text()
    assert page.locator("#revoke, #renew").count() == 0
    page.goto(f"{live.url}/authorisations")
    assert page.locator("#new-authorisation").count() == 0
    page.goto(f"{live.url}/journal?action=authorisation.revoked")
    row = page.locator("#journal-entries tbody tr", has_text=f"authorisation:{first_id}")
    expect(row).to_contain_text("admin")
    page.close()
    _forbidden(browser, live, "operator", "/authorisations")


# --- calibration ---------------------------------------------------------------------------


def _records(page: Any) -> list[list[str]]:
    rows = page.locator("#calibration-records tbody tr")
    return [[c.strip() for c in rows.nth(i).inner_text().split("\t")] for i in range(rows.count())]


def _counts(page: Any, caption: str) -> dict[str, str]:
    table = page.locator("#calibration-counts table", has_text=caption)
    rows = table.locator("tbody tr")
    out = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        if cells.count() == 2:
            out[cells.nth(0).inner_text()] = cells.nth(1).inner_text()
    return out


def test_calibration_lists_would_be_signals_with_filters_counts_and_scope(
    browser: Any, live: Live, site: Site
) -> None:
    page = login(browser, live, "admin", "/calibration")
    assert page.locator("#calibration-cameras li").all_inner_texts() == ["dock", "quay"]
    records = _records(page)
    assert len(records) == 3
    assert [r[1] for r in records] == ["quay", "quay", "dock"]  # newest first
    assert [r[2] for r in records] == ["Wrong way", "Zone intrusion", "Zone intrusion"]
    assert all(r[3] == "door" and r[4] == "0.71" for r in records)
    assert _counts(page, "Per situation") == {"Zone intrusion": "2", "Wrong way": "1"}
    assert _counts(page, "Per zone") == {"door": "3"}
    assert sum(int(n) for n in _counts(page, "Per hour").values()) == 3
    screenshot(page, "calibration", full_page=True)

    # The blurred snapshot opens in a new tab, as stored.
    link = page.locator("#calibration-records tbody tr").first.locator("a", has_text="view")
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    size = tab.evaluate("[document.images[0].naturalWidth, document.images[0].naturalHeight]")
    assert size == [768, 576]  # the PETS frame
    shown = page.request.get(live.url + link.get_attribute("href"))
    assert shown.headers["content-type"] == "image/jpeg" and shown.body() == site.snapshot
    tab.close()

    # Filters: situation, camera, period.
    page.select_option("select[name=situation]", "wrong_way")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert [r[2] for r in _records(page)] == ["Wrong way"]
    assert _counts(page, "Per situation") == {"Wrong way": "1"}
    page.select_option("select[name=situation]", "")
    page.select_option("select[name=camera]", "dock")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert [r[1] for r in _records(page)] == ["dock"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    page.goto(f"{live.url}/calibration?since={tomorrow}&until={tomorrow}")
    expect(page.locator("#calibration-records tbody")).to_have_text("Nothing in this period.")
    page.close()

    # A supervisor of the harbour service sees its camera only, even when asking for another.
    page = login(browser, live, "harbour-sup", "/calibration?camera=dock")
    expect(page.locator("p.error")).to_contain_text("no such camera among yours")
    assert page.locator("#calibration-cameras li").all_inner_texts() == ["quay"]
    assert {r[1] for r in _records(page)} == {"quay"}
    assert "dock" not in page.locator("main").inner_text()
    page.close()
    _forbidden(browser, live, "operator", "/calibration")
    _forbidden(browser, live, "auditor", "/calibration")


# --- statistics ----------------------------------------------------------------------------


def _download(page: Any, link_text: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.locator("#statistics-downloads a", has_text=link_text).click()
    download = info.value
    path = download.path()
    return download.suggested_filename, Path(path).read_bytes()


def test_statistics_charts_and_downloads_within_scope(browser: Any, live: Live, site: Site) -> None:
    page = login(browser, live, "auditor", "/statistics")
    titles = page.locator(".statistics-chart h2").all_inner_texts()
    assert titles == [
        "count: Entries into each zone", "count: Persons present (mean per bucket)",
        "tally: Entries into each zone", "tally: Persons present (mean per bucket)",
    ]  # fmt: skip
    assert page.locator(".statistics-chart svg.chart").count() == 4
    # Three buckets drawn in the entries chart; the legend names the zone.
    entries = page.locator(".statistics-chart", has_text="count: Entries").locator("svg")
    assert entries.locator("polyline").count() == 1
    assert len(entries.locator("polyline").get_attribute("points").split()) == 3
    assert "door" in entries.text_content()
    expect(page.locator("#statistics-downloads")).to_contain_text("8 figures")
    screenshot(page, "statistics", full_page=True)

    name, data = _download(page, "CSV")
    assert name == "statistics.csv"
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == 8 and {r["camera"] for r in rows} == {"count", "tally"}
    entries_count = sorted(float(r["value"]) for r in rows
                           if r["camera"] == "count" and r["metric"] == "zone_entries")  # fmt: skip
    assert entries_count == [4.0, 5.0, 6.0]
    name, data = _download(page, "Parquet")
    assert name == "statistics.parquet"
    table = pq.read_table(io.BytesIO(data)).to_pylist()
    assert len(table) == 8 and {r["camera"] for r in table} == {"count", "tally"}

    # The camera filter, then the downloads follow it.
    page.select_option("select[name=camera]", "tally")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert all(
        t.startswith("tally:") for t in page.locator(".statistics-chart h2").all_inner_texts()
    )
    _, data = _download(page, "CSV")
    assert {r["camera"] for r in csv.DictReader(io.StringIO(data.decode()))} == {"tally"}
    page.goto(f"{live.url}/journal?action=statistics.exported&actor=auditor")
    assert page.locator("#journal-entries tbody tr").count() == 3
    page.close()

    # A supervisor of the harbour service: its camera's figures only, in the page and the file.
    page = login(browser, live, "harbour-sup", "/statistics")
    titles = page.locator(".statistics-chart h2").all_inner_texts()
    assert titles and all(t.startswith("count:") for t in titles)
    _, data = _download(page, "CSV")
    assert {r["camera"] for r in csv.DictReader(io.StringIO(data.decode()))} == {"count"}
    page.goto(f"{live.url}/statistics?camera=tally")
    expect(page.locator("p.error")).to_contain_text("no such camera among yours")
    assert "tally" not in page.locator("main").inner_text()
    page.close()


# --- retention -----------------------------------------------------------------------------


def test_retention_periods_and_purge_now_journaled(browser: Any, live: Live, site: Site) -> None:
    page = login(browser, live, "auditor", "/retention")
    periods = page.locator("#retention-periods tbody tr").all_inner_texts()
    assert [p.split("\t")[:2] for p in periods] == [
        ["images", "14 days"], ["signals", "365 days"], ["statistics", "365 days"],
        ["journal", "365 days"],
    ]  # fmt: skip
    assert "every 3600 s" in page.locator("#retention-schedule").inner_text()
    assert page.locator("#purge-now").count() == 0  # auditors read only
    page.close()
    _forbidden(browser, live, "operator", "/retention")

    # The schedule's first purge comes 30 s after the server starts: let it pass, so that what
    # is seeded below is purged by "Purge now" only.
    sched = scheduler(live.server.app)
    deadline = time.monotonic() + 60
    while sched.next_run_at is None or sched.next_run_at < datetime.now(UTC) + timedelta(minutes=1):
        assert time.monotonic() < deadline, "the scheduled purge did not run"
        time.sleep(0.2)
    # Statistics older than their year, to be purged.
    _statistics(site, "count", 1.0, days_ago=400)
    old = site.now - timedelta(days=380)
    with site.sessions() as s:
        assert len(store.list_statistics(s, camera="count", until=old)) == 4

    page = login(browser, live, "admin", "/retention")
    # The form's CSRF token is required: the same session without it is refused.
    refused = page.request.post(f"{live.url}/retention/purge", form={})
    assert refused.status == 403
    with site.sessions() as s:
        assert len(store.list_statistics(s, camera="count", until=old)) == 4
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        page.click("#purge-now button")
    assert page.url.endswith("/retention")
    expect(page.locator("#retention-schedule")).not_to_contain_text("none since")
    assert "asked by admin" in page.locator("main").inner_text()
    last = {r.split("\t")[0]: r.split("\t")[1] for r in
            page.locator("#retention-last tbody tr").all_inner_texts()}  # fmt: skip
    assert last["statistics buckets"] == "4", last
    assert {k: v for k, v in last.items() if k != "statistics buckets"} == dict.fromkeys(
        [k for k in last if k != "statistics buckets"], "0"
    )
    entry = re.search(r"journaled as entry (\d+)", page.locator("main").inner_text())
    assert entry is not None
    history = page.locator("#retention-history tbody tr").first
    assert history.locator("td").nth(0).inner_text() == entry.group(1)
    assert history.locator("td").nth(2).inner_text() == "admin"
    screenshot(page, "retention", full_page=True)
    with site.sessions() as s:
        assert store.list_statistics(s, camera="count", until=old) == []
        assert len(store.list_statistics(s, camera="count")) == 4  # the recent ones stay

    page.goto(f"{live.url}/journal?action=retention.purged")
    row = page.locator("#journal-entries tbody tr").first
    assert row.locator("td").nth(0).inner_text() == entry.group(1)
    assert row.locator("td").nth(2).inner_text() == "admin"
    assert json.loads(row.locator("td").nth(5).inner_text())["statistics"] == 4
    page.close()


# --- documents -----------------------------------------------------------------------------


def test_documents_generated_and_downloaded_by_auditors_only(
    browser: Any, live: Live, site: Site
) -> None:
    _forbidden(browser, live, "operator", "/documents")
    _forbidden(browser, live, "supervisor", "/documents")
    page = login(browser, live, "auditor", "/documents")
    demo = page.locator("#documents-notices tbody tr", has_text=DEMO_AUTHORISATION).first
    demo_id = demo.locator("td").first.inner_text()
    screenshot(page, "documents", full_page=True)

    # The public notice: HTML in a new tab, PDF downloaded.
    with page.context.expect_page() as opened:
        demo.locator("a", has_text="HTML").click()
    notice = opened.value
    notice.wait_for_load_state()
    expect(notice.locator("#notice-decision")).to_contain_text(DEMO_AUTHORISATION)
    situations = notice.locator("#notice-situations li").all_inner_texts()
    assert len(situations) == 2 and any("sens de circulation" in s for s in situations), situations
    notice.close()
    with page.expect_download() as info:
        demo.locator("a", has_text="PDF").click()
    pdf = Path(info.value.path()).read_bytes()
    assert info.value.suggested_filename.endswith(".pdf") and pdf.startswith(b"%PDF")
    from pypdf import PdfReader

    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "not a real decision" in pdf_text and DEMO_CAMERA in pdf_text, pdf_text[:300]

    # Records of processing and technical file: HTML and Markdown.
    for heading, card_text, expected in (
        ("Records of processing", "Records of processing", "the person running the demo"),
        ("Technical file", "Technical file", "sha256"),
    ):
        card = page.locator("section.card", has_text=card_text)
        with page.context.expect_page() as opened:
            card.locator("a", has_text="HTML").click()
        doc = opened.value
        doc.wait_for_load_state()
        assert heading.lower() in doc.locator("body").inner_text().lower()
        doc.close()
        with page.expect_download() as info:
            card.locator("a", has_text="Markdown").click()
        markdown = Path(info.value.path()).read_text()
        assert markdown.startswith("#") and expected.lower() in markdown.lower(), heading

    # Accountability: the HTML report in a new tab, and CSV per week.
    form = page.locator("#accountability-form")
    with page.context.expect_page() as opened:
        form.locator("button", has_text="HTML").click()
    report = opened.value
    report.wait_for_load_state()
    assert "accountability" in report.locator("body").inner_text().lower()
    report.close()
    form.locator("select[name=by]").select_option("week")
    with page.expect_download() as info:
        form.locator("button", has_text="CSV").click()
    lines = Path(info.value.path()).read_text().splitlines()
    assert info.value.suggested_filename.endswith(".csv")
    assert lines[0].split(",")[:9] == [
        "period", "situation", "camera", "signals", "confirmed", "false_alarm",
        "not_actionable", "pending", "missed",
    ]  # fmt: skip

    page.goto(f"{live.url}/journal?action=document.generated&actor=auditor")
    rows = page.locator("#journal-entries tbody tr")
    generated = sorted(
        (rows.nth(i).locator("td").nth(4).inner_text(),
         *json.loads(rows.nth(i).locator("td").nth(5).inner_text()).values())
        for i in range(rows.count())
    )  # fmt: skip
    assert generated == [
        ("authorisation:" + demo_id, int(demo_id), "html", "notice"),
        ("authorisation:" + demo_id, int(demo_id), "pdf", "notice"),
        ("document:accountability", "csv", "accountability"),
        ("document:accountability", "html", "accountability"),
        ("document:records", "html", "records"),
        ("document:records", "md", "records"),
        ("document:technical", "html", "technical"),
        ("document:technical", "md", "technical"),
    ]
    page.close()

    # An auditor of the harbour service: the technical file covers its cameras only.
    page = login(browser, live, "harbour-aud", "/documents")
    with page.expect_download() as info:
        page.locator("section.card", has_text="Technical file").locator(
            "a", has_text="Markdown"
        ).click()
    markdown = Path(info.value.path()).read_text()
    assert "### quay" in markdown and "### count" in markdown and "count" in markdown
    assert "dock" not in markdown and DEMO_CAMERA not in markdown
    page.close()


# --- missed reports ------------------------------------------------------------------------


def test_missed_report_submitted_listed_and_scoped(browser: Any, live: Live, site: Site) -> None:
    page = login(browser, live, "operator", "/missed")
    expect(page.locator("#missed-reports tbody")).not_to_contain_text("bag left at the fountain")
    form = page.locator("#missed-form")
    # A time in the future is refused, with the reason.
    form.locator("select[name=camera]").select_option(DEMO_CAMERA)
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    form.locator("input[name=occurred_at]").fill(future)
    form.locator("button[type=submit]").click()
    expect(page.locator("#missed-error")).to_contain_text("cannot be in the future")

    form.locator("select[name=camera]").select_option(DEMO_CAMERA)
    form.locator("select[name=situation]").select_option("abandoned_object")
    when = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    form.locator("input[name=occurred_at]").fill(when.strftime("%Y-%m-%dT%H:%M"))
    form.locator("input[name=comment]").fill("bag left at the fountain")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.locator("#missed-done")).to_have_text("Recorded. Thank you.")
    row = page.locator("#missed-reports tbody tr").first
    cells = row.locator("td").all_inner_texts()
    assert cells[1:] == [DEMO_CAMERA, "Abandoned object", "operator", "bag left at the fountain"]
    assert when.strftime("%Y-%m-%d %H:%M") in cells[0]
    page.close()

    # Out of the harbour supervisor's scope: neither plaza nor its report.
    page = login(browser, live, "harbour-sup", "/missed")
    options = page.locator("#missed-form select[name=camera] option").all_inner_texts()
    assert sorted(options) == ["count", "quay"]
    expect(page.locator("#missed-reports tbody")).not_to_contain_text("fountain")
    page.close()
    _forbidden(browser, live, "auditor", "/missed")
    # Journaled: what and where, and only whether there was a comment (free text stays out).
    page = login(browser, live, "auditor", "/journal?action=missed.reported&actor=operator")
    rows = page.locator("#journal-entries tbody tr")
    expect(rows).to_have_count(1)
    details = json.loads(rows.first.locator("td").nth(5).inner_text())
    assert details["camera"] == DEMO_CAMERA and details["situation"] == "abandoned_object"
    assert details["comment"] is True and "fountain" not in rows.first.inner_text()
    page.close()


# --- the unblurred view --------------------------------------------------------------------


def test_unblurred_view_needs_the_privilege_and_a_reason_and_is_journaled(
    browser: Any, live: Live, site: Site
) -> None:
    with live.api("supervisor") as api:
        api.post("/api/processing/start", json={"camera": DEMO_CAMERA}).raise_for_status()

    # Without the privilege: no control, no dialog.
    page = login(browser, live, "operator", f"/cameras/{DEMO_CAMERA}")
    assert page.locator("#unblurred-dialog").count() == 0
    assert page.locator("button[data-unblurred]").count() == 0
    page.close()

    page = login(browser, live, "plaza-sup", "/wall")
    # The supervisor's service sees plaza only.
    assert page.locator(".tile").evaluate_all("ts => ts.map(t => t.dataset.camera)") == [
        DEMO_CAMERA
    ]
    page.locator(f".tile[data-camera={DEMO_CAMERA}] .stage.has-image").wait_for(
        timeout=FRAME_WAIT_MS
    )
    dialog = page.locator("#unblurred-dialog")
    assert not dialog.is_visible()
    page.click(f"button[data-unblurred={DEMO_CAMERA}]")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".unblurred-camera")).to_have_text(DEMO_CAMERA)
    image = dialog.locator("img")
    reason = dialog.locator("textarea[name=reason]")
    message = dialog.locator(".unblurred-message")

    # Too short: the browser keeps the form from going; blank padding: the server refuses.
    reason.fill("check")
    dialog.locator("button[type=submit]").click()
    assert reason.evaluate("e => e.validity.tooShort")
    assert message.inner_text() == "" and not image.is_visible()
    reason.fill("          x")
    dialog.locator("button[type=submit]").click()
    expect(message).to_contain_text("at least 10 characters")
    assert not image.is_visible()

    why = "Checking a reported fall near the fountain"
    reason.fill(why)
    screenshot(page, "unblurred-reason")  # before the picture: no unblurred image in the docs
    dialog.locator("button[type=submit]").click()
    expect(image).to_be_visible(timeout=10_000)
    assert image.evaluate("i => i.src.startsWith('blob:') && i.complete && i.naturalWidth") == 768
    expect(message).to_contain_text("journaled")
    blob = image.get_attribute("src")
    dialog.locator("button.close").click()
    expect(dialog).to_be_hidden()
    # Closing drops the picture: no source left, and its in-memory copy released.
    wait_true(page, "!document.querySelector('#unblurred-dialog img').hasAttribute('src')", 5000)
    assert not image.is_visible()
    gone = page.evaluate("u => fetch(u).then(() => 'kept', () => 'released')", blob)
    assert gone == "released"
    page.close()

    # One view journaled, with the account, the camera and the reason; refusals are not.
    page = login(browser, live, "auditor", "/journal?action=media.viewed_unblurred")
    rows = page.locator("#journal-entries tbody tr")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[2:5] == ["plaza-sup", "media.viewed_unblurred", f"camera:{DEMO_CAMERA}"]
    assert why in cells[5]
    page.close()
