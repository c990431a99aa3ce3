"""Users, argon2 passwords and console sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.store import (
    User,
    WebSession,
    authenticate,
    check_csrf,
    close_session,
    create_user,
    get_user_by_name,
    list_users,
    open_session,
    purge_expired_sessions,
    session_user,
    update_user,
)
from veilleur.store import auth as auth_module
from veilleur.store.models import utcnow

pytest_plugins = ["db_fixtures"]

PASSWORD = "correct horse battery"


def test_create_user_hashes_with_argon2(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "operator")
    assert user.id is not None and user.active and user.role == "operator"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert [u.username for u in list_users(db_session)] == ["alice"]


def test_usernames_are_unique(db_session: Session) -> None:
    create_user(db_session, "alice", PASSWORD, "operator")
    with pytest.raises(ValueError, match="already taken"):
        create_user(db_session, "alice", "another password", "auditor")
    assert len(list_users(db_session)) == 1


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("bob", PASSWORD, "root", "role"),
        ("bob", "short", "operator", "password"),
        ("", PASSWORD, "operator", "username"),
        ("bob smith", PASSWORD, "operator", "username"),
    ],
)
def test_invalid_users_are_refused(
    db_session: Session, username: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        create_user(db_session, username, password, role)
    assert list_users(db_session) == []


def test_authenticate(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "supervisor")
    assert authenticate(db_session, "alice", PASSWORD) == user
    assert authenticate(db_session, "alice", PASSWORD + "!") is None
    assert authenticate(db_session, "nobody", PASSWORD) is None
    update_user(db_session, user, active=False)
    assert authenticate(db_session, "alice", PASSWORD) is None


def test_unknown_user_still_costs_a_hash_verification(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_user(db_session, "alice", PASSWORD, "operator")
    verified: list[str] = []
    real_verify = auth_module._verify

    def spy(hashed: str, password: str) -> bool:
        verified.append(hashed)
        return real_verify(hashed, password)

    monkeypatch.setattr(auth_module, "_verify", spy)
    assert authenticate(db_session, "nobody", PASSWORD) is None
    assert authenticate(db_session, "alice", "wrong password") is None
    assert len(verified) == 2 and all(h.startswith("$argon2id$") for h in verified)


def test_old_parameters_are_rehashed_on_login(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "operator")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    db_session.commit()
    assert authenticate(db_session, "alice", PASSWORD) == user
    db_session.expire_all()
    stored = get_user_by_name(db_session, "alice")
    assert stored is not None and stored.password_hash != weak
    assert not PasswordHasher().check_needs_rehash(stored.password_hash)
    assert authenticate(db_session, "alice", PASSWORD) == stored


def test_session_token_is_stored_only_as_its_hash(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "operator")
    token, row = open_session(db_session, user)
    assert len(token) >= 43  # 32 random bytes, urlsafe base64
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = db_session.scalars(select(WebSession)).one()
    assert token not in (stored.token_hash, stored.csrf_token)
    found = session_user(db_session, token)
    assert found is not None
    assert found[0] == user and found[1].id == row.id
    assert row.expires_at - row.created_at == timedelta(hours=8)
    assert row.expires_at.tzinfo is not None


def test_sessions_expire(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "operator")
    token, _ = open_session(db_session, user, ttl_s=60)
    assert session_user(db_session, token, now=utcnow() + timedelta(seconds=30)) is not None
    assert session_user(db_session, token, now=utcnow() + timedelta(seconds=61)) is None
    assert purge_expired_sessions(db_session, now=utcnow() + timedelta(seconds=61)) == 1
    assert db_session.scalars(select(WebSession)).all() == []


def test_unknown_and_closed_sessions(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "operator")
    token, _ = open_session(db_session, user)
    other, _ = open_session(db_session, user)
    assert session_user(db_session, "not-a-token") is None
    assert session_user(db_session, "") is None
    close_session(db_session, token)
    assert session_user(db_session, token) is None
    assert session_user(db_session, other) is not None
    close_session(db_session, "not-a-token")  # logging out twice is harmless


def test_deactivation_and_password_change_close_sessions(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "operator")
    token, _ = open_session(db_session, user)
    update_user(db_session, user, password="a brand new password")
    assert session_user(db_session, token) is None
    assert authenticate(db_session, "alice", PASSWORD) is None
    assert authenticate(db_session, "alice", "a brand new password") == user
    token, _ = open_session(db_session, user)
    update_user(db_session, user, role="administrator")
    assert session_user(db_session, token) is not None
    update_user(db_session, user, active=False)
    assert session_user(db_session, token) is None
    with pytest.raises(ValueError, match="role"):
        update_user(db_session, user, role="king")


def test_each_session_has_its_own_csrf_token(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "operator")
    _, first = open_session(db_session, user)
    _, second = open_session(db_session, user)
    assert first.csrf_token != second.csrf_token and len(first.csrf_token) >= 43
    assert check_csrf(first, first.csrf_token)
    assert not check_csrf(first, second.csrf_token)
    assert not check_csrf(first, None)
    assert not check_csrf(first, "")


def test_open_session_needs_a_positive_lifetime(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "operator")
    with pytest.raises(ValueError):
        open_session(db_session, user, ttl_s=0)


def test_deleting_a_user_deletes_their_sessions(db_session: Session) -> None:
    user = create_user(db_session, "alice", PASSWORD, "operator")
    open_session(db_session, user)
    db_session.delete(user)
    db_session.commit()
    assert db_session.scalars(select(WebSession)).all() == []
    assert db_session.scalars(select(User)).all() == []
