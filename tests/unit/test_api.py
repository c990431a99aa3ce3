"""The REST API and the console pages, on SQLite and PostgreSQL: login, sessions, CSRF, each
role's refusals, camera validation, restarts on change, qualification, the live stream."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import PLAZA, ROLES, Env, LiveServer, make_env, password
from argon2 import PasswordHasher
from sqlalchemy import update

from veilleur.store import auth as store_auth
from veilleur.store.models import WebSession, utcnow

pytest_plugins = ["db_fixtures"]


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    # Cheap argon2 parameters: these tests are about the API, not the hash's cost.
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


@pytest.fixture
def plaza(env: Env) -> str:
    env.authorise(["plaza"])  # live processing runs only inside an authorisation (SPEC §4)
    r = env.client("administrator").post("/api/cameras", json={"name": "plaza", "config": PLAZA})
    assert r.status_code == 201, r.text
    return "plaza"


# --- login and sessions -----------------------------------------------------------------


def test_everything_needs_a_login(env: Env) -> None:
    c = env.client()
    assert c.get("/api/cameras").status_code == 401
    assert c.get("/api/signals").status_code == 401
    assert c.get("/metrics").status_code == 401
    r = c.get("/wall", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/wall"
    assert c.get("/healthz").json() == {"status": "ok"}  # says nothing but "alive"


def test_api_login_sets_a_strict_httponly_cookie(env: Env) -> None:
    c = env.client()
    assert (
        c.post("/api/session", json={"username": "operator", "password": "nope-nope"}).status_code
        == 401
    )
    r = c.post("/api/session", json={"username": "operator", "password": password("operator")})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "veilleur_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "max-age=28800" in cookie
    me = c.get("/api/session").json()
    assert me["username"] == "operator"
    assert me["role"] == "operator"
    assert me["csrf_token"] == r.json()["csrf_token"]
    # Logging out forgets the session on the server, not only in the browser.
    token = c.cookies.get("veilleur_session")
    assert c.delete("/api/session", headers={"X-CSRF-Token": me["csrf_token"]}).status_code == 204
    c.cookies.set("veilleur_session", token)
    assert c.get("/api/session").status_code == 401


def test_expired_session_is_refused(env: Env) -> None:
    c = env.client("operator")
    assert c.get("/api/signals").status_code == 200
    with env.sessions() as s:
        s.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert c.get("/api/signals").status_code == 401


def test_console_login_form(env: Env) -> None:
    c = env.client()
    page = c.get("/login?next=/signals")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"username": "operator", "password": password("operator"), "next": "/signals"}
    # Without the login form's own CSRF token the login is refused.
    assert c.post("/login", data={**form, "csrf_token": "forged"}).status_code == 403
    page = c.get("/login?next=/signals")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    wrong = c.post("/login", data={**form, "password": "wrong-one!", "csrf_token": token[1]})
    assert wrong.status_code == 401
    assert "wrong password" in wrong.text
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = c.post("/login", data={**form, "csrf_token": token[1]}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signals"
    assert c.get("/signals").status_code == 200
    # An absolute "next" is never followed (no open redirect).
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = c.post(
        "/login",
        data={**form, "next": "//evil.example/x", "csrf_token": token[1]},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/wall"


# --- CSRF --------------------------------------------------------------------------------


def test_state_changes_need_the_session_csrf_token(env: Env) -> None:
    c = env.client("administrator")
    token = c.headers.pop("X-CSRF-Token")
    body = {"name": "gate", "config": {"source": "rtsp://cam/1"}}
    r = c.post("/api/cameras", json=body)
    assert r.status_code == 403
    assert "CSRF" in r.json()["detail"]
    r = c.post("/api/cameras", json=body, headers={"X-CSRF-Token": token + "x"})
    assert r.status_code == 403
    # Another user's token is not this session's token.
    other = env.client("supervisor").headers["X-CSRF-Token"]
    assert c.post("/api/cameras", json=body, headers={"X-CSRF-Token": other}).status_code == 403
    assert c.get("/api/cameras").json() == []
    assert c.post("/api/cameras", json=body, headers={"X-CSRF-Token": token}).status_code == 201


def test_console_forms_carry_the_token_as_a_field(env: Env, plaza: str) -> None:
    sid = env.signal()
    c = env.client("operator")
    token = c.headers.pop("X-CSRF-Token")
    form = {"verdict": "confirmed", "comment": "seen"}
    assert c.post(f"/signals/{sid}/qualify", data=form).status_code == 403
    r = c.post(f"/signals/{sid}/qualify", data={**form, "csrf_token": token})
    assert r.status_code == 200  # redirected to the signal's page
    assert "Confirmed" in r.text


# --- roles -------------------------------------------------------------------------------

WATCH = {"operator", "supervisor", "administrator"}
CONTROL = {"supervisor", "administrator"}
ADMIN = {"administrator"}
EVERYONE = set(ROLES)

ROUTES: list[tuple[str, str, Any, set[str]]] = [
    ("GET", "/api/signals", None, EVERYONE),
    ("GET", "/api/stats", None, EVERYONE),
    ("GET", "/api/cameras", None, EVERYONE),
    ("GET", "/api/cameras/plaza/live.jpg", None, WATCH),
    ("GET", "/api/signals/{sid}/snapshot.jpg", None, WATCH),
    ("POST", "/api/signals/{sid}/qualification", {"verdict": "confirmed"}, WATCH),
    ("POST", "/api/processing/stop", {"camera": "plaza", "situation": "zone_intrusion"}, CONTROL),
    ("POST", "/api/processing/start", {"camera": "plaza", "situation": "zone_intrusion"}, CONTROL),
    ("PUT", "/api/cameras/plaza/zones", PLAZA["zones"], ADMIN),
    ("PUT", "/api/cameras/plaza/situations/zone_intrusion", PLAZA["situations"]["zone_intrusion"],
     ADMIN),
    ("POST", "/api/cameras", {"name": "x", "config": {"source": "a.mp4"}}, ADMIN),
    ("GET", "/api/users", None, ADMIN),
    ("POST", "/api/users", {"username": "u1", "password": "long-enough", "role": "operator",
                            "service": "night"},
     ADMIN),
    ("GET", "/wall", None, WATCH),
    ("GET", "/signals", None, EVERYONE),
    ("GET", "/dashboard", None, EVERYONE),
    ("GET", "/processing", None, CONTROL),
    ("GET", "/cameras", None, ADMIN),
    ("GET", "/cameras/plaza", None, ADMIN),
    ("GET", "/users", None, ADMIN),
]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_refused_what_it_may_not_do(env: Env, plaza: str, role: str) -> None:
    sid = env.signal()
    env.supervisor.running.add("plaza")
    c = env.client(role)
    for method, path, body, allowed in ROUTES:
        url = path.format(sid=sid)
        r = c.request(method, url, json=body)
        if role in allowed:
            assert r.status_code < 400, (role, method, url, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, method, url, r.status_code)
            if url.startswith("/api/"):
                assert role in r.json()["detail"]
            else:
                assert "Not allowed" in r.text


def test_auditor_sees_signals_but_no_image(env: Env, plaza: str) -> None:
    env.signal()
    c = env.client("auditor")
    page = c.get("/signals")
    assert page.status_code == 200
    assert "Zone intrusion" in page.text
    assert "snapshot.jpg" not in page.text
    assert "images are not shown to auditors" in page.text
    op = env.client("operator").get("/signals")
    assert "snapshot.jpg" in op.text


# --- cameras -----------------------------------------------------------------------------


def test_camera_configuration_errors_name_the_key(env: Env) -> None:
    c = env.client("administrator")

    def problems(config: dict[str, Any]) -> list[dict[str, str]]:
        r = c.post("/api/cameras", json={"name": "gate", "config": config})
        assert r.status_code == 422, r.text
        detail: list[dict[str, str]] = r.json()["detail"]
        return detail

    crossed = {"polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}
    p = problems({"source": "a.mp4", "zones": {"lawn": crossed}})
    assert p[0]["key"] == "zones.lawn.polygon"
    assert "not a simple shape" in p[0]["message"]
    p = problems({"source": "a.mp4", "analysis_fpz": 5})
    assert p[0]["key"] == "analysis_fpz"
    assert "unknown key" in p[0]["message"]
    watch_nowhere = {"zone_intrusion": {"enabled": True, "zones": ["nowhere"]}}
    p = problems({"source": "a.mp4", "situations": watch_nowhere})
    assert "'nowhere'" in p[0]["message"]
    p = problems({"analysis_fps": 5})
    assert p[0] == {"key": "source", "message": "this key is required"}
    r = c.post("/api/cameras", json={"name": "bad name!", "config": {"source": "a.mp4"}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["key"] == "name"
    assert c.get("/api/cameras").json() == []
    assert env.supervisor.calls == []


def test_camera_changes_restart_its_pipeline_with_the_new_config(env: Env, plaza: str) -> None:
    c = env.client("administrator")
    assert env.supervisor.calls[-1][:2] == ("start_camera", "plaza")
    geometry = {
        "zones": {
            **PLAZA["zones"],
            "path": {
                "polygon": [[0, 0.3], [1, 0.45], [1, 0.8], [0, 0.47]],
                "direction": [-1, -0.3],
            },
        },
        "lines": {"post": {"points": [[0.5, 0.5], [0.5, 0.7]], "forbidden_side": "left"}},
    }  # fmt: skip
    r = c.put("/api/cameras/plaza/geometry", json=geometry)
    assert r.status_code == 200, r.text
    call = env.supervisor.calls[-1]
    assert call[:2] == ("start_camera", "plaza")
    assert set(call[2].zones) == {"lawn", "path"}
    assert call[2].zones["path"].direction == (-1, -0.3)
    assert call[2].lines["post"].forbidden_side == "left"
    stored = c.get("/api/cameras/plaza").json()["config"]
    assert stored["zones"]["path"]["polygon"][1] == [1, 0.45]
    # Removing a zone a situation watches is refused, naming it; nothing restarts.
    n = len(env.supervisor.calls)
    r = c.put("/api/cameras/plaza/zones", json={"path": geometry["zones"]["path"]})
    assert r.status_code == 422
    assert "'lawn'" in r.json()["detail"][0]["message"]
    assert len(env.supervisor.calls) == n
    # Enabling wrong_way on the zone with a direction restarts the camera with it.
    r = c.put(
        "/api/cameras/plaza/situations/wrong_way",
        json={"enabled": True, "zones": ["path"], "min_distance": 0.2},
    )
    assert r.status_code == 200, r.text
    assert env.supervisor.calls[-1][2].situations.wrong_way.min_distance == 0.2
    r = c.put("/api/cameras/plaza/situations/wrong_way", json={"enabled": True, "zones": ["lawn"]})
    assert r.status_code == 422
    assert "no allowed direction" in r.json()["detail"][0]["message"]
    assert c.put("/api/cameras/plaza/situations/teleport", json={}).status_code == 404


def test_situation_form_of_the_console(env: Env, plaza: str) -> None:
    c = env.client("administrator")
    page = c.get("/cameras/plaza")
    assert 'action="/cameras/plaza/situations/zone_intrusion"' in page.text
    assert "Known limits" in page.text
    form = {"enabled": "on", "zones": "lawn", "classes": "person", "min_duration_s": "2.5"}
    r = c.post("/cameras/plaza/situations/zone_intrusion", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    cfg = env.supervisor.calls[-1][2].situations.zone_intrusion
    assert cfg.enabled and cfg.zones == ["lawn"] and cfg.classes == ["person"]
    assert cfg.min_duration_s == 2.5
    r = c.post("/cameras/plaza/situations/zone_intrusion", data={**form, "min_duration_s": "-1"})
    assert r.status_code == 422
    assert "situations.zone_intrusion.min_duration_s" in r.text


def test_camera_add_and_delete_from_the_console(env: Env) -> None:
    c = env.client("administrator")
    r = c.post("/cameras", data={"name": "gate", "source": "", "analysis_fps": "5"})
    assert r.status_code == 422
    r = c.post("/cameras", data={"name": "gate", "source": "rtsp://cam/1", "analysis_fps": "99"})
    assert r.status_code == 422
    assert "analysis_fps" in r.text
    r = c.post("/cameras", data={"name": "gate", "source": "rtsp://cam/1"}, follow_redirects=False)
    assert r.headers["location"] == "/cameras/gate"
    # Live processing needs an enabled and authorised situation (SPEC §4): the new camera waits.
    assert env.supervisor.calls == []
    assert env.client("administrator").get("/api/cameras").json()[0]["status"]["state"] == "waiting"
    env.authorise(["gate"])
    assert "gate" not in env.supervisor.running
    r = c.post("/cameras/gate/source", data={"source": "rtsp://cam/2", "analysis_fps": "5"})
    assert r.status_code < 400 and env.supervisor.calls == []
    assert c.post("/cameras/gate/delete", follow_redirects=False).status_code == 303
    assert c.get("/api/cameras").json() == []


def test_live_image_is_the_supervisors_blurred_frame(env: Env, plaza: str) -> None:
    c = env.client("operator")
    env.supervisor.running.discard("plaza")
    assert c.get("/api/cameras/plaza/live.jpg").status_code == 404
    env.supervisor.running.add("plaza")
    r = c.get("/api/cameras/plaza/live.jpg")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    assert r.content == env.supervisor.image
    # The last frame is kept so the camera page can still show it once processing stops.
    env.supervisor.running.discard("plaza")
    assert c.get("/api/cameras/plaza/live.jpg").content == env.supervisor.image


# --- processing --------------------------------------------------------------------------


def test_supervisor_stops_and_starts_processing(env: Env, plaza: str) -> None:
    c = env.client("supervisor")
    r = c.post("/api/processing/stop", json={})
    assert r.status_code == 200
    assert ("stop_all",) in env.supervisor.calls
    assert c.get("/api/processing").json()["plaza"]["processing"] is False
    c.post("/api/processing/start", json={"camera": "plaza"})
    assert env.supervisor.calls[-1][:2] == ("start_camera", "plaza")
    assert c.get("/api/processing").json()["plaza"]["processing"] is True
    r = c.post("/api/processing/stop", json={"camera": "plaza", "situation": "zone_intrusion"})
    assert r.status_code == 200
    assert env.supervisor.calls[-1] == ("set_situation", "plaza", "zone_intrusion", False)
    status = c.get("/api/processing").json()["plaza"]["status"]
    assert status["active_situations"] == []
    r = c.post("/api/processing/stop", json={"camera": "plaza", "situation": "fire_start"})
    assert r.status_code == 422
    assert "not enabled" in r.json()["detail"]
    assert c.post("/api/processing/stop", json={"camera": "nope"}).status_code == 404
    # The console's processing page does the same through htmx.
    page = c.post("/processing/stop", data={"camera": "plaza"}, headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "Start camera" in page.text
    assert env.supervisor.calls[-1] == ("stop_camera", "plaza")


# --- signals -----------------------------------------------------------------------------


def test_a_signal_is_qualified_once(env: Env, plaza: str) -> None:
    sid = env.signal()
    c = env.client("operator")
    s = c.get(f"/api/signals/{sid}").json()
    assert s["state"] == "new"
    assert s["review"] is None
    assert s["known_limits"].startswith("People on the lawn")
    assert "track" not in json.dumps(s)
    assert c.post(f"/api/signals/{sid}/qualification", json={"verdict": "maybe"}).status_code == 422
    r = c.post(
        f"/api/signals/{sid}/qualification", json={"verdict": "false_alarm", "comment": " shadow "}
    )
    assert r.status_code == 201, r.text
    assert r.json()["review"]["verdict"] == "false_alarm"
    assert r.json()["review"]["comment"] == "shadow"
    assert r.json()["review"]["by"] == "operator"
    again = env.client("supervisor").post(
        f"/api/signals/{sid}/qualification", json={"verdict": "confirmed"}
    )
    assert again.status_code == 409
    assert c.get(f"/api/signals/{sid}").json()["review"]["verdict"] == "false_alarm"
    assert c.get("/api/signals?state=new").json() == []
    stats = c.get("/api/stats").json()
    assert stats[0]["false_alarm"] == 1
    assert (
        c.post("/api/signals/99999/qualification", json={"verdict": "confirmed"}).status_code == 404
    )


def test_snapshot_download_and_signal_pages(env: Env, plaza: str) -> None:
    sid = env.signal()
    c = env.client("operator")
    r = c.get(f"/api/signals/{sid}/snapshot.jpg")
    assert r.status_code == 200
    assert r.content.startswith(b"\xff\xd8\xff")
    assert c.get(f"/api/signals/{sid}/clip.mp4").status_code == 404  # none was made
    for path in (f"/signals/{sid}", "/signals", f"/signals/{sid}/card", "/dashboard"):
        page = c.get(path)
        assert page.status_code == 200
        assert "threat" not in page.text.lower()
    card = c.get(f"/signals/{sid}/card").text
    for text in ("Zone intrusion", "plaza", "lawn", "82 %", "People on the lawn edge"):
        assert text in card
    dash = c.get("/dashboard").text
    assert "<svg" in dash and "Signals per situation" in dash


def test_signal_list_filters_and_pages(env: Env, plaza: str) -> None:
    ids = [env.signal(situation=s) for s in ("zone_intrusion", "wrong_way", "zone_intrusion")]
    c = env.client("auditor")
    assert [s["id"] for s in c.get("/api/signals").json()] == ids[::-1]
    assert [s["id"] for s in c.get("/api/signals?situation=wrong_way").json()] == [ids[1]]
    assert [s["id"] for s in c.get(f"/api/signals?before_id={ids[2]}&limit=1").json()] == [ids[1]]
    assert c.get("/api/signals?limit=0").status_code == 422


def test_live_stream_delivers_committed_signals(env: Env, plaza: str) -> None:
    login = env.client("operator")
    cookie = login.cookies.get("veilleur_session")
    with (
        LiveServer(env.app) as server,
        httpx.Client(base_url=server.url, cookies={"veilleur_session": cookie}, timeout=10) as http,
    ):
        assert httpx.get(server.url + "/api/signals/stream", timeout=5).status_code == 401
        first = env.signal()
        got: list[tuple[str, dict[str, Any], str | None]] = []
        with http.stream("GET", "/api/signals/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")

            def publish_later() -> None:
                deadline = time.monotonic() + 5
                while env.bus.subscribers == 0 and time.monotonic() < deadline:
                    time.sleep(0.01)
                env.signal()  # from another thread, as the supervisor does

            threading.Thread(target=publish_later).start()
            kind, data, event_id = None, None, None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line == "" and kind is not None and data is not None:
                    got.append((kind, data, event_id))
                    break
        kind, data, event_id = got[0]
        assert kind == "signal"
        assert data["id"] > first
        assert event_id == str(data["id"])
        assert data["situation"] == "zone_intrusion"
        # Published only once committed: anyone told can read it back at once.
        assert http.get(f"/api/signals/{data['id']}").status_code == 200
        # A reconnecting browser gets what it missed since its Last-Event-ID.
        with http.stream(
            "GET", "/api/signals/stream", headers={"Last-Event-ID": str(first - 1)}
        ) as stream:
            ids = []
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    ids.append(int(line[4:]))
                if len(ids) == 2:
                    break
        assert ids == [first, data["id"]]
        # So does a console that opens a new stream after its browser gave one up.
        with http.stream("GET", f"/api/signals/stream?after={first - 1}") as stream:
            ids = []
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    ids.append(int(line[4:]))
                if len(ids) == 2:
                    break
        assert ids == [first, data["id"]]


# --- users -------------------------------------------------------------------------------


def test_administrator_manages_accounts(env: Env) -> None:
    c = env.client("administrator")
    r = c.post("/api/users", json={"username": "night", "password": "short", "role": "operator"})
    assert r.status_code == 422
    r = c.post("/api/users", json={"username": "night", "password": "long-enough", "role": "boss"})
    assert r.status_code == 422
    night_op = {
        "username": "night",
        "password": "long-enough",
        "role": "operator",
        "service": "night_shift",
    }
    r = c.post("/api/users", json=night_op)
    assert r.status_code == 201
    uid = r.json()["id"]
    night = env.client()
    login = {"username": "night", "password": "long-enough"}
    assert night.post("/api/session", json=login).status_code == 200
    assert c.put(f"/api/users/{uid}", json={"role": "supervisor"}).json()["role"] == "supervisor"
    assert c.delete(f"/api/users/{uid}").status_code == 204
    assert night.get("/api/session").status_code == 401  # its sessions closed
    me = next(u for u in c.get("/api/users").json() if u["username"] == "administrator")
    assert c.delete(f"/api/users/{me['id']}").status_code == 422
    assert c.put(f"/api/users/{me['id']}", json={"role": "operator"}).status_code == 422


def test_metrics_need_a_session_or_the_scrape_token(env: Env, plaza: str) -> None:
    anonymous = env.client()
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = anonymous.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert env.client("auditor").get("/metrics").status_code == 200


def test_openapi_document_lists_the_routes(env: Env) -> None:
    doc = env.client().get("/api/openapi.json").json()
    for path in (
        "/api/cameras", "/api/cameras/{name}/zones", "/api/signals/stream",
        "/api/signals/{signal_id}/qualification", "/api/users", "/api/processing/stop",
    ):  # fmt: skip
        assert path in doc["paths"]
    assert "threat" not in json.dumps(doc).lower()
    assert all(not p.startswith("/wall") for p in doc["paths"])  # console pages are not API
