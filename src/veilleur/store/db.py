"""Engines, sessions and programmatic Alembic migrations.

SQLite in the data directory is the embedded default; PostgreSQL (psycopg 3) is the production
database. Migrations ship inside the package, so no alembic.ini is needed at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from veilleur.store.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def default_url(data_dir: Path) -> str:
    """`sqlite:///<data_dir>/veilleur.db` (absolute path)."""
    return f"sqlite:///{(Path(data_dir).expanduser().resolve() / 'veilleur.db').as_posix()}"


def normalise_url(url: str) -> str:
    """Route plain `postgresql://` and `postgres://` URLs to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the console read while a camera's signal is written; foreign keys are off by
        # default in SQLite; the busy timeout makes a second writer wait instead of failing.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`: SQLite with WAL, foreign keys and a busy timeout, or PostgreSQL."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = dict(kwargs.pop("connect_args", {}))
        # Sessions are used from the supervisor's thread and the web server's threads.
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after the repositories commit."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR.as_posix())
    # Revision files must be importable module names ("v0002_add_x.py") for mypy and ruff.
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if url is not None:
        # configparser interpolation would read '%' in a password as a placeholder.
        config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def _with_connection(target: str | Engine, action: Any) -> None:
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            action(config)
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Bring the database at `target` (a URL or an engine) to `revision` (`alembic upgrade`)."""
    _with_connection(target, lambda config: command.upgrade(config, revision))


def downgrade(target: str | Engine, revision: str) -> None:
    """Take the database back to `revision` (`"base"` drops every table)."""
    _with_connection(target, lambda config: command.downgrade(config, revision))


def current_revision(target: str | Engine) -> str | None:
    """The revision the database is at, or None before any migration."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def schema_diff(target: str | Engine) -> list[Any]:
    """Differences between the models and the database's schema (empty when they agree).

    The same comparison as `alembic check`: run it on a freshly upgraded database to prove the
    migrations and the models describe the same tables.
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached for now (server down or restarting,
    connection dropped, pool exhausted, SQLite file locked or its disk full) rather than that
    the request itself is wrong: what is worth trying again later unchanged."""
    if isinstance(exc, sa_exc.TimeoutError):  # no connection free in the pool
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    # SQLite raises OperationalError for a broken schema or statement too: those never heal.
    message = str(exc.orig).lower()
    return not any(m in message for m in ("no such table", "no such column", "syntax error"))
