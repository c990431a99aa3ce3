"""Hostile input (issue 12) on SQLite and PostgreSQL: every request that answered 500 now gets
a clear 4xx, bodies are limited before they are read, logins are throttled, a scoped account
sees only its cameras in authorisations, answers carry security headers, NaN and absurd sizes
never reach the configuration, `dry_run` is a real boolean."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_helpers import PLAZA, Env, make_env
from argon2 import PasswordHasher
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from veilleur import store
from veilleur.config import ConfigError, parse_config
from veilleur.http.limits import DEFAULT_MAX_BODY_BYTES
from veilleur.http.throttle import LoginThrottle
from veilleur.service.inputs import MAX_ID
from veilleur.store import auth as store_auth
from veilleur.store.models import JournalEntry, SignalRow

pytest_plugins = ["db_fixtures"]

PASSWORD = "a long enough password"
HUGE = "9223372036854775808"  # past 64 bits: SQLite raised (a 500)
PAST_32 = str(MAX_ID + 1)  # past PostgreSQL's integer: it raised too


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


def raw_json(client: TestClient, method: str, url: str, text: str) -> Any:
    """Send `text` as the JSON body, byte for byte (json= would re-encode it)."""
    return client.request(
        method, url, content=text.encode(), headers={"Content-Type": "application/json"}
    )


def journal_count(env: Env, action: str) -> int:
    with env.sessions() as s:
        q = select(func.count()).select_from(JournalEntry).where(JournalEntry.action == action)
        return int(s.scalar(q) or 0)


def add_camera(env: Env, name: str, services: list[str], **config: Any) -> None:
    admin = env.client("administrator")
    r = admin.post(
        "/api/cameras", json={"name": name, "config": {**PLAZA, **config}, "services": services}
    )
    assert r.status_code == 201, r.text


# --- 1. date-times: one rule --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/api/signals", "/api/stats", "/api/statistics", "/api/calibration", "/api/statistics.csv"],
)
def test_a_date_time_without_a_time_zone_is_refused_everywhere(env: Env, url: str) -> None:
    admin = env.client("administrator")
    r = admin.get(url, params={"since": "2026-01-01T00:00:00"})
    assert r.status_code == 422, r.text
    assert "time zone" in r.text
    assert admin.get(url, params={"since": "2026-01-01T00:00:00Z"}).status_code == 200
    assert admin.get(url, params={"since": "2026-01-01T02:00:00+02:00"}).status_code == 200


def test_a_time_zone_is_read_as_such(env: Env) -> None:
    env.signal()
    admin = env.client("administrator")
    later = (datetime.now(UTC) + timedelta(hours=1)).astimezone().isoformat()
    assert admin.get("/api/signals", params={"since": later}).json() == []
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert len(admin.get("/api/signals", params={"since": earlier}).json()) == 1


@pytest.mark.parametrize(
    ("who", "url", "params"),
    [
        ("auditor", "/api/documents/accountability", {"until": "9999-12-31"}),
        ("auditor", "/api/documents/accountability", {"since": "0001-01-01"}),
        ("auditor", "/journal", {"until": "9999-12-31"}),
        ("administrator", "/api/calibration", {"until": "9999-12-31T23:59:59Z"}),
        ("administrator", "/api/statistics", {"until": "9999-12-31T23:59:59Z"}),
        ("administrator", "/api/stats", {"until": "9999-12-31T23:59:59-14:00"}),
        ("administrator", "/api/signals", {"since": "0001-01-01T00:00:00+14:00"}),
        ("administrator", "/dashboard", {"days": "99999999999"}),
    ],
)
def test_extreme_dates_are_refused(env: Env, who: str, url: str, params: dict[str, str]) -> None:
    r = env.client(who).get(url, params=params)
    assert r.status_code == 422, r.text


def test_the_last_day_allowed_works(env: Env) -> None:
    auditor = env.client("auditor")
    assert auditor.get("/journal", params={"until": "2999-12-31"}).status_code == 200
    r = auditor.get("/api/documents/accountability", params={"until": "2999-12-31"})
    assert r.status_code == 200, r.text


def test_an_extreme_occurred_at_is_refused(env: Env) -> None:
    add_camera(env, "gare", [])
    admin = env.client("administrator")
    body = {"camera": "gare", "situation": "weapon", "comment": "seen"}
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T10:00"):
        r = admin.post("/api/missed", json={**body, "occurred_at": when})
        assert r.status_code == 422, (when, r.text)
    r = admin.post("/api/missed", json={**body, "occurred_at": "2026-01-01T10:00:00+01:00"})
    assert r.status_code == 201, r.text
    assert r.json()["occurred_at"].startswith("2026-01-01T09:00:00")


# --- 2. JSON text: lone surrogates, NaN ---------------------------------------------------


def test_a_lone_surrogate_is_refused_before_login(env: Env) -> None:
    anonymous = env.client()
    r = raw_json(anonymous, "POST", "/api/session", '{"username":"\\ud800","password":"x"}')
    assert r.status_code == 422, r.text
    assert "surrogate" in r.text
    assert journal_count(env, "session.login_failed") == 0
    # A real pair (an emoji) is text: an ordinary failed login.
    r = raw_json(anonymous, "POST", "/api/session", '{"username":"\\ud83d\\ude00","password":"x"}')
    assert r.status_code == 401, r.text
    # An escaped backslash followed by "ud800" is plain text too.
    r = raw_json(anonymous, "POST", "/api/session", '{"username":"\\\\ud800","password":"x"}')
    assert r.status_code == 401, r.text


def test_the_nul_character_is_refused_everywhere(env: Env) -> None:
    """PostgreSQL cannot store NUL: it failed there (a 500) in a name, a filter or a path."""
    admin = env.client("administrator")
    for r in (
        raw_json(env.client(), "POST", "/api/session", '{"username":"a\\u0000","password":"x"}'),
        admin.get("/api/cameras/a%00b"),
        admin.get("/api/signals", params={"camera": "a\x00"}),
        env.client().post("/login", data={"username": "a\x00", "password": "x"}),
    ):
        assert r.status_code == 422, r.text
        assert "NUL" in r.text
    assert journal_count(env, "session.login_failed") == 0


def test_lone_surrogates_in_comments_and_camera_names(env: Env) -> None:
    add_camera(env, "gare", [])
    admin = env.client("administrator")
    when = datetime.now(UTC).isoformat()
    missed = json.dumps({"camera": "gare", "situation": "weapon", "occurred_at": when})
    r = raw_json(admin, "POST", "/api/missed", missed[:-1] + ', "comment": "a \\udc00 knife"}')
    assert r.status_code == 422, r.text
    r = raw_json(admin, "POST", "/api/cameras", '{"name": "x\\ud800", "config": {}}')
    assert r.status_code == 422, r.text
    sid = env.signal()
    r = raw_json(
        admin, "POST", f"/api/signals/{sid}/qualification",
        '{"verdict": "confirmed", "comment": "\\ud800"}',
    )  # fmt: skip
    assert r.status_code == 422, r.text


def test_nan_and_infinity_are_not_json(env: Env) -> None:
    add_camera(env, "gare", [])
    admin = env.client("administrator")
    r = raw_json(
        admin, "PUT", "/api/cameras/gare/situations/zone_intrusion",
        '{"enabled": true, "zones": ["lawn"], "cooldown_s": Infinity}',
    )  # fmt: skip
    assert r.status_code == 422 and "Infinity" in r.text, r.text
    polygon = "[[0, 0.5], [0.4, 0.6], [0.75, 1], [0, 1]]"
    zones = f'{{"zones": {{"lawn": {{"polygon": {polygon}, "direction": [NaN, 1]}}}}}}'
    r = raw_json(admin, "PUT", "/api/cameras/gare/geometry", zones)
    assert r.status_code == 422 and "NaN" in r.text, r.text
    with env.sessions() as s:
        row = store.get_camera(s, "gare")
        assert row is not None and row.config["zones"]["lawn"].get("direction") is None


# --- 3. ids ----------------------------------------------------------------------------------


def test_ids_beyond_64_bits_on_every_route(env: Env) -> None:
    """Every route with an {…_id} in its path, and `before_id`: 422 past 2³¹−1, 404 below."""
    admin = env.client("administrator")
    from veilleur.api import rest, rest_authorisations, rest_documents, rest_modes
    from veilleur.web import pages, pages_authorisations

    modules = (rest, rest_authorisations, rest_documents, rest_modes, pages, pages_authorisations)
    routes = [
        (method, r.path)
        for module in modules
        for r in module.router.routes
        if isinstance(r, APIRoute) and re.search(r"\{\w+_id\}", r.path)
        for method in sorted(r.methods)
    ]
    assert len(routes) >= 15, routes
    for method, path in routes:
        cases = ((HUGE, {422}), (PAST_32, {422}), ("-1", {422}), (str(MAX_ID), {404, 422}))
        for value, expected in cases:
            url = re.sub(r"\{\w+_id\}", value, path)
            r = admin.request(method, url, json={} if method != "GET" else None)
            assert r.status_code in expected, (method, url, r.status_code, r.text[:200])
    for url in ("/api/signals", "/signals", "/journal"):
        who = env.client("auditor") if url == "/journal" else admin
        assert who.get(url, params={"before_id": HUGE}).status_code == 422, url
        assert who.get(url, params={"before_id": str(MAX_ID)}).status_code == 200, url
    r = admin.get("/api/signals/stream", headers={"Last-Event-ID": HUGE})
    assert r.status_code == 422


# --- 4. body size ----------------------------------------------------------------------------


def test_a_large_body_is_refused_before_it_is_read(env: Env) -> None:
    anonymous = env.client()
    big = 52 * 1024 * 1024
    r = anonymous.post(
        "/api/session", content=b"{}", headers={"Content-Length": str(big),
                                                "Content-Type": "application/json"},
    )  # fmt: skip
    assert r.status_code == 413, r.text
    assert str(DEFAULT_MAX_BODY_BYTES) in r.json()["detail"]
    # Without a length (chunked): counted as it comes.
    chunk = b" " * 65536

    def chunks() -> Iterator[bytes]:
        for _ in range(DEFAULT_MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    r = anonymous.post(
        "/api/session", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    # Just under the limit, an administrator's zones are read as usual.
    add_camera(env, "gare", [])
    admin = env.client("administrator")
    points = [[0.1 + 0.8 * i / 4000, 0.5 + 0.4 * (i % 2)] for i in range(4000)]
    body = json.dumps({"zones": {"lawn": {"polygon": points}}})
    assert 50_000 < len(body) < DEFAULT_MAX_BODY_BYTES
    r = raw_json(admin, "PUT", "/api/cameras/gare/geometry", body)
    assert r.status_code != 413, r.text


# --- 5. configuration values -----------------------------------------------------------------


def test_absurd_analysis_sizes_are_refused_with_the_key(env: Env) -> None:
    admin = env.client("administrator")
    r = admin.post(
        "/api/cameras", json={"name": "big", "config": {**PLAZA, "analysis_size": [1e9, 1e9]}}
    )
    assert r.status_code == 422, r.text
    problems = r.json()["detail"]["problems"] if isinstance(r.json()["detail"], dict) else []
    text = json.dumps(r.json())
    assert "analysis_size" in text and "at most" in text, problems
    with env.sessions() as s:
        assert store.get_camera(s, "big") is None


@pytest.mark.parametrize(
    ("camera", "key"),
    [
        ({"zones": {"z": {"polygon": [[0, 0], [1, 0], [1, 1]], "direction": [math.nan, 1]}}},
         "zones.z.direction"),
        ({"zones": {"z": {"polygon": [[0, 0], [1, 0], [1, 1]]}},
          "situations": {"zone_intrusion": {"enabled": True, "zones": ["z"],
                                            "cooldown_s": math.inf}}},
         "situations.zone_intrusion.cooldown_s"),
        ({"analysis_fps": math.nan}, "analysis_fps"),
    ],
)  # fmt: skip
def test_non_finite_numbers_are_refused_naming_the_key(camera: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"cameras": {"c": {"source": "a.mp4", **camera}}}, "site.yaml")
    text = str(caught.value)
    assert f"cameras.c.{key}" in text and "finite number" in text, text


def test_nan_ground_points_are_refused() -> None:
    calibration = {
        "image_points": [[0.1, 0.9], [0.9, 0.9], [0.9, 0.5], [0.1, 0.5]],
        "ground_points": [[0, 0], [10, 0], [10, math.nan], [0, 20]],
    }
    with pytest.raises(ConfigError) as caught:
        parse_config({"cameras": {"c": {"source": "a.mp4", "calibration": calibration}}}, "s")
    assert "cameras.c.calibration.ground_points" in str(caught.value), str(caught.value)


# --- 6. scopes in authorisations -------------------------------------------------------------


def test_a_scoped_account_sees_only_its_cameras_in_authorisations(env: Env) -> None:
    add_camera(env, "north", ["east"])
    add_camera(env, "south", ["west"])
    both = env.authorise(["north", "south"])
    west_only = env.authorise(["south"])
    with env.sessions() as s:
        store.create_user(s, "sup-east", PASSWORD, "supervisor", service="east")
    c = TestClient(env.app)
    env.clients.append(c)
    assert c.post("/api/session", json={"username": "sup-east", "password": PASSWORD}).is_success
    listed = c.get("/api/authorisations").json()
    assert [(a["id"], a["cameras"]) for a in listed] == [(both, ["north"])]
    assert c.get(f"/api/authorisations/{both}").json()["cameras"] == ["north"]
    assert c.get(f"/api/authorisations/{west_only}").status_code == 404
    page = c.get("/authorisations").text
    assert "north" in page and "south" not in page
    assert c.get(f"/authorisations/{west_only}").status_code == 404
    # Unscoped accounts see everything, as before.
    everything = env.client("administrator").get("/api/authorisations").json()
    assert {a["id"]: sorted(a["cameras"]) for a in everything} == {
        both: ["north", "south"],
        west_only: ["south"],
    }


# --- 7. login throttling ----------------------------------------------------------------------


def test_an_account_is_locked_after_repeated_failures(env: Env) -> None:
    now = [1000.0]
    env.app.state.login_throttle = LoginThrottle(clock=lambda: now[0])
    c = env.client()
    wrong = {"username": "operator", "password": "not it"}
    codes = [c.post("/api/session", json=wrong).status_code for _ in range(5)]
    assert codes == [401, 401, 401, 401, 429]
    right = {"username": "operator", "password": "pass-operator-123"}
    for _ in range(20):
        r = c.post("/api/session", json=right)
        assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # Journaled once per lock-out, and the refused tries not at all.
    assert journal_count(env, "session.login_locked") == 1
    assert journal_count(env, "session.login_failed") == 5
    # Another account from the same address is not locked by this one.
    auditor = {"username": "auditor", "password": "pass-auditor-123"}
    assert c.post("/api/session", json=auditor).status_code == 200
    now[0] += 61
    assert c.post("/api/session", json=right).status_code == 200
    # A second lock-out lasts twice as long.
    for _ in range(5):
        c.post("/api/session", json=wrong)
    assert 61 <= int(c.post("/api/session", json=right).headers["Retry-After"]) <= 120
    assert journal_count(env, "session.login_locked") == 2


def test_an_address_is_locked_after_failures_on_many_names(env: Env) -> None:
    env.app.state.login_throttle = LoginThrottle()
    c = env.client()
    codes = [
        c.post("/api/session", json={"username": f"guess{i}", "password": "x"}).status_code
        for i in range(20)
    ]
    assert codes[:19] == [401] * 19 and codes[19] == 429
    r = c.post("/api/session", json={"username": "operator", "password": "pass-operator-123"})
    assert r.status_code == 429 and "Retry-After" in r.headers
    # The console's login form is behind the same throttle (with its own login CSRF token).
    form = c.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    page = c.post(
        "/login",
        data={"username": "operator", "password": "pass-operator-123", "csrf_token": token[1]},
        follow_redirects=False,
    )
    assert page.status_code == 429 and "Too many failed logins" in page.text
    assert int(page.headers["Retry-After"]) >= 1
    assert journal_count(env, "session.login_locked") == 1
    with env.sessions() as s:
        entry = s.scalars(
            select(JournalEntry).where(JournalEntry.action == "session.login_locked")
        ).one()
        assert json.loads(entry.details)["locked"] == "address"


# --- 8. headers, messages, booleans -----------------------------------------------------------


def test_security_headers_on_pages_and_api(env: Env) -> None:
    c = env.client()
    for url in ("/login", "/api/session", "/static/console.js", "/healthz"):
        r = c.get(url)
        csp = r.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
        assert r.headers.get("X-Frame-Options") == "DENY", url
        assert r.headers.get("X-Content-Type-Options") == "nosniff", url
    # No inline handler or script left in the console's templates: the policy would block it.
    templates = Path(store.__file__).parents[1] / "web" / "templates"
    for page in templates.glob("*.html"):
        text = page.read_text()
        assert not re.search(r"\son[a-z]+=", text), page.name
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), page.name


def test_a_missing_source_does_not_show_the_working_folder(tmp_path: Path) -> None:
    from veilleur.sources import VideoSource

    with pytest.raises(Exception) as caught, VideoSource("missing/clip.mp4") as source:
        next(iter(source))
    assert os.getcwd() not in str(caught.value)
    assert "absolute path" in str(caught.value)


def test_dry_run_is_a_real_boolean(env: Env) -> None:
    sid = env.signal()
    with env.sessions() as s:
        row = s.get(SignalRow, sid)
        assert row is not None
        row.created_at = row.created_at - timedelta(days=4000)
        row.occurred_at = row.occurred_at - timedelta(days=4000)
        s.commit()
    admin = env.client("administrator")
    for value in (0, 1, "false", None):
        r = admin.post("/api/retention/purge", json={"dry_run": value})
        assert r.status_code == 422, (value, r.text)
    with env.sessions() as s:
        assert s.get(SignalRow, sid) is not None  # nothing was purged
    assert admin.post("/api/retention/purge", json={"dry_run": True}).status_code == 200


def test_the_openapi_document_describes_every_answer(env: Env) -> None:
    doc = env.client().get("/api/openapi.json").json()
    paths = doc["paths"]
    notice = paths["/api/documents/notice/{authorisation_id}"]["get"]["responses"]
    assert set(notice["200"]["content"]) == {"text/html", "application/pdf"}
    assert set(paths["/api/signals/{signal_id}/clip.mp4"]["get"]["responses"]["200"]["content"]) \
        == {"video/mp4"}  # fmt: skip
    for path, ops in paths.items():
        for method, op in ops.items():
            answers = op["responses"]
            assert "422" in answers, (method, path)
            if (method, path) not in {("get", "/healthz")}:
                assert "401" in answers, (method, path)
            if "{" in path:
                assert "404" in answers, (method, path)
    assert "429" in paths["/api/session"]["post"]["responses"]
    assert "409" in paths["/api/cameras"]["post"]["responses"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
