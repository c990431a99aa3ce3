"""The calibration and statistics pages and API: roles, service scope, filters, exports
journaled; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from api_helpers import Env, jpeg, make_env, password
from argon2 import PasswordHasher

from veilleur import store
from veilleur.config import CameraConfig
from veilleur.runtime.events import SignalEvent
from veilleur.scene.statistics import StatisticRow
from veilleur.store import auth as store_auth
from veilleur.types import Signal

pytest_plugins = ["db_fixtures"]

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
ZONE = {"door": {"polygon": [[0, 0], [1, 0], [1, 1]]}}


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    for e in make_env(db_url, data_dir):
        with e.sessions() as s:
            for name, mode, services in (("north", "calibration", ["north"]),
                                         ("south", "calibration", ["south"]),
                                         ("counter", "statistics", ["north"]),
                                         ("live", "live", ["north"])):  # fmt: skip
                cfg = CameraConfig(source=f"{name}.mp4", mode=mode, zones=ZONE)
                store.upsert_camera(s, name, cfg)
                row = store.get_camera(s, name)
                assert row is not None
                row.services = services
                s.commit()
            store.create_user(s, "north-sup", password("supervisor"), "supervisor",
                              service="north")  # fmt: skip
        yield e


def login(env: Env, username: str, role: str):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    c = TestClient(env.app)
    env.clients.append(c)
    r = c.post("/api/session", json={"username": username, "password": password(role)})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def would_be(env: Env, camera: str, situation: str = "zone_intrusion", hours_ago: int = 0) -> None:
    event = SignalEvent(
        signal=Signal(
            situation=situation, camera=camera, zone="door", start_s=1.0, end_s=2.0, frame=5,
            bbox=(0.1, 0.1, 0.2, 0.2), confidence=0.7, model="m", config_version="v",
        ),
        snapshot_jpeg=jpeg(), clip_mp4=None, known_limits="", mode="calibration",
        wall_time=NOW - timedelta(hours=hours_ago),
    )  # fmt: skip
    env.recorder(event)
    assert env.recorder.failures == 0


def stats(env: Env, camera: str = "counter", value: float = 3, minutes_ago: int = 5) -> None:
    at = NOW - timedelta(minutes=minutes_ago)
    with env.sessions() as s:
        store.record_statistics(s, [
            StatisticRow(camera, at, 60, "zone_entries", "door", "", value),
            StatisticRow(camera, at, 60, "occupancy_mean", "", "", value / 2),
        ])  # fmt: skip


def test_calibration_roles_scope_and_counts(env: Env) -> None:
    would_be(env, "north")
    would_be(env, "north", "wrong_way", hours_ago=2)
    would_be(env, "south")
    for role in ("operator", "auditor"):
        assert env.client(role).get("/api/calibration").status_code == 403
        assert env.client(role).get("/calibration").status_code == 403
    admin = env.client("administrator")
    body = admin.get("/api/calibration").json()
    assert body["cameras"] == ["north", "south"]
    assert len(body["records"]) == 3
    counts = {c["key"]: c["count"] for c in body["counts"]["situation"]}
    assert counts == {"zone_intrusion": 2, "wrong_way": 1}
    only = admin.get("/api/calibration", params={"situation": "wrong_way"}).json()
    assert [r["situation"] for r in only["records"]] == ["wrong_way"]
    since = (NOW - timedelta(hours=1)).isoformat()
    assert len(admin.get("/api/calibration", params={"since": since}).json()["records"]) == 2
    assert admin.get("/api/calibration", params={"situation": "x"}).status_code == 422
    # The signals and the live queue know nothing of them.
    with env.sessions() as s:
        assert s.query(store.SignalRow).count() == 0
    # A supervisor of the north service sees the north camera only.
    scoped = login(env, "north-sup", "supervisor")
    body = scoped.get("/api/calibration").json()
    assert body["cameras"] == ["north"] and {r["camera"] for r in body["records"]} == {"north"}
    assert scoped.get("/api/calibration", params={"camera": "south"}).status_code == 404
    south_id = admin.get("/api/calibration", params={"camera": "south"}).json()["records"][0]["id"]
    assert scoped.get(f"/api/calibration/{south_id}/snapshot.jpg").status_code == 404
    page = scoped.get("/calibration")
    assert page.status_code == 200 and "north" in page.text and "/cameras/south" not in page.text
    assert "threat" not in page.text.lower()


def test_calibration_snapshot_is_journaled(env: Env) -> None:
    would_be(env, "north")
    admin = env.client("administrator")
    rec = admin.get("/api/calibration").json()["records"][0]
    r = admin.get(rec["snapshot_url"])
    assert r.status_code == 200 and r.content.startswith(b"\xff\xd8\xff")
    with env.sessions() as s:
        entries = [e for e in s.query(store.JournalEntry).all() if e.action == "media.viewed"]
    assert [e.target for e in entries] == [f"calibration:{rec['id']}"]


def test_statistics_for_every_role_scoped(env: Env) -> None:
    stats(env)
    stats(env, minutes_ago=65, value=1)
    stats(env, camera="elsewhere", value=9)  # a camera no longer configured
    for role in ("operator", "supervisor", "administrator", "auditor"):
        assert env.client(role).get("/api/statistics").status_code == 200
        assert env.client(role).get("/statistics").status_code == 200
    admin = env.client("administrator")
    body = admin.get("/api/statistics", params={"camera": "counter"}).json()
    assert body["cameras"] == ["counter"]
    assert [r["value"] for r in body["rows"] if r["metric"] == "zone_entries"] == [1, 3]
    since = (NOW - timedelta(minutes=30)).isoformat()
    recent = admin.get("/api/statistics", params={"metric": "zone_entries", "since": since}).json()
    got = [(r["camera"], r["value"]) for r in recent["rows"]]
    assert got == [("counter", 3), ("elsewhere", 9)]
    assert admin.get("/api/statistics", params={"metric": "faces"}).status_code == 422
    scoped = login(env, "north-sup", "supervisor")
    rows = scoped.get("/api/statistics").json()["rows"]
    assert {r["camera"] for r in rows} == {"counter"}
    page = scoped.get("/statistics")
    assert page.status_code == 200 and "<svg" in page.text and "elsewhere" not in page.text


def test_exports_are_journaled(env: Env) -> None:
    stats(env)
    c = env.client("auditor")
    r = c.get("/api/statistics.csv", params={"camera": "counter"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == "camera,bucket_start,bucket_s,metric,subject,direction,value"
    assert len(lines) == 3 and "track" not in r.text
    p = c.get("/api/statistics.parquet")
    assert p.status_code == 200
    assert pq.read_table(io.BytesIO(p.content)).num_rows == 2
    with env.sessions() as s:
        entries = [e for e in s.query(store.JournalEntry).all()
                   if e.action == "statistics.exported"]  # fmt: skip
    details = [json.loads(e.details) for e in entries]
    assert [(e.actor, d["format"], d["rows"]) for e, d in zip(entries, details, strict=True)] == [
        ("auditor", "csv", 2), ("auditor", "parquet", 2)]  # fmt: skip
    assert details[0]["camera"] == "counter"
    # Out of scope: 404 and nothing journaled.
    scoped = login(env, "north-sup", "supervisor")
    assert scoped.get("/api/statistics.csv", params={"camera": "south"}).status_code == 404
    with env.sessions() as s:
        n = sum(1 for e in s.query(store.JournalEntry).all() if e.action == "statistics.exported")
    assert n == 2


def test_administrators_switch_the_mode_on_the_camera_page(env: Env) -> None:
    admin = env.client("administrator")
    page = admin.get("/cameras/live")
    assert page.status_code == 200 and 'name="mode"' in page.text
    form = {"source": "live.mp4", "analysis_fps": "5", "mode": "statistics"}
    r = admin.post("/cameras/live/source", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert admin.get("/api/cameras/live").json()["config"]["mode"] == "statistics"
    bad = admin.post("/cameras/live/source", data={"source": "live.mp4", "analysis_fps": "5",
                                                   "mode": "secret"})  # fmt: skip
    assert bad.status_code == 422 and "mode" in bad.text
    assert admin.get("/api/cameras/live").json()["config"]["mode"] == "statistics"
    # Without the field (an older form), the mode is kept.
    admin.post("/cameras/live/source", data={"source": "live.mp4", "analysis_fps": "4"})
    assert admin.get("/api/cameras/live").json()["config"]["mode"] == "statistics"
    sup = env.client("supervisor")
    r = sup.post("/cameras/live/source", data={"source": "x", "analysis_fps": "5", "mode": "live"})
    assert r.status_code == 403
