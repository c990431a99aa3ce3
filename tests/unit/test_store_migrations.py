"""Migrations, engines and the schema's privacy, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from veilleur.store import (
    Base,
    current_revision,
    default_url,
    downgrade,
    make_engine,
    normalise_url,
    schema_diff,
    upgrade,
)
from veilleur.store.db import MIGRATIONS_DIR, alembic_config

pytest_plugins = ["db_fixtures"]

TABLES = {
    "users",
    "web_sessions",
    "cameras",
    "signals",
    "reviews",
    "journal",
    "authorisations",
    "calibration_records",
    "statistics",
    "missed_reports",
    "journal_checkpoints",
    "delivery_outbox",
}
# Nothing about who: no track ids, faces, identities, or person attributes (SPEC S1, S3).
FORBIDDEN = re.compile(r"track|face|identit|person|biometr|embedding|reid|gender|age$", re.I)


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def test_upgrade_from_empty_creates_every_table(empty_db_url: str) -> None:
    assert current_revision(empty_db_url) is None
    upgrade(empty_db_url)
    assert current_revision(empty_db_url) == _head()
    engine = make_engine(empty_db_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()
    # Running it again is a no-op, as at every server start.
    upgrade(empty_db_url)
    assert current_revision(empty_db_url) == _head()


def test_models_and_migrations_agree(db_url: str) -> None:
    # The `alembic check` comparison: a migrated database has exactly the models' schema.
    assert schema_diff(db_url) == []


def test_schema_diff_sees_a_missing_index(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_signals_camera"))
        diff = schema_diff(engine)
    finally:
        engine.dispose()
    assert any(d[0] == "add_index" and d[1].name == "ix_signals_camera" for d in diff)


def test_downgrade_to_base_and_back(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    downgrade(empty_db_url, "base")
    engine = make_engine(empty_db_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_no_column_about_persons_in_models() -> None:
    assert set(Base.metadata.tables) == TABLES
    for table in Base.metadata.tables.values():
        for column in table.columns:
            assert not FORBIDDEN.search(column.name), f"{table.name}.{column.name}"


def test_no_column_about_persons_in_database(db_engine: Engine) -> None:
    inspector = inspect(db_engine)
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            assert not FORBIDDEN.search(column["name"]), f"{table}.{column['name']}"


def test_forbidden_pattern_catches_what_it_should() -> None:
    for name in ("track_id", "face_embedding", "identity", "person_count"):
        assert FORBIDDEN.search(name)
    for name in ("situation", "camera", "confidence", "occurred_at", "config_version"):
        assert not FORBIDDEN.search(name)


def test_migrations_are_packaged() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("v*.py"))


def test_default_url_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = default_url(tmp_path / "data")
    assert url == f"sqlite:///{(tmp_path / 'data' / 'veilleur.db').as_posix()}"
    upgrade(url)  # creates the data directory and the file
    assert (tmp_path / "data" / "veilleur.db").is_file()


def test_postgres_urls_use_psycopg3() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    assert make_engine("postgresql://u@127.0.0.1/db").dialect.driver == "psycopg"


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        make_engine("mysql://u@h/db")


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(db_engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at, "
                "expires_at) VALUES ('x', 12345, 'c', '2025-01-01', '2025-01-02')"
            )
        )


def test_maintenance_command(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from veilleur.store.__main__ import main

    assert main(["current", "--url", empty_db_url]) == 0
    assert capsys.readouterr().out.strip() == "None"
    assert main(["upgrade", "--url", empty_db_url]) == 0
    assert capsys.readouterr().out.strip() == _head()
    assert main(["check", "--url", empty_db_url]) == 0
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_signals_state"))
    finally:
        engine.dispose()
    assert main(["check", "--url", empty_db_url]) == 1
    assert "ix_signals_state" in capsys.readouterr().out
