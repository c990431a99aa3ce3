"""Authorisations through the API and the console, and the gating of live processing (SPEC §4),
on SQLite and PostgreSQL with the recording supervisor: processing outside an authorisation
(wrong camera, situation, time, or after revocation) does not run; it starts and stops by itself
at the bounds; each role is allowed or refused; errors name the field."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_helpers import PLAZA, Env, make_env, signal_event
from argon2 import PasswordHasher

from veilleur import store
from veilleur.compliance import journal
from veilleur.store import auth as store_auth

pytest_plugins = ["db_fixtures"]

TWO_SITUATIONS: dict[str, Any] = {
    **PLAZA,
    "zones": {
        **PLAZA["zones"],
        "path": {"polygon": [[0, 0.3], [1, 0.45], [1, 0.8], [0, 0.47]], "direction": [-1, -0.3]},
    },
    "situations": {
        "zone_intrusion": {"enabled": True, "zones": ["lawn"]},
        "wrong_way": {"enabled": True, "zones": ["path"]},
    },
}


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    made = make_env(db_url, data_dir)
    e = next(made)
    yield e
    e.platform.close()
    next(made, None)


@pytest.fixture
def cameras(env: Env) -> Env:
    admin = env.client("administrator")
    for name in ("plaza", "gate"):
        r = admin.post("/api/cameras", json={"name": name, "config": TWO_SITUATIONS})
        assert r.status_code == 201, r.text
    return env


def now() -> datetime:
    return datetime.now(UTC)


def body(**changes: Any) -> dict[str, Any]:
    start = now() - timedelta(minutes=5)
    data: dict[str, Any] = {
        "reference": "PP-2025-0042",
        "issuer": "Préfet de police",
        "controller": "Direction de l'ordre public",
        "rights_contact": "dpo@interieur.example",
        "served_kind": "sporting_event",
        "served_name": "Final of the cup",
        "perimeter": "The stadium's forecourt",
        "cameras": ["plaza"],
        "situations": ["zone_intrusion"],
        "recipient_services": ["control room"],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=7)).isoformat(),
    }
    data.update(changes)
    return data


def started(env: Env) -> dict[str, Any]:
    """The configuration each running camera was last started with."""
    return {n: env.supervisor.configs[n] for n in env.supervisor.running}


def enabled(config: Any) -> set[str]:
    return {sid for sid, sit in config.situations.items() if sit.enabled}


def bound_entries(env: Env) -> list[tuple[str, str, dict[str, Any]]]:
    with env.sessions() as s:
        rows = reversed(journal.query(s, limit=500))
        return [
            (r.actor, r.action, json.loads(r.details))
            for r in rows
            if r.action.startswith("processing.") and r.actor == "system"
        ]


# --- gating -------------------------------------------------------------------------------------


def test_without_an_authorisation_a_live_camera_is_not_started(cameras: Env) -> None:
    env = cameras
    assert env.supervisor.running == set()
    assert not any(c[0] == "start_camera" for c in env.supervisor.calls)
    listed = env.client("supervisor").get("/api/cameras").json()
    assert {c["name"]: c["status"]["waiting_for"] for c in listed} == {
        "plaza": "no active authorisation",
        "gate": "no active authorisation",
    }
    page = env.client("supervisor").get("/wall")
    assert "no active authorisation" in page.text
    # Starting it by hand does not get round the gate.
    sup = env.client("supervisor")
    assert sup.post("/api/processing/start", json={"camera": "plaza"}).status_code == 200
    assert env.supervisor.running == set()
    r = sup.post("/api/processing/start", json={"camera": "plaza", "situation": "wrong_way"})
    assert r.status_code == 422 and "no active authorisation" in r.json()["detail"]


def test_only_the_authorised_camera_and_situations_run(cameras: Env) -> None:
    env = cameras
    admin = env.client("administrator")
    r = admin.post("/api/authorisations", json=body())
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active"
    running = started(env)
    assert set(running) == {"plaza"}  # wrong camera: gate does not run
    assert enabled(running["plaza"]) == {"zone_intrusion"}  # wrong situation: wrong_way is off
    assert env.platform.is_authorised("plaza", "zone_intrusion")
    assert not env.platform.is_authorised("plaza", "wrong_way")
    assert not env.platform.is_authorised("gate", "zone_intrusion")
    assert not env.platform.is_authorised("plaza", "zone_intrusion", now() - timedelta(hours=1))
    # The supervisor cannot switch on a situation the authorisation leaves out.
    sup = env.client("supervisor")
    r = sup.post("/api/processing/start", json={"camera": "plaza", "situation": "wrong_way"})
    assert r.status_code == 422 and "no active authorisation" in r.json()["detail"]
    # A situation of the authorisation that the camera does not watch starts nothing either.
    r = admin.post("/api/authorisations", json=body(cameras=["gate"], situations=["fire_start"]))
    assert r.status_code == 201
    assert set(started(env)) == {"plaza"}
    # Calibration and statistics modes are not gated: they send no signal to operators.
    r = admin.put("/api/cameras/gate", json={"config": {**TWO_SITUATIONS, "mode": "calibration"}})
    assert r.status_code == 200, r.text
    assert enabled(started(env)["gate"]) == {"zone_intrusion", "wrong_way"}


def test_outside_its_period_nothing_runs(cameras: Env) -> None:
    env = cameras
    admin = env.client("administrator")
    future = now() + timedelta(days=2)
    r = admin.post(
        "/api/authorisations",
        json=body(starts_at=future.isoformat(), ends_at=(future + timedelta(days=1)).isoformat()),
    )
    assert r.status_code == 201 and r.json()["status"] == "upcoming"
    past = now() - timedelta(days=3)
    r = admin.post(
        "/api/authorisations",
        json=body(starts_at=past.isoformat(), ends_at=(past + timedelta(days=1)).isoformat()),
    )
    assert r.status_code == 201 and r.json()["status"] == "ended"
    assert env.supervisor.running == set()
    assert bound_entries(env) == []
    listed = admin.get("/api/authorisations").json()
    assert [a["status"] for a in listed] == ["upcoming", "ended"]
    assert admin.get("/api/authorisations?active=true").json() == []


def test_revocation_switches_the_situations_off_first_then_stops(cameras: Env) -> None:
    env = cameras
    admin = env.client("administrator")
    both = admin.post(
        "/api/authorisations", json=body(situations=["zone_intrusion", "wrong_way"])
    ).json()
    one = admin.post("/api/authorisations", json=body(situations=["zone_intrusion"])).json()
    assert enabled(started(env)["plaza"]) == {"zone_intrusion", "wrong_way"}
    n = len(env.supervisor.calls)
    r = admin.post(f"/api/authorisations/{both['id']}/revoke", json={"reason": "Match cancelled"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked" and r.json()["revocation_reason"] == "Match cancelled"
    # wrong_way is withdrawn at once, then the camera restarts without it.
    assert env.supervisor.calls[n:n + 2] == [
        ("set_situation", "plaza", "wrong_way", False),
        ("start_camera", "plaza", env.supervisor.configs["plaza"]),
    ]  # fmt: skip
    assert enabled(started(env)["plaza"]) == {"zone_intrusion"}
    n = len(env.supervisor.calls)
    r = admin.post(f"/api/authorisations/{one['id']}/revoke", json={"reason": "Match cancelled"})
    assert r.status_code == 200
    assert env.supervisor.calls[n:] == [
        ("set_situation", "plaza", "zone_intrusion", False),
        ("stop_cameras", ("plaza",)),  # every camera to stop, together
    ]
    assert env.supervisor.running == set()
    assert not env.platform.is_authorised("plaza", "zone_intrusion")
    r = admin.post(f"/api/authorisations/{one['id']}/revoke", json={"reason": "twice"})
    assert r.status_code == 422 and "already revoked" in r.json()["detail"][0]["message"]
    # A new authorisation of the same situation switches it back on.
    admin.post("/api/authorisations", json=body())
    assert enabled(started(env)["plaza"]) == {"zone_intrusion"}
    assert "zone_intrusion" not in env.supervisor.inactive.get("plaza", set())
    entries = bound_entries(env)
    assert [(a, d["authorisation"], d.get("because")) for _, a, d in entries] == [
        ("processing.started", both["id"], None),
        ("processing.started", one["id"], None),
        ("processing.stopped", both["id"], "revoked"),
        ("processing.stopped", one["id"], "revoked"),
        ("processing.started", one["id"] + 1, None),
    ]
    assert entries[0][2] == {
        "scope": "authorisation", "authorisation": both["id"], "cameras": ["plaza"],
        "situations": ["zone_intrusion", "wrong_way"],
    }  # fmt: skip
    with env.sessions() as s:
        assert journal.verify(s).ok


def test_starts_and_stops_by_itself_at_its_bounds(cameras: Env) -> None:
    env = cameras
    env.platform.start_gate()
    start = now() + timedelta(seconds=1.5)
    end = start + timedelta(seconds=2)
    r = env.client("administrator").post(
        "/api/authorisations", json=body(starts_at=start.isoformat(), ends_at=end.isoformat())
    )
    assert r.status_code == 201
    assert env.supervisor.running == set()
    seen: dict[str, datetime] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "stopped" not in seen:
        running = "plaza" in env.supervisor.running
        if running and "started" not in seen:
            seen["started"] = now()
        if not running and "started" in seen:
            seen["stopped"] = now()
        time.sleep(0.02)
    assert "started" in seen and "stopped" in seen, seen
    assert start <= seen["started"] < start + timedelta(seconds=1)
    assert end <= seen["stopped"] < end + timedelta(seconds=1)
    assert [(actor, action) for actor, action, _ in bound_entries(env)] == [
        ("system", "processing.started"),
        ("system", "processing.stopped"),
    ]
    assert bound_entries(env)[1][2]["because"] == "ended"


def test_after_revocation_the_camera_waits_for_an_authorisation(cameras: Env) -> None:
    env = cameras
    admin = env.client("administrator")
    a = admin.post("/api/authorisations", json=body()).json()
    assert env.platform.is_authorised("plaza", "zone_intrusion")
    admin.post(f"/api/authorisations/{a['id']}/revoke", json={"reason": "Ended early"})
    assert not env.platform.is_authorised("plaza", "zone_intrusion")
    assert env.platform.status()["plaza"]["waiting_for"] == "no active authorisation"
    assert "no active authorisation" in env.client("supervisor").get("/processing").text
    assert "no active authorisation" in admin.get(f"/authorisations/{a['id']}").text


# --- renewal ----------------------------------------------------------------------------------


def test_renewal_is_a_new_record_and_takes_over(cameras: Env) -> None:
    env = cameras
    admin = env.client("administrator")
    a = admin.post("/api/authorisations", json=body()).json()
    start = datetime.fromisoformat(a["ends_at"])
    renewal = {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=10)).isoformat(),
        "reference": "PP-2025-0077",
        "situations": ["zone_intrusion", "wrong_way"],
    }
    r = admin.post(f"/api/authorisations/{a['id']}/renew", json=renewal)
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["id"] != a["id"] and b["renews_id"] == a["id"] and b["status"] == "upcoming"
    assert b["issuer"] == a["issuer"] and b["reference"] == "PP-2025-0077"
    assert admin.get(f"/api/authorisations/{a['id']}").json()["renewed_by_id"] == b["id"]
    r = admin.post(f"/api/authorisations/{a['id']}/renew", json=renewal)
    assert r.status_code == 422 and "already renewed" in r.json()["detail"][0]["message"]
    too_long = {**renewal, "ends_at": (start + timedelta(days=40)).isoformat()}
    r = admin.post(f"/api/authorisations/{b['id']}/renew", json=too_long)
    assert r.status_code == 422 and r.json()["detail"][0]["key"] == "ends_at"
    page = admin.get(f"/authorisations/{b['id']}")
    assert page.status_code == 200
    assert "PP-2025-0042" in page.text and "PP-2025-0077" in page.text  # the renewal chain
    assert f'href="/documents/notice/{b["id"]}"' in page.text


# --- roles and errors ---------------------------------------------------------------------------


def test_roles(cameras: Env) -> None:
    env = cameras
    a = env.client("administrator").post("/api/authorisations", json=body()).json()
    for role in ("supervisor", "auditor", "administrator"):
        c = env.client(role)
        assert c.get("/api/authorisations").status_code == 200, role
        assert c.get(f"/api/authorisations/{a['id']}").json()["reference"] == "PP-2025-0042"
        assert c.get("/authorisations").status_code == 200
        assert c.get(f"/authorisations/{a['id']}").status_code == 200
    op = env.client("operator")
    assert op.get("/api/authorisations").status_code == 403
    assert op.post("/api/authorisations", json=body()).status_code == 403
    assert op.get("/authorisations").status_code == 403
    for role in ("auditor", "supervisor"):
        c = env.client(role)
        r = c.post(f"/api/authorisations/{a['id']}/revoke", json={"reason": "not mine"})
        assert r.status_code == 403, role
        assert c.post("/api/authorisations", json=body()).status_code == 403
        renewal = {"starts_at": a["starts_at"], "ends_at": a["ends_at"]}
        assert c.post(f"/api/authorisations/{a['id']}/renew", json=renewal).status_code == 403
        page = c.get(f"/authorisations/{a['id']}")
        assert "Revoke" not in page.text
    assert env.client("administrator").get("/api/authorisations/999").status_code == 404
    with env.sessions() as s:
        assert [e.action for e in journal.query(s, action="authorisation.revoked")] == []


def test_api_errors_name_the_field(cameras: Env) -> None:
    admin = cameras.client("administrator")

    def problems(data: dict[str, Any]) -> list[dict[str, str]]:
        r = admin.post("/api/authorisations", json=data)
        assert r.status_code == 422, r.text
        detail: list[dict[str, str]] = r.json()["detail"]
        return detail

    start = now()
    long = body(ends_at=(start + timedelta(days=32)).isoformat(), starts_at=start.isoformat())
    p = problems(long)
    assert p[0]["key"] == "ends_at" and "more than one month" in p[0]["message"]
    p = problems(body(cameras=["plaza", "nowhere"]))
    assert p[0]["key"] == "cameras" and "'nowhere'" in p[0]["message"]
    p = problems({k: v for k, v in body().items() if k != "reference"})
    assert p == [{"key": "reference", "message": "this key is required"}]
    p = problems(body(situations=["loitering"]))
    assert p[0]["key"] == "situations" and "'loitering'" in p[0]["message"]
    p = problems(body(starts_at="tomorrow"))
    assert p[0]["key"] == "starts_at"
    p = problems(body(served_kind="concert"))
    assert p[0]["key"] == "served_kind"
    a = admin.post("/api/authorisations", json=body()).json()
    r = admin.post(f"/api/authorisations/{a['id']}/revoke", json={})
    assert r.status_code == 422 and r.json()["detail"][0]["key"] == "reason"
    r = admin.post(f"/api/authorisations/{a['id']}/revoke", json={"reason": "   "})
    assert r.status_code == 422 and r.json()["detail"][0]["key"] == "reason"
    r = admin.post(f"/api/authorisations/{a['id']}/renew", json={"starts_at": a["starts_at"]})
    assert r.status_code == 422 and r.json()["detail"][0]["key"] == "ends_at"
    with cameras.sessions() as s:
        assert len(journal.query(s, action="authorisation.created")) == 1  # refusals left none


# --- console ------------------------------------------------------------------------------------


def test_console_create_revoke_and_list(cameras: Env) -> None:
    env = cameras
    admin = env.client("administrator")
    page = admin.get("/authorisations")
    assert page.status_code == 200
    assert 'name="situations" value="fire_start"' in page.text
    assert 'name="cameras" value="gate"' in page.text
    start = now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    end = start + timedelta(days=2)
    form = {
        "reference": "PP-2025-0099", "issuer": "Préfet", "controller": "Ville",
        "rights_contact": "dpo@ville.example", "served_kind": "cultural_event",
        "served_name": "Festival", "perimeter": "Main square", "cameras": ["plaza"],
        "situations": ["zone_intrusion", "wrong_way"], "recipient_services": "control room, police",
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"), "ends_at": end.strftime("%Y-%m-%dT%H:%M"),
    }  # fmt: skip
    r = admin.post("/authorisations", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    aid = int(r.headers["location"].rsplit("/", 1)[1])
    got = admin.get(f"/api/authorisations/{aid}").json()
    assert got["recipient_services"] == ["control room", "police"]
    assert got["starts_at"].startswith(start.strftime("%Y-%m-%dT%H:%M"))
    assert enabled(started(env)["plaza"]) == {"zone_intrusion", "wrong_way"}
    bad = {**form, "ends_at": (start + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M")}
    r = admin.post("/authorisations", data=bad)
    assert r.status_code == 422 and "more than one month" in r.text and "PP-2025-0099" in r.text
    listing = admin.get("/authorisations").text
    assert "PP-2025-0099" in listing and "active" in listing
    r = admin.post(f"/authorisations/{aid}/revoke", data={"reason": ""})
    assert r.status_code == 422 and "reason" in r.text
    r = admin.post(
        f"/authorisations/{aid}/revoke", data={"reason": "Festival cancelled"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    assert env.supervisor.running == set()
    detail = admin.get(f"/authorisations/{aid}").text
    assert "revoked" in detail and "Festival cancelled" in detail


def test_the_signal_path_drops_a_live_signal_no_authorisation_covers(cameras: Env) -> None:
    # The gate keeps unauthorised processing from running; should a signal still arrive (a
    # camera process mid-restart), the recorder drops it: nothing stored, nothing shown.
    env = cameras
    admin = env.client("administrator")
    assert admin.post("/api/authorisations", json=body()).status_code == 201
    env.signal("plaza", "zone_intrusion")
    for camera, situation in (("plaza", "wrong_way"), ("gate", "zone_intrusion")):
        env.recorder(signal_event(camera, situation))
    assert env.recorder.refused == 2 and env.recorder.failures == 0
    with env.sessions() as s:
        assert [(r.camera, r.situation) for r in store.list_signals(s)] == [
            ("plaza", "zone_intrusion")
        ]
