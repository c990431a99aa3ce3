"""What the platform journals (SPEC S7), through the API and console on SQLite and PostgreSQL:
logins, signals, qualifications, image views, camera/zone/situation changes, processing, users;
and the auditor's journal page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import PLAZA, Env, make_env
from argon2 import PasswordHasher
from sqlalchemy import Engine

from veilleur.compliance import journal
from veilleur.store import auth as store_auth

pytest_plugins = ["db_fixtures"]


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


def _entries(env: Env, action: str | None = None) -> list[tuple[str, str, str, dict[str, object]]]:
    """(actor, action, target, details) oldest first."""
    with env.sessions() as s:
        rows = journal.query(s, action=action, limit=500)
        return [(r.actor, r.action, r.target, json.loads(r.details)) for r in reversed(rows)]


def _verified(env: Env) -> journal.VerifyResult:
    with env.sessions() as s:
        return journal.verify(s)


def test_logins_and_logouts_are_journaled(env: Env) -> None:
    c = env.client()
    assert c.post("/api/session", json={"username": "nobody", "password": "x" * 9}).status_code
    assert c.post("/api/session", json={"username": "operator", "password": "wrong-pass"})
    c = env.client("operator")
    assert c.delete("/api/session").status_code == 204
    failed = _entries(env, "session.login_failed")
    # An unknown name typed is not kept (it may be a password typed in the wrong field).
    assert failed == [
        ("anonymous", "session.login_failed", "session", {"reason": "unknown account"}),
        ("anonymous", "session.login_failed", "user:operator", {"reason": "wrong password"}),
    ]
    assert "nobody" not in json.dumps(_entries(env))
    assert [e[:3] for e in _entries(env, "session.login")][-1] == (
        "operator", "session.login", "user:operator",
    )  # fmt: skip
    assert _entries(env, "session.logout") == [("operator", "session.logout", "user:operator", {})]
    assert _verified(env).ok


def test_signal_qualification_and_image_views_are_journaled(env: Env) -> None:
    signal_id = env.signal()
    recorded = _entries(env, "signal.recorded")
    assert len(recorded) == 1
    actor, _, target, details = recorded[0]
    assert (actor, target) == ("system", f"signal:{signal_id}")
    assert details["situation"] == "zone_intrusion"
    assert details["camera"] == "plaza"
    assert not any("track" in key for key in details)
    op = env.client("operator")
    assert op.get(f"/api/signals/{signal_id}/snapshot.jpg").status_code == 200
    r = op.post(
        f"/api/signals/{signal_id}/qualification",
        json={"verdict": "false_alarm", "comment": "a shadow on the lawn"},
    )
    assert r.status_code == 201, r.text
    assert _entries(env, "media.viewed") == [
        ("operator", "media.viewed", f"signal:{signal_id}", {"kind": "snapshot"})
    ]
    # The comment's text stays in the review; the journal says only that there was one.
    assert _entries(env, "signal.qualified") == [
        ("operator", "signal.qualified", f"signal:{signal_id}",
         {"comment": True, "verdict": "false_alarm"}),
    ]  # fmt: skip
    # A refused second qualification leaves no entry.
    again = op.post(f"/api/signals/{signal_id}/qualification", json={"verdict": "confirmed"})
    assert again.status_code == 409
    assert len(_entries(env, "signal.qualified")) == 1
    assert _verified(env).ok


def test_camera_zone_and_situation_changes_are_journaled(env: Env) -> None:
    admin = env.client("administrator")
    assert admin.post("/api/cameras", json={"name": "plaza", "config": PLAZA}).status_code == 201
    zones = {**PLAZA["zones"], "gate": {"polygon": [[0, 0], [0.5, 0], [0.5, 0.5]]}}
    situation = {"enabled": True, "zones": ["lawn"], "min_duration_s": 3.0}
    assert admin.put("/api/cameras/plaza/situations/zone_intrusion", json=situation).is_success
    assert admin.put("/api/cameras/plaza/zones", json=zones).status_code == 200
    config = {**PLAZA, "source": "rtsp://user:secret@cam/1", "zones": zones,
              "situations": {"zone_intrusion": situation}}  # fmt: skip
    assert admin.put("/api/cameras/plaza", json={"config": config}).status_code == 200
    assert admin.delete("/api/cameras/plaza").status_code == 204
    entries = [e for e in _entries(env) if e[2] == "camera:plaza"]
    assert [(e[0], e[1]) for e in entries] == [
        ("administrator", "camera.created"),
        ("administrator", "situation.changed"),
        ("administrator", "zones.changed"),
        ("administrator", "camera.updated"),
        ("administrator", "camera.deleted"),
    ]
    assert entries[1][3]["situations"] == ["zone_intrusion"]
    assert entries[2][3]["zones"] == ["gate", "lawn"]
    assert entries[3][3]["changed"] == ["source"]
    # A source URL may hold a password: the journal keeps a digest of the configuration.
    assert "secret" not in json.dumps(_entries(env))


def test_processing_stops_and_starts_are_journaled(env: Env) -> None:
    admin = env.client("administrator")
    assert admin.post("/api/cameras", json={"name": "plaza", "config": PLAZA}).status_code == 201
    sup = env.client("supervisor")
    assert sup.post("/api/processing/stop", json={"camera": "plaza"}).status_code == 200
    body = {"situation": "zone_intrusion"}
    assert sup.post("/api/processing/stop", json=body).status_code == 200
    assert sup.post("/api/processing/stop", json={}).status_code == 200
    assert sup.post("/api/processing/start", json={}).status_code == 200
    assert [e for e in _entries(env) if e[1].startswith("processing.")] == [
        ("supervisor", "processing.stopped", "camera:plaza",
         {"scope": "camera", "cameras": ["plaza"]}),
        ("supervisor", "processing.stopped", "all",
         {"scope": "situation", "cameras": ["plaza"], "situation": "zone_intrusion"}),
        ("supervisor", "processing.stopped", "all", {"scope": "all", "cameras": ["plaza"]}),
        ("supervisor", "processing.started", "all", {"scope": "all", "cameras": ["plaza"]}),
    ]  # fmt: skip
    assert _verified(env).ok


def test_user_changes_are_journaled(env: Env) -> None:
    admin = env.client("administrator")
    r = admin.post(
        "/api/users",
        json={"username": "olga", "password": "olga-pass-1", "role": "operator", "service": "east"},
    )
    assert r.status_code == 201
    assert admin.put(f"/api/users/{r.json()['id']}", json={"role": "supervisor"}).is_success
    assert _entries(env, "user.created")[-1] == (
        "administrator", "user.created", "user:olga", {"role": "operator", "service": "east"},
    )  # fmt: skip
    assert _entries(env, "user.updated") == [
        ("administrator", "user.updated", "user:olga", {"role": "supervisor"})
    ]
    assert "olga-pass-1" not in json.dumps(_entries(env))


def test_journal_page_is_for_auditors_and_administrators(env: Env) -> None:
    env.signal()
    for role in ("operator", "supervisor"):
        c = env.client(role)
        assert c.get("/journal").status_code == 403
        assert 'href="/journal"' not in c.get("/signals").text
    auditor = env.client("auditor")
    page = auditor.get("/journal")
    assert page.status_code == 200
    assert "Chain intact" in page.text
    assert "signal.recorded" in page.text
    assert 'href="/journal"' in page.text
    filtered = auditor.get("/journal", params={"action": "session.login", "actor": "auditor"})
    assert "user:auditor" in filtered.text
    assert "signal.recorded" not in filtered.text.split('id="journal-entries"')[1]
    assert env.client("administrator").get("/journal").status_code == 200
    assert auditor.get("/journal", params={"since": "yesterday"}).status_code == 422


def test_journal_page_shows_a_broken_chain(env: Env, db_engine: Engine) -> None:
    from test_journal import tamper

    env.signal()
    tamper(db_engine, "UPDATE journal SET actor = 'mallory' WHERE id = 2")
    page = env.client("auditor").get("/journal")
    assert "Chain broken" in page.text
    assert "entry 2: altered" in page.text
