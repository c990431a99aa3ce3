"""Retention through the API and the console (SPEC S8), on SQLite and PostgreSQL: who may read
and purge, a purge asked by an administrator is journaled with them as actor, the page shows
the periods, schedule, last run and the history of purges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from api_helpers import Env, make_env
from argon2 import PasswordHasher
from sqlalchemy import func, select

from veilleur.compliance import journal
from veilleur.store import auth as store_auth
from veilleur.store.models import JournalEntry, SignalRow, utcnow

pytest_plugins = ["db_fixtures"]


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


def _old_signal(env: Env) -> Path:
    """A signal recognised 400 days ago with its snapshot; returns the snapshot's path."""
    at = utcnow() - timedelta(days=400)
    relative = f"media/{at:%Y/%m/%d}/old.jpg"
    path = env.data_dir / relative
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xd8\xff old")
    with env.sessions() as s:
        s.add(SignalRow(
            situation="zone_intrusion", camera="plaza", zone="lawn", start_s=1.0, end_s=2.0,
            frame=5, bbox=[0.1, 0.1, 0.2, 0.2], confidence=0.8, model="m", config_version="v",
            known_limits="limits", occurred_at=at, snapshot_path=relative,
        ))  # fmt: skip
        s.commit()
    return path


def _signals(env: Env) -> int:
    with env.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(SignalRow)) or 0)


def test_who_may_read_and_purge(env: Env) -> None:
    for role in ("operator", "supervisor"):
        c = env.client(role)
        assert c.get("/api/retention").status_code == 403
        assert c.get("/retention").status_code == 403
        assert c.post("/api/retention/purge").status_code == 403
    auditor = env.client("auditor")
    r = auditor.get("/api/retention")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["periods"]["images_days"] == 14 and body["periods"]["journal_days"] == 365
    assert body["schedule"]["running"] is False and body["history"] == []
    assert auditor.post("/api/retention/purge").status_code == 403
    page = auditor.get("/retention")
    assert page.status_code == 200 and "14 days" in page.text and 'id="purge-now"' not in page.text
    admin = env.client("administrator")
    del admin.headers["X-CSRF-Token"]
    assert admin.post("/api/retention/purge").status_code == 403  # no CSRF token
    assert env.client().get("/api/retention").status_code == 401


def test_an_administrators_purge_is_journaled_with_them(env: Env) -> None:
    old = _old_signal(env)
    env.signal()  # a new one, with its snapshot: kept
    admin = env.client("administrator")
    dry = admin.post("/api/retention/purge", json={"dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] and dry.json()["counts"]["signals"] == 1
    assert old.is_file() and _signals(env) == 2

    r = admin.post("/api/retention/purge")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["counts"]["signals"] == 1 and report["counts"]["images"] == 1
    assert report["files_deleted"] == 1 and not old.exists()
    assert _signals(env) == 1
    with env.sessions() as s:
        entry = s.get(JournalEntry, report["journal_entry_id"])
        assert entry is not None and (entry.actor, entry.action) == ("administrator",
                                                                    "retention.purged")  # fmt: skip
        assert json.loads(entry.details)["signals"] == 1
        assert journal.verify(s).ok

    state = env.client("auditor").get("/api/retention").json()
    assert state["schedule"]["last_report"]["counts"]["signals"] == 1
    assert [h["actor"] for h in state["history"]] == ["administrator"]
    assert state["history"][0]["details"]["signals"] == 1


def test_the_page_purges_now_and_shows_it(env: Env) -> None:
    _old_signal(env)
    admin = env.client("administrator")
    page = admin.get("/retention")
    assert page.status_code == 200 and 'id="purge-now"' in page.text
    assert "No purge has deleted anything yet" in page.text
    token = admin.headers.pop("X-CSRF-Token")
    assert admin.post("/retention/purge", data={}, follow_redirects=False).status_code == 403
    r = admin.post("/retention/purge", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/retention"
    assert _signals(env) == 0
    page = admin.get("/retention")
    assert "asked by administrator" in page.text
    assert 'id="retention-history"' in page.text and "No purge has deleted" not in page.text
    with env.sessions() as s:
        purges = journal.query(s, action="retention.purged")
        assert [e.actor for e in purges] == ["administrator"]


def test_the_journal_page_says_the_chain_starts_at_a_checkpoint(env: Env) -> None:
    from veilleur.compliance.retention import purge
    from veilleur.config.server import RetentionSettings

    auditor = env.client("auditor")  # its login is journaled: entries to purge
    # A purge a year and more from now cuts the journal, leaving a checkpoint.
    report = purge(env.sessions, env.data_dir, RetentionSettings(), utcnow() + timedelta(days=400))
    assert report.counts["journal"] > 0
    page = auditor.get("/journal")
    assert page.status_code == 200
    status = page.text[page.text.index('id="chain-status"') :]
    status = status[: status.index("</p>")]
    assert "Chain intact" in status and "after the retention checkpoint at entry" in status
