"""Who is calling, and may they: cookie sessions, roles, CSRF.

Every route declares the roles allowed to call it with `Depends(allow(...))`. A console session
is a random token in an HttpOnly, SameSite=Strict cookie; the database keeps only its hash and
the session's CSRF token, which every state-changing request must echo (form field
`csrf_token` or header `X-CSRF-Token`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from veilleur import store
from veilleur.service.access import ROLES, Caller, Forbidden, LoginRequired

COOKIE = "veilleur_session"
LOGIN_CSRF_COOKIE = "veilleur_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as s:
        yield s


Db = Annotated[Session, Depends(get_db)]


def current_caller(request: Request, db: Db) -> Caller | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    found = store.session_user(db, token)
    if found is None:
        return None
    user, web_session = found
    if not user.active:
        return None
    return Caller(
        user_id=user.id, username=user.username, role=user.role,
        csrf_token=web_session.csrf_token, service=user.service,
        may_view_unblurred=user.may_view_unblurred,
    )  # fmt: skip


async def _sent_csrf(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it: the route still reads its fields
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def csrf_ok(expected: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(expected.encode(), sent.encode())


def allow(*roles: str) -> Callable[..., Awaitable[Caller]]:
    """Dependency: the caller, if logged in with one of `roles`; for a state-changing method,
    also the session's CSRF token."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def dependency(
        request: Request, caller: Annotated[Caller | None, Depends(current_caller)]
    ) -> Caller:
        if caller is None:
            raise LoginRequired
        if caller.role not in roles:
            raise Forbidden(
                f"the role '{caller.role}' may not do this; it needs one of: {', '.join(roles)}"
            )
        if request.method not in SAFE_METHODS and not csrf_ok(
            caller.csrf_token, await _sent_csrf(request)
        ):
            raise Forbidden(
                "the CSRF token is missing or wrong; reload the page and try again "
                f"(API clients send the session's token in the {CSRF_HEADER} header)"
            )
        return caller

    dependency.__name__ = "allow_" + "_".join(roles)
    return dependency


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
