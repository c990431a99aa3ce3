"""The unblurred view (SPEC S6) on SQLite and PostgreSQL: refused without the privilege (and
nothing journaled as a view); with it, a stated reason, the camera's current frame unblurred,
never cached, each view journaled with camera and reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import PLAZA, Env, make_env
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from veilleur import store
from veilleur.store import auth as store_auth
from veilleur.store.models import JournalEntry

pytest_plugins = ["db_fixtures"]

PASSWORD = "a long enough password"
REASON = "report of a fight near the north stairs"


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


@pytest.fixture
def plaza(env: Env) -> str:
    env.authorise(["plaza"])
    r = env.client("administrator").post(
        "/api/cameras", json={"name": "plaza", "config": PLAZA, "services": ["west"]}
    )
    assert r.status_code == 201, r.text
    env.supervisor.running.add("plaza")
    return "plaza"


def login(env: Env, name: str, role: str = "operator", **fields: Any) -> TestClient:
    with env.sessions() as s:
        store.create_user(s, name, PASSWORD, role, **fields)
    c = TestClient(env.app)
    env.clients.append(c)
    r = c.post("/api/session", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def views(env: Env) -> list[tuple[str, str, dict[str, Any]]]:
    with env.sessions() as s:
        rows = s.scalars(
            select(JournalEntry).where(JournalEntry.action == "media.viewed_unblurred")
        ).all()
        return [(r.actor, r.target, json.loads(r.details)) for r in rows]


def test_without_the_privilege_it_is_refused_and_nothing_is_journaled(env: Env, plaza: str) -> None:
    for c in (env.client("operator"), env.client("administrator"), login(env, "olga")):
        r = c.post(f"/api/cameras/{plaza}/unblurred", json={"reason": REASON})
        assert r.status_code == 403
        assert "privilege" in r.json()["detail"]
    r = env.client("auditor").post(f"/api/cameras/{plaza}/unblurred", json={"reason": REASON})
    assert r.status_code == 403  # by role: an auditor sees no image
    assert views(env) == []
    assert ("unblurred_jpeg", plaza) not in env.supervisor.calls


def test_with_the_privilege_the_view_is_journaled_with_its_reason(env: Env, plaza: str) -> None:
    c = login(env, "olga", service="west", may_view_unblurred=True)
    r = c.post(f"/api/cameras/{plaza}/unblurred", json={"reason": REASON})
    assert r.status_code == 200, r.text
    assert r.content == env.supervisor.unblurred_image != env.supervisor.image
    assert r.headers["content-type"] == "image/jpeg"
    assert "no-store" in r.headers["cache-control"]
    assert views(env) == [("olga", f"camera:{plaza}", {"camera": plaza, "reason": REASON})]
    # The console's form posts the same field.
    r = c.post(f"/api/cameras/{plaza}/unblurred", data={"reason": "second look at the stairs"})
    assert r.status_code == 200
    assert len(views(env)) == 2
    # Nothing unblurred is written anywhere under the data directory.
    blobs = [p.read_bytes() for p in env.data_dir.rglob("*") if p.is_file()]
    assert env.supervisor.unblurred_image not in blobs


def test_a_reason_is_required(env: Env, plaza: str) -> None:
    c = login(env, "olga", service="west", may_view_unblurred=True)
    for body in ({}, {"reason": "too short"}, {"reason": "          x"}, {"why": REASON}):
        r = c.post(f"/api/cameras/{plaza}/unblurred", json=body)
        assert r.status_code == 422, body
        assert "reason" in r.json()["detail"]
    assert views(env) == []


def test_out_of_scope_or_without_a_frame_nothing_is_shown_or_journaled(
    env: Env, plaza: str
) -> None:
    east = login(env, "erin", service="east", may_view_unblurred=True)
    assert east.post(f"/api/cameras/{plaza}/unblurred", json={"reason": REASON}).status_code == 404
    west = login(env, "wendy", service="west", may_view_unblurred=True)
    env.supervisor.running.discard(plaza)
    r = west.post(f"/api/cameras/{plaza}/unblurred", json={"reason": REASON})
    assert r.status_code == 404 and "no current frame" in r.json()["detail"]
    assert views(env) == []


def test_the_privilege_is_withdrawn_at_once(env: Env, plaza: str) -> None:
    c = login(env, "olga", service="west", may_view_unblurred=True)
    admin = env.client("administrator")
    uid = next(u["id"] for u in admin.get("/api/users").json() if u["username"] == "olga")
    assert admin.put(f"/api/users/{uid}", json={"may_view_unblurred": False}).is_success
    assert c.post(f"/api/cameras/{plaza}/unblurred", json={"reason": REASON}).status_code == 403
    assert views(env) == []


def test_the_console_control_is_shown_only_to_privileged_accounts(env: Env, plaza: str) -> None:
    privileged = login(env, "olga", service="west", may_view_unblurred=True)
    assert f'data-unblurred="{plaza}"' in privileged.get("/wall").text
    assert 'id="unblurred-dialog"' in privileged.get("/wall").text
    plain = login(env, "wendy", service="west")
    wall = plain.get("/wall").text
    assert 'data-camera="plaza"' in wall
    assert "data-unblurred" not in wall and "unblurred-dialog" not in wall
    admin = env.client("administrator")
    assert "data-unblurred" not in admin.get(f"/cameras/{plaza}").text
    granted = login(env, "ada", "administrator", may_view_unblurred=True)
    page = granted.get(f"/cameras/{plaza}").text
    assert f'data-unblurred="{plaza}"' in page and 'src="/static/unblurred.js"' in page
    assert granted.get("/static/unblurred.js").status_code == 200
