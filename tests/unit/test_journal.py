"""The tamper-evident journal (SPEC S7), on SQLite and PostgreSQL: an intact chain verifies;
a changed, deleted or reordered entry is found at its id; an export re-verifies offline;
concurrent writers keep one chain; the database refuses UPDATE and DELETE; the CLI."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from veilleur import store
from veilleur.cli import app as cli_app
from veilleur.compliance import journal
from veilleur.store.journal import GENESIS, append, hash_of

pytest_plugins = ["db_fixtures"]


def _fill(s: Session, n: int = 6) -> None:
    for i in range(1, n + 1):
        append(s, "alice", "camera.updated", f"camera:cam{i}", {"changed": ["source"], "n": i})
        s.commit()


def tamper(engine: Engine, sql: str, **params: Any) -> None:
    """Change the journal behind the application's back, as someone with the database's
    owner rights would: past the append-only triggers."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Ordinary triggers do not fire for a replication role (a superuser's right).
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS journal_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS journal_no_delete"))
        conn.execute(text(sql), params)


def _kinds(result: journal.VerifyResult) -> set[tuple[int, str]]:
    return {(p.entry_id, p.kind) for p in result.problems}


def test_an_untouched_chain_verifies(db_session: Session) -> None:
    assert journal.verify(db_session).ok  # empty
    _fill(db_session)
    result = journal.verify(db_session)
    assert result.ok, result.summary()
    assert (result.entries, result.head_id) == (6, 6)
    rows = journal.query(db_session, limit=10)
    assert [r.id for r in rows] == [6, 5, 4, 3, 2, 1]
    assert rows[-1].prev_hash == GENESIS
    assert all(r.hash == hash_of(r) for r in rows)
    assert all(a.prev_hash == b.hash for a, b in itertools.pairwise(rows))
    assert "intact" in result.summary()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("details", '{"changed":["zones"],"n":3}'),
        ("actor", "mallory"),
        ("action", "camera.created"),
        ("target", "camera:other"),
        ("at", None),
    ],
)
def test_a_changed_entry_is_found_at_its_id(
    db_session: Session, db_engine: Engine, column: str, value: str | None
) -> None:
    _fill(db_session)
    if column == "at":
        row = db_session.get(store.JournalEntry, 3)
        assert row is not None
        tamper(db_engine, "UPDATE journal SET at = :v WHERE id = 3", v=row.at - timedelta(hours=1))
    else:
        tamper(db_engine, f"UPDATE journal SET {column} = :v WHERE id = 3", v=value)
    db_session.expire_all()
    result = journal.verify(db_session)
    assert not result.ok
    assert _kinds(result) == {(3, "altered")}
    assert "entry 3" in result.summary()


def test_a_rehashed_entry_breaks_the_next_link(db_session: Session, db_engine: Engine) -> None:
    # Someone who also recomputes the hash of the entry they changed breaks the next entry's
    # link instead.
    _fill(db_session)
    row = db_session.get(store.JournalEntry, 3)
    assert row is not None
    forged = journal.Entry.of(row)
    forged = journal.Entry(
        forged.id, forged.at, "mallory", forged.action, forged.target, forged.details,
        forged.prev_hash, "",
    )  # fmt: skip
    tamper(
        db_engine, "UPDATE journal SET actor = 'mallory', hash = :h WHERE id = 3",
        h=forged.expected_hash(),
    )  # fmt: skip
    db_session.expire_all()
    assert _kinds(journal.verify(db_session)) == {(4, "link")}


def test_a_deleted_entry_is_found(db_session: Session, db_engine: Engine) -> None:
    _fill(db_session)
    tamper(db_engine, "DELETE FROM journal WHERE id = 3")
    result = journal.verify(db_session)
    assert _kinds(result) == {(4, "missing"), (4, "link")}
    assert "entries 3 are missing" in str(result.problems[0])


def test_swapped_entries_are_found(db_session: Session, db_engine: Engine) -> None:
    _fill(db_session)
    tamper(db_engine, "UPDATE journal SET id = -3 WHERE id = 3")
    tamper(db_engine, "UPDATE journal SET id = 3 WHERE id = 4")
    tamper(db_engine, "UPDATE journal SET id = 4 WHERE id = -3")
    db_session.expire_all()
    kinds = _kinds(journal.verify(db_session))
    assert {(3, "altered"), (3, "link"), (4, "altered"), (4, "link")} <= kinds
    assert min(i for i, _ in kinds) == 3


def test_a_cut_tail_is_found_only_against_a_kept_head(
    db_session: Session, db_engine: Engine
) -> None:
    _fill(db_session)
    kept = journal.verify(db_session).head_hash
    tamper(db_engine, "DELETE FROM journal WHERE id = 6")
    # The remaining chain is consistent: only the head hash kept from before shows the cut.
    assert journal.verify(db_session).ok
    result = journal.verify(db_session, expected_head=kept)
    assert _kinds(result) == {(5, "head")}


def test_the_database_refuses_update_and_delete(db_session: Session) -> None:
    _fill(db_session, 2)
    for sql in ("UPDATE journal SET actor = 'mallory' WHERE id = 1", "DELETE FROM journal"):
        with pytest.raises(DatabaseError, match="append-only"):
            db_session.execute(text(sql))
        db_session.rollback()
    assert journal.verify(db_session).entries == 2


def test_details_never_describe_a_person(db_session: Session) -> None:
    for details in ({"track_id": 4}, {"boxes": [{"person": 1}]}, {"face": "x"}):
        with pytest.raises(ValueError, match="never describe"):
            append(db_session, "system", "signal.recorded", "signal:1", details)
    with pytest.raises(ValueError, match=r"noun\.verb"):
        append(db_session, "system", "Drop table", "signal:1")
    db_session.rollback()
    assert journal.verify(db_session).entries == 0


def test_an_entry_rolls_back_with_its_change(db_session: Session) -> None:
    append(db_session, "alice", "camera.deleted", "camera:gate")
    db_session.rollback()
    _fill(db_session, 1)
    assert [r.action for r in journal.query(db_session)] == ["camera.updated"]
    assert journal.verify(db_session).ok


def test_concurrent_writers_keep_one_chain(db_engine: Engine) -> None:
    sessions = store.session_factory(db_engine)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with sessions() as s:
                for i in range(15):
                    append(s, f"w{n}", "media.viewed", f"signal:{i}", {"kind": "snapshot"})
                    s.commit()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        result = journal.verify(s)
        assert result.ok, result.summary()
        assert result.entries == result.head_id == 60


def test_export_reverifies_offline_and_shows_an_edit(db_session: Session, tmp_path: Path) -> None:
    _fill(db_session)
    path = tmp_path / "journal.jsonl"
    exported = journal.export(db_session, path)
    assert exported.ok
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7
    assert json.loads(lines[-1])["head"]["hash"] == exported.head_hash
    assert journal.verify_file(path).ok
    assert journal.verify_file(path, expected_head=exported.head_hash).ok

    def rewrite(change: Callable[[list[str]], list[str]]) -> journal.VerifyResult:
        edited = tmp_path / "edited.jsonl"
        edited.write_text("\n".join(change(list(lines))) + "\n", encoding="utf-8")
        return journal.verify_file(edited)

    def edit_line(all_lines: list[str]) -> list[str]:
        entry = json.loads(all_lines[2])
        entry["actor"] = "mallory"
        all_lines[2] = json.dumps(entry)
        return all_lines

    assert _kinds(rewrite(edit_line)) == {(3, "altered")}
    assert (5, "missing") in _kinds(rewrite(lambda ls: ls[:3] + ls[4:]))  # entry 4 removed
    assert (3, "order") in _kinds(rewrite(lambda ls: [ls[0], ls[1], ls[3], ls[2], *ls[4:]]))
    assert _kinds(rewrite(lambda ls: ls[:-1])) == {(6, "head")}  # no head line
    assert (5, "head") in _kinds(rewrite(lambda ls: ls[:5] + ls[-1:]))  # cut before the head


def test_cli_verify_and_export(db_url: str, db_engine: Engine, tmp_path: Path) -> None:
    with store.session_factory(db_engine)() as s:
        _fill(s)
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["journal", "verify", "--database", db_url])
    assert ok.exit_code == 0, ok.output
    assert "intact: 6 entries" in ok.output
    out = tmp_path / "audit" / "journal.jsonl"
    exported = runner.invoke(
        cli_app, ["journal", "export", "--database", db_url, "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    assert "wrote 6 entries" in exported.output
    assert runner.invoke(cli_app, ["journal", "verify", "--file", str(out)]).exit_code == 0
    tamper(db_engine, "UPDATE journal SET details = '{}' WHERE id = 2")
    broken = runner.invoke(cli_app, ["journal", "verify", "--database", db_url])
    assert broken.exit_code == 1
    assert "BROKEN at entry 2: altered" in broken.output


def test_cli_verify_on_a_data_dir(tmp_path: Path) -> None:
    url = store.default_url(tmp_path)
    store.upgrade(url)
    engine = store.make_engine(url)
    try:
        with store.session_factory(engine)() as s:
            _fill(s, 2)
    finally:
        engine.dispose()
    runner = CliRunner()
    result = runner.invoke(cli_app, ["journal", "verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    missing = runner.invoke(cli_app, ["journal", "verify", "--data-dir", str(tmp_path / "no")])
    assert missing.exit_code == 2
