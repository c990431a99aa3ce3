"""Retention (SPEC S8) on SQLite and PostgreSQL: a purge deletes exactly the files and rows
older than their period and nothing else, journals itself, leaves a checkpoint the journal
verifies across (in the database and in an export); tampering after a purge is still found;
the database still refuses to delete entries no checkpoint covers."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from veilleur import store
from veilleur.cli import app as cli_app
from veilleur.compliance import journal, retention
from veilleur.config.server import RetentionSettings
from veilleur.store.journal import GENESIS, append, entry_hash, format_at
from veilleur.store.models import (
    CalibrationRecord,
    JournalCheckpoint,
    JournalEntry,
    MissedReport,
    Review,
    SignalRow,
    Statistic,
    utcnow,
)

pytest_plugins = ["db_fixtures"]

DAY = timedelta(days=1)
SETTINGS = RetentionSettings()  # images 14 d, signals/statistics/journal 365 d


def tamper(engine: Engine, sql: str, **params: Any) -> None:
    """Change the journal past its triggers, as the database's owner could."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS journal_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS journal_no_delete"))
        conn.execute(text(sql), params)


def old_entries(s: Session, ats: list[datetime]) -> None:
    """Journal entries written at `ats` (the appender stamps the current time, and the journal
    cannot be updated afterwards): inserted as the appender would have chained them."""
    last = s.execute(
        select(JournalEntry.id, JournalEntry.hash).order_by(JournalEntry.id.desc()).limit(1)
    ).first()
    prev_id, prev_hash = (0, GENESIS) if last is None else (last[0], last[1])
    for at in ats:
        entry_id = prev_id + 1
        details = json.dumps({"n": entry_id}, separators=(",", ":"))
        h = entry_hash(entry_id, format_at(at), "alice", "camera.updated", "camera:old",
                       details, prev_hash)  # fmt: skip
        s.add(JournalEntry(id=entry_id, at=at, actor="alice", action="camera.updated",
                           target="camera:old", details=details, prev_hash=prev_hash,
                           hash=h))  # fmt: skip
        s.flush()
        prev_id, prev_hash = entry_id, h
    s.commit()


def media(data_dir: Path, relative: str, mtime: datetime | None = None) -> str:
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff blurred")
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return relative


def add_signal(s: Session, data_dir: Path, name: str, at: datetime, clip: bool = True) -> int:
    row = SignalRow(
        situation="zone_intrusion", camera="plaza", zone="lawn", start_s=1.0, end_s=2.0,
        frame=5, bbox=[0.1, 0.1, 0.2, 0.2], confidence=0.8, model="m", config_version="v",
        known_limits="limits", occurred_at=at,
        snapshot_path=media(data_dir, f"media/{at:%Y/%m/%d}/{name}.jpg", at),
        clip_path=media(data_dir, f"media/{at:%Y/%m/%d}/{name}.mp4", at) if clip else None,
    )  # fmt: skip
    s.add(row)
    s.flush()
    return row.id


def add_calibration(s: Session, data_dir: Path, name: str, at: datetime) -> int:
    row = CalibrationRecord(
        situation="zone_intrusion", camera="plaza", zone="lawn", start_s=1.0, end_s=2.0,
        frame=5, bbox=[0.1, 0.1, 0.2, 0.2], confidence=0.8, model="m", config_version="v",
        occurred_at=at, snapshot_path=media(data_dir, f"media/calibration/{name}.jpg", at),
    )  # fmt: skip
    s.add(row)
    s.flush()
    return row.id


def files(data_dir: Path) -> set[str]:
    return {p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file()}


def seed(s: Session, data_dir: Path, now: datetime) -> dict[str, Any]:
    """Old and new data of every kind; returns the ids and files."""
    old_entries(s, [now - 400 * DAY] * 5 + [now - 100 * DAY] * 2)  # entries 1-5 old, 6-7 kept
    user = store.create_user(s, "op", "a-long-password", "operator")  # entry 8
    ids: dict[str, Any] = {}
    ids["old_signal"] = add_signal(s, data_dir, "old", now - 400 * DAY)
    ids["mid_signal"] = add_signal(s, data_dir, "mid", now - 30 * DAY)
    ids["new_signal"] = add_signal(s, data_dir, "new", now - 2 * DAY)
    ids["edge_signal"] = add_signal(s, data_dir, "edge", now - 14 * DAY + timedelta(hours=1),
                                    clip=False)  # fmt: skip
    for key in ("old_signal", "new_signal"):
        s.add(Review(signal_id=ids[key], user_id=user.id, verdict="confirmed"))
    ids["old_cal"] = add_calibration(s, data_dir, "old", now - 400 * DAY)
    ids["mid_cal"] = add_calibration(s, data_dir, "mid", now - 30 * DAY)
    ids["new_cal"] = add_calibration(s, data_dir, "new", now - 2 * DAY)
    for name, at in (("old", now - 400 * DAY), ("new", now - 10 * DAY)):
        s.add(MissedReport(situation="weapon", camera="plaza", occurred_at=at, user_id=user.id,
                           comment=name))  # fmt: skip
        s.add(Statistic(camera="plaza", bucket_start=at, bucket_s=900, metric="zone_entries",
                        subject="lawn", direction="", value=3.0))  # fmt: skip
    s.commit()
    media(data_dir, "media/2020/01/01/orphan-old.jpg", now - 30 * DAY)
    media(data_dir, "media/2020/01/02/orphan-new.jpg", now - DAY)
    (data_dir / "veilleur-notes.txt").write_text("not media")
    os.utime(data_dir / "veilleur-notes.txt", ((now - 900 * DAY).timestamp(),) * 2)
    append(s, "admin", "camera.updated", "camera:plaza", {"changed": ["zones"]})  # entry 9
    s.commit()
    return ids


def test_a_purge_removes_what_it_should_and_nothing_else(
    db_session: Session, data_dir: Path
) -> None:
    s, now = db_session, utcnow()
    ids = seed(s, data_dir, now)
    before = files(data_dir)
    report = retention.purge(s, data_dir, SETTINGS, now)

    # Files: the old signal's and calibration record's, the mid ones' (images period), the
    # old orphan; the new, the edge (13 days), the young orphan and what is not media stay.
    old, mid = f"media/{(now - 400 * DAY):%Y/%m/%d}", f"media/{(now - 30 * DAY):%Y/%m/%d}"
    gone = {
        f"{old}/old.jpg", f"{old}/old.mp4", f"{mid}/mid.jpg", f"{mid}/mid.mp4",
        "media/calibration/old.jpg", "media/calibration/mid.jpg",
        "media/2020/01/01/orphan-old.jpg",
    }  # fmt: skip
    assert gone <= before
    assert files(data_dir) == before - gone
    assert report.files_deleted == len(gone) and not report.files_missing
    assert not (data_dir / f"media/{(now - 400 * DAY):%Y/%m/%d}").exists()  # emptied: gone
    assert not (data_dir / "media/2020/01/01").exists()
    assert (data_dir / "media/2020/01/02").is_dir()

    s.expire_all()
    signals = {r.id: r for r in s.scalars(select(SignalRow))}
    assert set(signals) == {ids["mid_signal"], ids["new_signal"], ids["edge_signal"]}
    assert signals[ids["mid_signal"]].snapshot_path is None
    assert signals[ids["mid_signal"]].clip_path is None
    assert signals[ids["new_signal"]].snapshot_path is not None
    assert signals[ids["new_signal"]].clip_path is not None
    assert signals[ids["edge_signal"]].snapshot_path is not None
    assert [r.signal_id for r in s.scalars(select(Review))] == [ids["new_signal"]]
    cals = {r.id: r.snapshot_path for r in s.scalars(select(CalibrationRecord))}
    assert cals == {ids["mid_cal"]: None, ids["new_cal"]: "media/calibration/new.jpg"}
    assert [r.comment for r in s.scalars(select(MissedReport))] == ["new"]
    assert [r.bucket_start for r in s.scalars(select(Statistic))] == [now - 10 * DAY]

    # Journal: entries 1-5 deleted behind a checkpoint; 6 to 9 and the purge's entry stay.
    assert [e.id for e in s.scalars(select(JournalEntry).order_by(JournalEntry.id))] == [
        6, 7, 8, 9, 10,
    ]  # fmt: skip
    checkpoint = s.scalars(select(JournalCheckpoint)).one()
    assert (checkpoint.upto_id, checkpoint.entries) == (5, 5)
    entry = s.get(JournalEntry, 10)
    assert entry is not None and entry.action == "retention.purged" and entry.actor == "system"
    details = json.loads(entry.details)
    assert {k: details[k] for k, _, _ in retention.KINDS} == {
        "images": 6, "signals": 1, "reviews": 1, "calibration": 1, "missed": 1,
        "statistics": 1, "journal": 5, "orphans": 1,
    }  # fmt: skip
    assert details["checkpoint"] == {"upto_id": 5, "upto_hash": checkpoint.upto_hash}
    assert report.journal_entry_id == 10 and report.counts == {
        k: details[k] for k, _, _ in retention.KINDS
    }
    result = journal.verify(s)
    assert result.ok, result.summary()
    assert result.entries == 5 and result.checkpoint is not None

    # Nothing left to delete: the next purge changes nothing and journals nothing.
    again = retention.purge(s, data_dir, SETTINGS, now)
    assert again.nothing and again.journal_entry_id is None
    assert s.scalar(select(func.count()).select_from(JournalEntry)) == 5
    assert files(data_dir) == before - gone


def test_a_dry_run_changes_nothing(db_session: Session, data_dir: Path) -> None:
    s, now = db_session, utcnow()
    seed(s, data_dir, now)
    before = files(data_dir)
    report = retention.purge(s, data_dir, SETTINGS, now, dry_run=True)
    assert report.counts["signals"] == 1 and report.counts["journal"] == 5
    assert report.counts["orphans"] == 1 and len(report.files) == 7
    assert files(data_dir) == before
    assert s.scalar(select(func.count()).select_from(SignalRow)) == 4
    assert s.scalar(select(func.count()).select_from(JournalEntry)) == 9
    assert s.scalar(select(func.count()).select_from(JournalCheckpoint)) == 0


def test_the_last_entry_is_never_purged_and_a_second_purge_chains_on(
    db_session: Session, data_dir: Path
) -> None:
    s, now = db_session, utcnow()
    old_entries(s, [now - 400 * DAY] * 3)
    first = retention.purge(s, data_dir, SETTINGS, now)
    assert first.counts["journal"] == 2  # entry 3, the last, stays: the purge chains onto it
    assert [e.id for e in s.scalars(select(JournalEntry).order_by(JournalEntry.id))] == [3, 4]
    assert journal.verify(s).ok
    # A year later all is old: entry 3 goes (a second checkpoint), the first purge's entry 4
    # is now the last one and stays, the second purge's entry chains onto it.
    later = now + 400 * DAY
    second = retention.purge(s, data_dir, SETTINGS, later)
    assert second.checkpoint is not None and second.checkpoint.upto_id == 3
    assert [e.id for e in s.scalars(select(JournalEntry).order_by(JournalEntry.id))] == [4, 5]
    result = journal.verify(s)
    assert result.ok, result.summary()
    assert s.scalar(select(func.count()).select_from(JournalCheckpoint)) == 2


def test_the_journal_period_never_goes_below_six_months() -> None:
    with pytest.raises(ValueError, match="journal_days"):
        RetentionSettings(journal_days=100)


def test_files_already_gone_are_reported_not_fatal(db_session: Session, data_dir: Path) -> None:
    s, now = db_session, utcnow()
    add_signal(s, data_dir, "old", now - 400 * DAY)
    s.commit()
    (data_dir / f"media/{(now - 400 * DAY):%Y/%m/%d}/old.mp4").unlink()
    report = retention.purge(s, data_dir, SETTINGS, now)
    assert report.counts["signals"] == 1 and report.files_deleted == 1
    assert report.files_missing == [f"media/{(now - 400 * DAY):%Y/%m/%d}/old.mp4"]
    assert s.scalar(select(func.count()).select_from(SignalRow)) == 0


def test_a_failed_commit_keeps_rows_and_files(
    db_session: Session, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, now = db_session, utcnow()
    seed(s, data_dir, now)
    before = files(data_dir)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(retention, "journal_append", refuse)
    with pytest.raises(RuntimeError, match="disk full"):
        retention.purge(s, data_dir, SETTINGS, now)
    assert files(data_dir) == before
    s.expire_all()
    assert s.scalar(select(func.count()).select_from(SignalRow)) == 4
    assert s.scalar(select(func.count()).select_from(JournalEntry)) == 9
    assert s.scalar(select(func.count()).select_from(JournalCheckpoint)) == 0
    assert journal.verify(s).ok


def test_entries_no_checkpoint_covers_are_still_refused(
    db_session: Session, data_dir: Path
) -> None:
    s, now = db_session, utcnow()
    old_entries(s, [now - 400 * DAY] * 3 + [now] * 2)
    retention.purge(s, data_dir, SETTINGS, now)
    for sql in ("DELETE FROM journal WHERE id = 4", "UPDATE journal SET actor = 'x' WHERE id = 4"):
        with pytest.raises(DatabaseError, match="append-only"):
            s.execute(text(sql))
        s.rollback()
    for sql in ("DELETE FROM journal_checkpoints", "UPDATE journal_checkpoints SET upto_id = 9"):
        with pytest.raises(DatabaseError, match="append-only"):
            s.execute(text(sql))
        s.rollback()
    assert journal.verify(s).ok


def _purged(s: Session, data_dir: Path) -> None:
    now = utcnow()
    old_entries(s, [now - 400 * DAY] * 4 + [now] * 3)  # 1-4 old, 5-7 new
    report = retention.purge(s, data_dir, SETTINGS, now)
    assert report.checkpoint is not None and report.checkpoint.upto_id == 4


def _kinds(result: journal.VerifyResult) -> set[tuple[int, str]]:
    return {(p.entry_id, p.kind) for p in result.problems}


def test_tampering_after_a_purge_is_found(
    db_session: Session, db_engine: Engine, data_dir: Path
) -> None:
    s = db_session
    _purged(s, data_dir)
    tamper(db_engine, "UPDATE journal SET target = 'camera:other' WHERE id = 6")
    assert _kinds(journal.verify(s)) == {(6, "altered")}


def test_a_deletion_beyond_the_checkpoint_is_found(
    db_session: Session, db_engine: Engine, data_dir: Path
) -> None:
    s = db_session
    _purged(s, data_dir)
    tamper(db_engine, "DELETE FROM journal WHERE id = 5")
    assert _kinds(journal.verify(s)) == {(6, "missing"), (6, "link")}


def test_a_checkpoint_without_its_purge_entry_is_found(
    db_session: Session, db_engine: Engine, data_dir: Path
) -> None:
    s = db_session
    _purged(s, data_dir)
    # Someone writes a checkpoint themselves to get entries 5 and 6 deleted by the trigger.
    upto_hash = s.scalar(select(JournalEntry.hash).where(JournalEntry.id == 6))
    s.add(JournalCheckpoint(upto_id=6, upto_hash=upto_hash, entries=2, at=utcnow()))
    s.flush()
    s.execute(text("DELETE FROM journal WHERE id <= 6"))
    s.commit()
    result = journal.verify(s)
    assert _kinds(result) == {(6, "checkpoint")}, result.summary()
    assert "outside a retention purge" in result.summary()


def test_a_lost_checkpoint_is_found(db_session: Session, db_engine: Engine, data_dir: Path) -> None:
    s = db_session
    _purged(s, data_dir)
    with db_engine.begin() as conn:
        if db_engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER journal_checkpoints_no_delete"))
        conn.execute(text("DELETE FROM journal_checkpoints"))
    assert (5, "missing") in _kinds(journal.verify(s))


def test_an_export_after_a_purge_verifies_offline(
    db_session: Session, db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    s = db_session
    _purged(s, data_dir)
    path = tmp_path / "journal.jsonl"
    exported = journal.export(s, path)
    assert exported.ok, exported.summary()
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["checkpoint"]["upto_id"] == 4
    assert json.loads(lines[1])["id"] == 5
    assert journal.verify_file(path).ok
    # Without its checkpoint line the file starts in the middle of a chain: broken.
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[1:]) + "\n")
    assert (5, "missing") in _kinds(journal.verify_file(cut))
    # An edited checkpoint line no longer matches the purge's entry nor the first link.
    edited = tmp_path / "edited.jsonl"
    first = json.loads(lines[0])
    first["checkpoint"]["upto_hash"] = "f" * 64
    edited.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    assert {(5, "link"), (4, "checkpoint")} <= _kinds(journal.verify_file(edited))

    runner = CliRunner()
    again = tmp_path / "again.jsonl"
    ok = runner.invoke(cli_app, ["journal", "export", "--database", db_url, "--out", str(again)])
    assert ok.exit_code == 0, ok.output
    assert "starts after the retention checkpoint of entry 4" in ok.output
    ok = runner.invoke(cli_app, ["journal", "verify", "--file", str(path)])
    assert ok.exit_code == 0, ok.output
    assert "after retention checkpoint 4" in ok.output
    ok = runner.invoke(cli_app, ["journal", "verify", "--database", db_url])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(cli_app, ["journal", "verify", "--file", str(cut)])
    assert bad.exit_code == 1


def test_a_kept_head_hash_before_the_cut(db_session: Session, data_dir: Path) -> None:
    s, now = db_session, utcnow()
    old_entries(s, [now - 400 * DAY] * 4 + [now] * 3)
    kept = {e.id: e.hash for e in s.scalars(select(JournalEntry))}
    retention.purge(s, data_dir, SETTINGS, now)
    assert journal.verify(s, expected_head=kept[4]).ok  # the checkpoint's own hash
    assert journal.verify(s, expected_head=kept[6]).ok
    result = journal.verify(s, expected_head=kept[2])
    assert not result.ok and "retention purge up to entry 4" in result.summary()


def test_cli_purge(db_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = store.make_engine(db_url)
    try:
        with store.session_factory(engine)() as s:
            now = utcnow()
            add_signal(s, data_dir, "old", now - 400 * DAY)
            add_signal(s, data_dir, "new", now - DAY)
            s.commit()
    finally:
        engine.dispose()
    runner = CliRunner()
    dry = runner.invoke(
        cli_app, ["purge", "--database", db_url, "--data-dir", str(data_dir), "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert "would delete" in dry.output and len(files(data_dir)) == 4
    done = runner.invoke(cli_app, ["purge", "--database", db_url, "--data-dir", str(data_dir)])
    assert done.exit_code == 0, done.output
    assert "deleted" in done.output and len(files(data_dir)) == 2
    bad = runner.invoke(
        cli_app,
        ["purge", "--database", db_url, "--data-dir", str(data_dir), "--journal-days", "30"],
    )
    assert bad.exit_code == 2 and "journal" in bad.output


def test_cli_purge_without_a_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["purge", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no database" in result.output


def test_the_scheduler_runs_keeps_its_last_run_and_stops(db_url: str, tmp_path: Path) -> None:
    engine = store.make_engine(db_url)
    try:
        sessions = store.session_factory(engine)
        with sessions() as s:
            old_entries(s, [utcnow() - 400 * DAY] * 3)
        scheduler = retention.RetentionScheduler(sessions, tmp_path, SETTINGS, first_delay_s=0.01)
        scheduler.start()
        deadline = time.monotonic() + 10
        while scheduler.last_report is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scheduler.last_report is not None
        assert scheduler.last_report.counts["journal"] == 2
        state = scheduler.state()
        assert state["running"] and state["next_run_at"] is not None
        assert state["last_report"]["counts"]["journal"] == 2
        thread = scheduler._thread
        assert thread is not None and thread.is_alive()
        scheduler.stop()
        assert not scheduler.running and not thread.is_alive()
    finally:
        engine.dispose()


def test_a_failing_purge_is_shown_and_the_scheduler_goes_on(tmp_path: Path) -> None:
    def broken() -> Session:
        raise RuntimeError("database unreachable")

    scheduler = retention.RetentionScheduler(
        broken,  # type: ignore[arg-type]
        tmp_path, SETTINGS, first_delay_s=0.01,
    )  # fmt: skip
    scheduler.start()
    deadline = time.monotonic() + 10
    while scheduler.last_error is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert scheduler.last_error is not None and "database unreachable" in scheduler.last_error
    assert scheduler.running  # the thread lives on for the next run
    scheduler.stop()
    assert not scheduler.running


def test_serve_refuses_a_journal_period_under_six_months(tmp_path: Path) -> None:
    config = Path(__file__).parents[2] / "examples" / "pets_s2l1.yaml"
    result = CliRunner().invoke(
        cli_app,
        ["serve", "--config", str(config), "--data-dir", str(tmp_path), "--journal-days", "90"],
    )
    assert result.exit_code == 2
    assert "--journal-days" in result.output and "183" in result.output


def test_the_server_runs_the_scheduler_and_stops_it(tmp_path: Path) -> None:
    from veilleur.cli.server import build_server
    from veilleur.config import parse_config
    from veilleur.config.server import ServerSettings
    from veilleur.service.retention import scheduler

    settings = ServerSettings(
        data_dir=tmp_path,
        database_url=store.default_url(tmp_path),
        retention=RetentionSettings(images_days=3, purge_every_s=600),
    )
    server = build_server(
        settings, parse_config({"cameras": {"plaza": {"source": "/no/such.mp4"}}}, "<test>")
    )
    try:
        sched = scheduler(server.app)
        assert sched.running and sched.retention.images_days == 3
    finally:
        server.close()
    assert not sched.running
