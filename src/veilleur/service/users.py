"""Users and their scopes (SPEC S9, S11): creating and changing accounts, each rule once.

The scope rule (operators and supervisors need a service) binds when an account is created
and when its role or service changes; an administrator cannot lock themselves out.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from veilleur import store
from veilleur.service.access import ADMINISTRATOR, Caller
from veilleur.service.errors import Invalid, NotFound
from veilleur.store.auth import UNCHANGED, Unchanged, check_scope


class SelfLockout(Invalid):
    """An administrator blocking or demoting their own account (the console words it its way)."""


def _service(value: str | None) -> str | None:
    return (value or "").strip() or None


def list_users(db: Session) -> list[store.User]:
    """Every account (account management is not scoped, SPEC S9)."""
    return store.list_users(db)


def create_user(
    db: Session,
    caller: Caller,
    *,
    username: str,
    password: str,
    role: str,
    service: str | None,
    training_expires_on: date | None,
    habilitation_expires_on: date | None,
    may_view_unblurred: bool,
) -> store.User:
    """Create an account (operators and supervisors need a service); Invalid otherwise."""
    try:
        check_scope(role, _service(service))
        return store.create_user(
            db, username, password, role, service=_service(service),
            training_expires_on=training_expires_on,
            habilitation_expires_on=habilitation_expires_on,
            may_view_unblurred=may_view_unblurred, actor=caller.username,
        )  # fmt: skip
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def update_user(
    db: Session,
    caller: Caller,
    user_id: int,
    *,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
    service: str | Unchanged | None = UNCHANGED,
    training_expires_on: date | Unchanged | None = UNCHANGED,
    habilitation_expires_on: date | Unchanged | None = UNCHANGED,
    may_view_unblurred: bool | None = None,
) -> store.User:
    """Change an account (None and UNCHANGED leave a field as it is; a service given as None
    or blank removes it). NotFound, SelfLockout, Invalid."""
    user = store.get_user(db, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if user_id == caller.user_id and (active is False or role not in (None, ADMINISTRATOR)):
        raise SelfLockout("you cannot lock yourself out; ask another administrator")
    if not isinstance(service, Unchanged):
        service = _service(service)
    try:
        if (role is not None and role != user.role) or (
            not isinstance(service, Unchanged) and service != user.service
        ):
            # The scope rule binds when role or service changes; other changes to an account
            # made before services existed do not force one.
            check_scope(
                role or user.role, user.service if isinstance(service, Unchanged) else service
            )
        return store.update_user(
            db, user, role=role, active=active, password=password, service=service,
            training_expires_on=training_expires_on,
            habilitation_expires_on=habilitation_expires_on,
            may_view_unblurred=may_view_unblurred, actor=caller.username,
        )  # fmt: skip
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def deactivate_user(db: Session, caller: Caller, user_id: int) -> None:
    """Deactivate an account (its qualifications stay attributed); not one's own."""
    user = store.get_user(db, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if user_id == caller.user_id:
        raise Invalid("you cannot deactivate your own account")
    store.update_user(db, user, active=False, actor=caller.username)
