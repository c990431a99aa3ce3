"""Users, password hashing and console sessions (SPEC S9).

Passwords are hashed with argon2id (memory-hard). A console session is a random cookie token of
32 bytes; only its sha256 is stored, so a copy of the database cannot be replayed as a login.
Each session carries its own CSRF token. Mutating functions commit.

An account whose training or habilitation date has passed (its last valid day is before today,
UTC) cannot log in, and its open sessions stop working at once (`session_user`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veilleur.store.journal import ANONYMOUS, SYSTEM
from veilleur.store.journal import append as journal_append
from veilleur.store.models import ROLES, User, WebSession, utcnow

DEFAULT_SESSION_TTL_S = 8 * 3600
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

MAX_SERVICE_LENGTH = 64
UNSCOPED_ROLES = ("administrator", "auditor")
"""The roles an account may hold without a service (they see every camera); an operator or a
supervisor created or re-scoped by an administrator needs one (`check_scope`)."""

_hasher = PasswordHasher()


class Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged()
"""`update_user`'s default for the fields that None would clear (service, dates)."""


@dataclass(frozen=True)
class Expiry:
    """Why an account may not log in any more: which date passed, and when."""

    what: str
    """'training' or 'habilitation'."""
    expired_on: date

    @property
    def reason(self) -> str:
        return f"{self.what} expired"

    @property
    def message(self) -> str:
        return (
            f"your {self.what} expired on {self.expired_on.isoformat()}; "
            f"an administrator must renew it"
        )


class AccessExpired(Exception):
    """The name and password are right but a training or habilitation date has passed."""

    def __init__(self, expiries: list[Expiry]) -> None:
        self.expiries = expiries
        text = "; ".join(e.message for e in expiries)
        super().__init__(text[0].upper() + text[1:] + ".")


def utc_today() -> date:
    return utcnow().date()


def expiries(user: User, today: date | None = None) -> list[Expiry]:
    """The dates of `user` that have passed (a date is valid through its own day, UTC)."""
    today = today or utc_today()
    out = []
    for what, day in (
        ("training", user.training_expires_on),
        ("habilitation", user.habilitation_expires_on),
    ):
        if day is not None and day < today:
            out.append(Expiry(what, day))
    return out


def check_service(service: str | None) -> None:
    if service is None:
        return
    if not 1 <= len(service) <= MAX_SERVICE_LENGTH or not all(
        c.isalnum() or c in " ._-" for c in service
    ) or service != service.strip():  # fmt: skip
        raise ValueError(
            f"service {service!r}: 1 to {MAX_SERVICE_LENGTH} letters, digits, spaces or "
            "'.', '_', '-', without spaces at either end"
        )


def check_scope(role: str, service: str | None) -> None:
    """An operator's or a supervisor's account must belong to a service (it then sees only
    that service's cameras); administrators and auditors may have none. The administrators'
    interfaces (API and console) apply this rule; the store itself accepts an unscoped account
    of any role, as created before services existed."""
    if service is None and role not in UNSCOPED_ROLES:
        raise ValueError(
            f"{'an' if role[0] in 'aeiou' else 'a'} {role} account needs a service "
            "(it sees only that service's cameras); "
            f"only {' and '.join(UNSCOPED_ROLES)} accounts may have none"
        )


def _check_privilege(role: str, may_view_unblurred: bool) -> None:
    if may_view_unblurred and role == "auditor":
        raise ValueError(
            "an auditor sees no image: the unblurred-view privilege is for operators, "
            "supervisors and administrators"
        )


def hash_password(password: str) -> str:
    _check_password(password)
    return _hasher.hash(password)


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"a password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )


def _check_username(username: str) -> None:
    if not 1 <= len(username) <= 64 or not all(c.isalnum() or c in "._-@" for c in username):
        raise ValueError(f"username {username!r}: 1 to 64 letters, digits or '.', '_', '-', '@'")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against for unknown users so that a wrong name costs as long as a wrong password.
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    s: Session,
    username: str,
    password: str,
    role: str,
    *,
    service: str | None = None,
    training_expires_on: date | None = None,
    habilitation_expires_on: date | None = None,
    may_view_unblurred: bool = False,
    actor: str = SYSTEM,
) -> User:
    """A new active user, journaled as created by `actor` (with its role, service, dates and
    privilege, never its password); ValueError if the name is taken or a field is invalid."""
    _check_username(username)
    _check_role(role)
    check_service(service)
    _check_privilege(role, may_view_unblurred)
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValueError(f"username {username!r} is already taken")
    user = User(
        username=username, password_hash=hash_password(password), role=role, active=True,
        service=service, training_expires_on=training_expires_on,
        habilitation_expires_on=habilitation_expires_on, may_view_unblurred=may_view_unblurred,
    )  # fmt: skip
    s.add(user)
    details: dict[str, Any] = {"role": role}
    if service is not None:
        details["service"] = service
    if training_expires_on is not None:
        details["training_expires_on"] = training_expires_on.isoformat()
    if habilitation_expires_on is not None:
        details["habilitation_expires_on"] = habilitation_expires_on.isoformat()
    if may_view_unblurred:
        details["may_view_unblurred"] = True
    try:
        s.flush()
        journal_append(s, actor, "user.created", f"user:{username}", details)
        s.commit()
    except IntegrityError as exc:
        # Another writer took the name between the check and the commit.
        s.rollback()
        raise ValueError(f"username {username!r} is already taken") from exc
    return user


def get_user(s: Session, user_id: int) -> User | None:
    return s.get(User, user_id)


def get_user_by_name(s: Session, username: str) -> User | None:
    return s.scalar(select(User).where(User.username == username))


def list_users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.username)))


def update_user(
    s: Session,
    user: User,
    *,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
    service: str | Unchanged | None = UNCHANGED,
    training_expires_on: date | Unchanged | None = UNCHANGED,
    habilitation_expires_on: date | Unchanged | None = UNCHANGED,
    may_view_unblurred: bool | None = None,
    actor: str = SYSTEM,
) -> User:
    """Change a user's role, active flag, password, service, training and habilitation dates
    or unblurred-view privilege, journaled as `actor`'s change with the fields changed (the
    journal says a password changed, never what it is). For service and dates, None clears
    the value and `UNCHANGED` (the default) leaves it.

    Deactivating a user or changing their password closes their open sessions; the other
    changes apply to open sessions at their next request.
    """
    details: dict[str, object] = {}
    new_role = user.role if role is None else role
    _check_role(new_role)
    new_privilege = user.may_view_unblurred if may_view_unblurred is None else may_view_unblurred
    _check_privilege(new_role, new_privilege)
    if not isinstance(service, Unchanged):
        check_service(service)
    if role is not None:
        if role != user.role:
            details["role"] = role
        user.role = role
    if not isinstance(service, Unchanged) and service != user.service:
        details["service"] = service
        user.service = service
    for key, value in (
        ("training_expires_on", training_expires_on),
        ("habilitation_expires_on", habilitation_expires_on),
    ):
        if not isinstance(value, Unchanged) and value != getattr(user, key):
            details[key] = None if value is None else value.isoformat()
            setattr(user, key, value)
    if may_view_unblurred is not None and may_view_unblurred != user.may_view_unblurred:
        details["may_view_unblurred"] = may_view_unblurred
        user.may_view_unblurred = may_view_unblurred
    close_all = False
    if password is not None:
        user.password_hash = hash_password(password)
        close_all = True
        details["password_changed"] = True
    if active is not None:
        close_all = close_all or (user.active and not active)
        if active != user.active:
            details["active"] = active
        user.active = active
    if close_all:
        s.execute(delete(WebSession).where(WebSession.user_id == user.id))
        details["sessions_closed"] = True
    if details:
        journal_append(s, actor, "user.updated", f"user:{user.username}", details)
    s.commit()
    return user


def authenticate(
    s: Session, username: str, password: str, *, today: date | None = None
) -> User | None:
    """The active user with this name and password, or None (journaled as a failed login).

    AccessExpired when the name and password are right but the account's training or
    habilitation date has passed, journaled as `session.login_refused` with the reason (only
    then is the reason told: someone without the password learns nothing of the account).

    Unknown names are verified against a dummy hash, so timing does not tell which names
    exist. A hash made with older argon2 parameters is upgraded on a successful login.
    A failure is journaled with the anonymous actor; the name typed is kept only when it is an
    account's (an unknown "name" may be a password typed in the wrong field).
    """
    user = get_user_by_name(s, username)
    if user is None:
        _verify(_dummy_hash(), password)
        _login_failed(s, "session", "unknown account")
        return None
    if not _verify(user.password_hash, password):
        _login_failed(s, f"user:{user.username}", "wrong password")
        return None
    if not user.active:
        _login_failed(s, f"user:{user.username}", "account blocked")
        return None
    passed = expiries(user, today)
    if passed:
        details: dict[str, Any] = {"reason": ", ".join(e.reason for e in passed)}
        for e in passed:
            details[f"{e.what}_expired_on"] = e.expired_on.isoformat()
        journal_append(s, user.username, "session.login_refused", f"user:{user.username}", details)
        s.commit()
        raise AccessExpired(passed)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        s.commit()
    return user


def _login_failed(s: Session, target: str, reason: str) -> None:
    journal_append(s, ANONYMOUS, "session.login_failed", target, {"reason": reason})
    s.commit()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    s: Session, user: User, ttl_s: int = DEFAULT_SESSION_TTL_S
) -> tuple[str, WebSession]:
    """A new console session, journaled as a login: (cookie token for the browser, row)."""
    if ttl_s <= 0:
        raise ValueError("a session's lifetime must be positive")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        token_hash=_token_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    s.add(row)
    s.flush()
    journal_append(s, user.username, "session.login", f"user:{user.username}", {"ttl_s": ttl_s})
    s.commit()
    return token, row


def session_user(
    s: Session, token: str, *, now: datetime | None = None
) -> tuple[User, WebSession] | None:
    """The user and session of a cookie token; None if unknown, expired, the user inactive, or
    their training or habilitation date passed (the session stops working at once)."""
    if not token:
        return None
    now = now or utcnow()
    row = s.scalar(
        select(WebSession).where(
            WebSession.token_hash == _token_hash(token), WebSession.expires_at > now
        )
    )
    if row is None or not row.user.active or expiries(row.user, now.date()):
        return None
    return row.user, row


def session_users(
    s: Session, tokens: Iterable[str], *, now: datetime | None = None
) -> dict[str, User]:
    """`session_user` for many cookie tokens in one query: the user of each token whose
    session is valid (same rules); the others are absent."""
    now = now or utcnow()
    hashes = {_token_hash(t): t for t in tokens if t}
    if not hashes:
        return {}
    rows = s.scalars(
        select(WebSession).where(
            WebSession.token_hash.in_(list(hashes)), WebSession.expires_at > now
        )
    )
    return {
        hashes[row.token_hash]: row.user
        for row in rows
        if row.user.active and not expiries(row.user, now.date())
    }


def check_csrf(web_session: WebSession, token: str | None) -> bool:
    """Whether a submitted CSRF token is this session's (compared in constant time)."""
    return token is not None and hmac.compare_digest(web_session.csrf_token, token)


def close_session(s: Session, token: str) -> None:
    """Log out: forget the session of this token, journaled (nothing happens for an unknown
    token)."""
    row = s.scalar(select(WebSession).where(WebSession.token_hash == _token_hash(token)))
    if row is None:
        return
    username = row.user.username
    s.execute(delete(WebSession).where(WebSession.id == row.id))
    journal_append(s, username, "session.logout", f"user:{username}")
    s.commit()


def purge_expired_sessions(s: Session, *, now: datetime | None = None) -> int:
    """Delete expired sessions; returns how many."""
    result = s.execute(delete(WebSession).where(WebSession.expires_at <= (now or utcnow())))
    s.commit()
    return int(getattr(result, "rowcount", 0) or 0)
