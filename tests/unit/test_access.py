"""Access (SPEC S9) on SQLite and PostgreSQL: training and habilitation expiry block logins and
end open sessions; accounts' services scope everything camera-specific (404 out of scope);
administrators set services, dates and the unblurred-view privilege, all journaled."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import PLAZA, Env, LiveServer, make_env
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from veilleur import store
from veilleur.store import auth as store_auth
from veilleur.store.models import JournalEntry, utcnow

pytest_plugins = ["db_fixtures"]

PASSWORD = "a long enough password"


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


def today() -> date:
    return utcnow().date()


def account(env: Env, name: str, role: str = "operator", **fields: Any) -> int:
    with env.sessions() as s:
        return store.create_user(s, name, PASSWORD, role, **fields).id


def login(env: Env, name: str) -> TestClient:
    c = TestClient(env.app)
    env.clients.append(c)
    r = c.post("/api/session", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def entries(env: Env, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    with env.sessions() as s:
        rows = s.scalars(select(JournalEntry).where(JournalEntry.action == action))
        return [(r.actor, r.target, json.loads(r.details)) for r in rows.all()]


def add_camera(env: Env, name: str, services: list[str]) -> None:
    env.authorise([name])
    admin = env.client("administrator")
    r = admin.post("/api/cameras", json={"name": name, "config": PLAZA, "services": services})
    assert r.status_code == 201, r.text
    assert r.json()["services"] == sorted(services)
    env.supervisor.running.add(name)


# --- expiry ------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["training", "habilitation"])
def test_an_account_past_its_date_cannot_log_in(env: Env, what: str) -> None:
    yesterday = today() - timedelta(days=1)
    dates: dict[str, Any] = {f"{what}_expires_on": yesterday}
    account(env, "olga", service="east", **dates)
    c = TestClient(env.app)
    env.clients.append(c)
    r = c.post("/api/session", json={"username": "olga", "password": PASSWORD})
    assert r.status_code == 403
    assert f"{what} expired on {yesterday.isoformat()}" in r.json()["detail"]
    assert "administrator must renew" in r.json()["detail"]
    assert "veilleur_session" not in c.cookies
    refused = entries(env, "session.login_refused")
    assert refused == [
        (
            "olga",
            "user:olga",
            {"reason": f"{what} expired", f"{what}_expired_on": yesterday.isoformat()},
        )
    ]
    assert PASSWORD not in json.dumps(refused)
    assert [e for e in entries(env, "session.login") if e[0] == "olga"] == []
    # A wrong password tells nothing about the account's dates.
    r = c.post("/api/session", json={"username": "olga", "password": "not the password"})
    assert r.status_code == 401 and "expired" not in r.text


def test_the_console_login_says_why(env: Env) -> None:
    account(env, "olga", service="east", training_expires_on=date(2020, 3, 1))
    c = TestClient(env.app)
    env.clients.append(c)
    page = c.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post(
        "/login",
        data={"username": "olga", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "Your training expired on 2020-03-01; an administrator must renew it." in r.text
    assert "veilleur_session" not in c.cookies


def test_an_account_valid_until_today_logs_in(env: Env) -> None:
    account(
        env, "olga", service="east", training_expires_on=today(),
        habilitation_expires_on=today() + timedelta(days=300),
    )  # fmt: skip
    assert login(env, "olga").get("/api/session").json()["service"] == "east"
    assert entries(env, "session.login_refused") == []


def test_an_open_session_stops_when_its_date_passes(env: Env) -> None:
    uid = account(env, "olga", service="east")
    olga = login(env, "olga")
    assert olga.get("/api/session").status_code == 200
    admin = env.client("administrator")
    yesterday = (today() - timedelta(days=1)).isoformat()
    r = admin.put(f"/api/users/{uid}", json={"habilitation_expires_on": yesterday})
    assert r.status_code == 200, r.text
    assert r.json()["expired"] == [
        f"your habilitation expired on {yesterday}; an administrator must renew it"
    ]
    assert olga.get("/api/session").status_code == 401
    assert olga.get("/wall", follow_redirects=False).status_code == 303
    # Renewed: the same session works again (it was refused, not closed).
    renewed = (today() + timedelta(days=365)).isoformat()
    assert admin.put(f"/api/users/{uid}", json={"habilitation_expires_on": renewed}).is_success
    assert olga.get("/api/session").status_code == 200


def test_session_user_checks_the_dates(env: Env) -> None:
    account(env, "olga", service="east", training_expires_on=today())
    with env.sessions() as s:
        user = store.get_user_by_name(s, "olga")
        assert user is not None
        token, _ = store.open_session(s, user)
        assert store.session_user(s, token) is not None
        tomorrow = utcnow() + timedelta(days=1)
        assert store.session_user(s, token, now=tomorrow) is None


# --- accounts ----------------------------------------------------------------------------


def test_administrators_set_service_dates_and_privilege(env: Env) -> None:
    admin = env.client("administrator")
    body = {
        "username": "olga", "password": PASSWORD, "role": "operator", "service": "east",
        "training_expires_on": "2031-01-31", "may_view_unblurred": True,
    }  # fmt: skip
    r = admin.post("/api/users", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["service"] == "east" and made["training_expires_on"] == "2031-01-31"
    assert made["habilitation_expires_on"] is None and made["may_view_unblurred"] is True
    assert entries(env, "user.created")[-1] == (
        "administrator", "user:olga",
        {"role": "operator", "service": "east", "training_expires_on": "2031-01-31",
         "may_view_unblurred": True},
    )  # fmt: skip
    r = admin.put(
        f"/api/users/{made['id']}",
        json={"service": "west", "habilitation_expires_on": "2030-06-30",
              "may_view_unblurred": False, "password": "another long password"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["training_expires_on"] == "2031-01-31"  # left out: kept
    assert entries(env, "user.updated") == [
        ("administrator", "user:olga",
         {"service": "west", "habilitation_expires_on": "2030-06-30",
          "may_view_unblurred": False, "password_changed": True, "sessions_closed": True}),
    ]  # fmt: skip
    # Clearing a date with null; nothing journaled when nothing changes.
    r = admin.put(f"/api/users/{made['id']}", json={"training_expires_on": None})
    assert r.json()["training_expires_on"] is None
    admin.put(f"/api/users/{made['id']}", json={"service": "west"})
    assert len(entries(env, "user.updated")) == 2
    everything = json.dumps(entries(env, "user.created") + entries(env, "user.updated"))
    assert PASSWORD not in everything and "another long password" not in everything


def test_operators_and_supervisors_need_a_service(env: Env) -> None:
    admin = env.client("administrator")
    for role in ("operator", "supervisor"):
        body = {"username": f"x{role}", "password": PASSWORD, "role": role}
        r = admin.post("/api/users", json=body)
        assert r.status_code == 422 and "needs a service" in r.json()["detail"]
        r = admin.post("/api/users", json={**body, "service": "  "})
        assert r.status_code == 422
    for role in ("administrator", "auditor"):
        body = {"username": f"x{role}", "password": PASSWORD, "role": role}
        assert admin.post("/api/users", json=body).status_code == 201
    auditor = next(u for u in admin.get("/api/users").json() if u["username"] == "xauditor")
    r = admin.put(f"/api/users/{auditor['id']}", json={"role": "operator"})
    assert r.status_code == 422 and "needs a service" in r.json()["detail"]
    r = admin.put(f"/api/users/{auditor['id']}", json={"role": "operator", "service": "east"})
    assert r.status_code == 200 and r.json()["service"] == "east"
    r = admin.put(f"/api/users/{auditor['id']}", json={"service": None})
    assert r.status_code == 422
    r = admin.post(
        "/api/users", json={"username": "bad", "password": PASSWORD, "role": "operator",
                            "service": "east;drop"},
    )  # fmt: skip
    assert r.status_code == 422 and "service" in r.json()["detail"]


def test_auditors_never_hold_the_unblurred_privilege(env: Env) -> None:
    admin = env.client("administrator")
    body = {"username": "aud", "password": PASSWORD, "role": "auditor", "may_view_unblurred": True}
    r = admin.post("/api/users", json=body)
    assert r.status_code == 422 and "auditor" in r.json()["detail"]
    op = admin.post(
        "/api/users", json={"username": "op", "password": PASSWORD, "role": "operator",
                            "service": "east", "may_view_unblurred": True},
    ).json()  # fmt: skip
    r = admin.put(f"/api/users/{op['id']}", json={"role": "auditor"})
    assert r.status_code == 422


def test_the_users_page_sets_scope_dates_and_privilege(env: Env) -> None:
    admin = env.client("administrator")
    form = {
        "username": "olga", "password": PASSWORD, "role": "operator", "service": "",
        "training_expires_on": "2031-01-31", "habilitation_expires_on": "",
    }  # fmt: skip
    r = admin.post("/users", data=form)
    assert r.status_code == 422 and "needs a service" in r.text
    r = admin.post("/users", data={**form, "service": "east", "may_view_unblurred": "on"})
    assert r.status_code == 200 and "Account &#39;olga&#39; created." in r.text
    with env.sessions() as s:
        user = store.get_user_by_name(s, "olga")
        assert user is not None
        assert (user.service, user.training_expires_on, user.habilitation_expires_on) == (
            "east", date(2031, 1, 31), None,
        )  # fmt: skip
        assert user.may_view_unblurred
        uid = user.id
    r = admin.post(
        f"/users/{uid}",
        data={"role": "operator", "active": "on", "service": "west",
              "training_expires_on": "2020-01-01", "habilitation_expires_on": "",
              "may_view_unblurred": "off"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert "your training expired on 2020-01-01" in r.text  # shown on the page
    with env.sessions() as s:
        user = store.get_user_by_name(s, "olga")
        assert user is not None and user.service == "west" and not user.may_view_unblurred
    r = admin.post(f"/users/{uid}", data={"training_expires_on": "31/01/2031"})
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text


# --- scope -------------------------------------------------------------------------------


def test_camera_services_are_set_by_administrators_and_journaled(env: Env) -> None:
    add_camera(env, "plaza", [])
    admin = env.client("administrator")
    r = admin.put("/api/cameras/plaza/services", json={"services": ["west", " east ", "west"]})
    assert r.status_code == 200 and r.json()["services"] == ["east", "west"]
    assert entries(env, "camera.updated")[-1] == (
        "administrator", "camera:plaza", {"changed": ["services"], "services": ["east", "west"]},
    )  # fmt: skip
    r = admin.post("/cameras/plaza/services", data={"services": "transport"},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert admin.get("/api/cameras/plaza").json()["services"] == ["transport"]
    assert 'value="transport"' in admin.get("/cameras/plaza").text
    assert admin.put("/api/cameras/plaza/services", json={"services": ["a;b"]}).status_code == 422
    assert env.client("operator").put(
        "/api/cameras/plaza/services", json={"services": []}
    ).status_code == 403  # fmt: skip


def _read_stream(http: httpx.Client, env: Env, publish: Any) -> tuple[str, dict[str, Any]]:
    with http.stream("GET", "/api/signals/stream") as stream:

        def later() -> None:
            deadline = time.monotonic() + 5
            while env.bus.subscribers == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            publish()

        threading.Thread(target=later).start()
        kind, data = None, None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and kind is not None and data is not None:
                return kind, data
    raise AssertionError("the stream ended without an event")


def test_an_operator_scoped_to_other_cameras_sees_nothing_of_this_one(env: Env) -> None:
    add_camera(env, "plaza", ["west"])
    add_camera(env, "gate", ["east"])
    plaza_signal = env.signal("plaza")
    account(env, "olga", service="east", may_view_unblurred=True)
    olga = login(env, "olga")
    west = (account(env, "wendy", service="west"), login(env, "wendy"))[1]

    # Lists: only the cameras of her service and their signals.
    assert [c["name"] for c in olga.get("/api/cameras").json()] == ["gate"]
    assert olga.get("/api/signals").json() == []
    assert olga.get("/api/signals", params={"camera": "plaza"}).json() == []
    assert olga.get("/api/stats").json() == []
    assert list(olga.get("/api/processing").json()) == ["gate"]
    # Single resources: 404, the same answer as for something that does not exist.
    gone = olga.get("/api/cameras/nowhere")
    r = olga.get("/api/cameras/plaza")
    assert r.status_code == 404 and r.json() == {"detail": "no camera named 'plaza'"}
    assert gone.json() == {"detail": "no camera named 'nowhere'"}
    assert olga.get("/api/cameras/plaza/live.jpg").status_code == 404
    assert olga.get(f"/api/signals/{plaza_signal}").json() == {
        "detail": f"no signal {plaza_signal}"
    }
    assert olga.get(f"/api/signals/{plaza_signal}/snapshot.jpg").status_code == 404
    assert olga.get(f"/api/signals/{plaza_signal}/clip.mp4").status_code == 404
    r = olga.post(f"/api/signals/{plaza_signal}/qualification", json={"verdict": "confirmed"})
    assert r.status_code == 404
    r = olga.post("/api/cameras/plaza/unblurred", json={"reason": "checking a fight report"})
    assert r.status_code == 404
    assert entries(env, "media.viewed") == [] and entries(env, "media.viewed_unblurred") == []
    # Console pages.
    wall = olga.get("/wall").text
    assert 'data-camera="gate"' in wall and "plaza" not in wall
    assert olga.get("/wall/status/plaza").status_code == 404
    signals = olga.get("/signals").text
    assert "plaza" not in signals
    assert olga.get(f"/signals/{plaza_signal}").status_code == 404
    assert olga.get(f"/signals/{plaza_signal}/card").status_code == 404
    r = olga.post(f"/signals/{plaza_signal}/qualify", data={"verdict": "confirmed"})
    assert r.status_code == 404
    assert "plaza" not in olga.get("/dashboard").text
    # The live stream: plaza's signal never reaches her; gate's does.
    with LiveServer(env.app) as server:
        cookie = olga.cookies.get("veilleur_session")
        with httpx.Client(
            base_url=server.url, cookies={"veilleur_session": cookie}, timeout=10
        ) as http:

            def publish() -> None:
                env.signal("plaza")
                env.signal("gate")

            kind, data = _read_stream(http, env, publish)
        assert kind == "signal" and data["camera"] == "gate"
    # The control: an account of plaza's service sees all of it.
    assert [c["name"] for c in west.get("/api/cameras").json()] == ["plaza"]
    assert west.get(f"/api/signals/{plaza_signal}").status_code == 200
    assert west.get(f"/api/signals/{plaza_signal}/snapshot.jpg").status_code == 200
    assert west.get("/api/cameras/plaza/live.jpg").status_code == 200
    assert {r["camera"] for r in west.get("/api/stats").json()} == {"plaza"}
    assert "plaza" in west.get("/dashboard").text
    # Unscoped accounts (the demo's) see every camera.
    assert len(env.client("operator").get("/api/cameras").json()) == 2
    # Operational metrics name every camera: not for a scoped account.
    assert olga.get("/metrics").status_code == 403
    assert env.client("operator").get("/metrics").status_code == 200


def test_a_scoped_supervisor_stops_only_their_cameras(env: Env) -> None:
    add_camera(env, "plaza", ["west"])
    add_camera(env, "gate", ["east"])
    account(env, "sam", "supervisor", service="east")
    sam = login(env, "sam")
    assert sam.post("/api/processing/stop", json={"camera": "plaza"}).status_code == 404
    r = sam.post("/api/processing/stop", json={})
    assert r.status_code == 200 and r.json()["cameras"] == ["gate"]
    assert ("stop_all",) not in env.supervisor.calls
    with env.sessions() as s:
        assert {c.name: c.processing for c in store.list_cameras(s)} == {
            "gate": False, "plaza": True,
        }  # fmt: skip
    stopped = entries(env, "processing.stopped")
    assert [(a, t) for a, t, _ in stopped] == [("sam", "camera:gate")]
    # The console's processing page lists and acts on the same scope.
    page = sam.get("/processing").text
    assert "gate" in page and "plaza" not in page
    r = sam.post("/processing/stop", data={"camera": "plaza"}, headers={"HX-Request": "1"})
    assert "no camera named" in r.text
    with env.sessions() as s:
        assert store.get_camera(s, "plaza").processing  # type: ignore[union-attr]


def test_a_scoped_administrator_keeps_sight_of_the_cameras_they_add(env: Env) -> None:
    account(env, "ada", "administrator", service="east")
    ada = login(env, "ada")
    r = ada.post("/api/cameras", json={"name": "gate", "config": PLAZA, "services": ["west"]})
    assert r.status_code == 201 and r.json()["services"] == ["east", "west"]
    assert env.client("administrator").post(
        "/api/cameras", json={"name": "plaza", "config": PLAZA, "services": ["west"]}
    ).status_code == 201  # fmt: skip
    assert ada.get("/api/cameras/plaza").status_code == 404
    assert ada.put("/api/cameras/plaza/services", json={"services": []}).status_code == 404
    assert ada.delete("/api/cameras/plaza").status_code == 404
    assert ada.get("/cameras/plaza").status_code == 404
    listing = ada.get("/cameras").text
    assert 'href="/cameras/gate"' in listing and 'href="/cameras/plaza"' not in listing
