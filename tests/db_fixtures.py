"""Database fixtures: every test that uses them runs on SQLite AND on PostgreSQL.

Load them from a test module with `pytest_plugins = ["db_fixtures"]` (tests/ is on sys.path
through tests/conftest.py). Fixtures:

- `db_backend`: "sqlite" or "postgresql" (the parameter; test ids end in [sqlite]/[postgresql]).
- `db_url`: a migrated, empty database of that backend for this test.
- `db_engine`: an engine on `db_url` (disposed after the test).
- `db_session`: a `Session` from `veilleur.store.session_factory(db_engine)` (closed after).
- `empty_db_url`: a database with no table at all (to test migrations themselves).
- `data_dir`: an empty data directory for media files.

PostgreSQL: a fresh database `veilleur_test_<random>` is created on the server at
VEILLEUR_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) once per
test session, migrated once, emptied (TRUNCATE) after each test (rebuilt if the test altered the
schema), and dropped at the end. Under CI (CI=true) an unreachable server fails the tests;
elsewhere the PostgreSQL cases are skipped. A test that opens its own engines must dispose of
them before it ends, or the TRUNCATE waits for their locks.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session

from veilleur.store import Base, make_engine, session_factory, upgrade

PG_ADMIN_URL = os.environ.get(
    "VEILLEUR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _admin_engine() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _create_pg_database(prefix: str) -> str:
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url: str) -> None:
    name = make_url(url).database
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            # FORCE (PostgreSQL 13+) ends connections a test may have leaked.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_available() -> bool:
    """Whether the PostgreSQL test server answers; under CI its absence is a failure."""
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is unreachable under CI: {exc}")
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_database(pg_available: bool) -> Iterator[str]:
    """The URL of this test session's migrated PostgreSQL database."""
    if not pg_available:
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable (required under CI)")
    url = _create_pg_database("veilleur_test")
    try:
        upgrade(url)
        yield url
    finally:
        _drop_pg_database(url)


# Tables and indexes of the public schema: a test that altered the schema (dropped a table or
# an index) is caught after it, and the schema rebuilt, so it cannot spoil the tests that follow.
_FINGERPRINT = text(
    "SELECT (SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
    " WHERE schemaname = 'public') || '|' ||"
    " (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes"
    " WHERE schemaname = 'public')"
)


def _fingerprint(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(_FINGERPRINT).scalar()
            return None if value is None else str(value)
    finally:
        engine.dispose()


def _reset(url: str, fingerprint: str | None) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = make_engine(url)
    try:
        if _fingerprint(url) == fingerprint:
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '20s'"))
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            return
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if db_backend == "sqlite":
        url = f"sqlite:///{(tmp_path / 'veilleur.db').as_posix()}"
        upgrade(url)
        yield url
        return
    url = request.getfixturevalue("pg_database")
    fingerprint = _fingerprint(url)
    try:
        yield url
    finally:
        _reset(url, fingerprint)


@pytest.fixture
def empty_db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if db_backend == "sqlite":
        yield f"sqlite:///{(tmp_path / 'empty.db').as_posix()}"
        return
    if not request.getfixturevalue("pg_available"):
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable (required under CI)")
    url = _create_pg_database("veilleur_test_empty")
    try:
        yield url
    finally:
        _drop_pg_database(url)


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    with session_factory(db_engine)() as session:
        yield session


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path
