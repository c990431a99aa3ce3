"""The platform's database: SQLAlchemy 2 models, repositories and packaged Alembic migrations.

Repositories are plain functions taking a `Session`; the ones that change something commit
before returning. See docs/store.md.
"""

from veilleur.store.auth import (
    DEFAULT_SESSION_TTL_S,
    authenticate,
    check_csrf,
    close_session,
    create_user,
    get_user,
    get_user_by_name,
    hash_password,
    list_users,
    open_session,
    purge_expired_sessions,
    session_user,
    update_user,
)
from veilleur.store.db import (
    alembic_config,
    current_revision,
    default_url,
    downgrade,
    make_engine,
    normalise_url,
    schema_diff,
    session_factory,
    upgrade,
)
from veilleur.store.models import (
    ROLES,
    SIGNAL_STATES,
    VERDICTS,
    Base,
    Camera,
    Review,
    SignalRow,
    User,
    WebSession,
)

__all__ = [
    "DEFAULT_SESSION_TTL_S",
    "ROLES",
    "SIGNAL_STATES",
    "VERDICTS",
    "Base",
    "Camera",
    "Review",
    "SignalRow",
    "User",
    "WebSession",
    "alembic_config",
    "authenticate",
    "check_csrf",
    "close_session",
    "create_user",
    "current_revision",
    "default_url",
    "downgrade",
    "get_user",
    "get_user_by_name",
    "hash_password",
    "list_users",
    "make_engine",
    "normalise_url",
    "open_session",
    "purge_expired_sessions",
    "schema_diff",
    "session_factory",
    "session_user",
    "update_user",
    "upgrade",
]
