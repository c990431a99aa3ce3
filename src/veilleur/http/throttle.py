"""Login throttling, per account and per address (issue 12).

Without it an anonymous client could try passwords as fast as the server answers, and grow the
journal by one entry per try. Now:

- an account name with `ACCOUNT_FAILURES` failed logins within `WINDOW_S` is locked, and so is
  an address (the client's IP as the server sees it) with `ADDRESS_FAILURES`;
- a locked account or address is answered 429 with `Retry-After`, before the password is even
  checked, and nothing is journaled; the lock lasts `LOCK_S`, doubled at each new lock-out of
  the same key up to `MAX_LOCK_S`;
- each lock-out is journaled once (`session.login_locked`), not each refused try;
- a successful login clears its account's failures (not its address's).

State is in memory (a restart forgets it; no table) and bounded: at most `MAX_KEYS` keys, the
least recently seen forgotten first. Behind a reverse proxy every client has the proxy's
address: the per-address limit then applies to all of them together (the proxy should limit
per client itself); the server never trusts X-Forwarded-For, which a client can forge.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from veilleur import store

if TYPE_CHECKING:
    from fastapi import Request
    from sqlalchemy.orm import Session

ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 20
WINDOW_S = 15 * 60.0
LOCK_S = 60.0
MAX_LOCK_S = 15 * 60.0
MAX_KEYS = 10_000


@dataclass
class _Key:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    lockouts: int = 0
    last_lock: float = 0.0


@dataclass(frozen=True)
class Lockout:
    """A new lock-out: of an account name or of an address, for `seconds`."""

    kind: str
    key: str
    seconds: float


class LoginThrottle:
    """See the module's docstring; thread-safe (logins run on the server's worker threads)."""

    def __init__(
        self,
        *,
        account_failures: int = ACCOUNT_FAILURES,
        address_failures: int = ADDRESS_FAILURES,
        window_s: float = WINDOW_S,
        lock_s: float = LOCK_S,
        max_lock_s: float = MAX_LOCK_S,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"account": account_failures, "address": address_failures}
        self.window_s = window_s
        self.lock_s = lock_s
        self.max_lock_s = max_lock_s
        self.max_keys = max_keys
        self.clock = clock
        self._keys: OrderedDict[tuple[str, str], _Key] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, kind: str, key: str) -> _Key:
        k = (kind, key)
        state = self._keys.get(k)
        if state is None:
            state = self._keys[k] = _Key()
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(k)
        return state

    def retry_after(self, account: str, address: str) -> float:
        """Seconds until this account and address may try again (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [
                state.locked_until - now
                for k in (("account", account), ("address", address))
                if (state := self._keys.get(k)) is not None
            ]
        return max([0.0, *waits])

    def failed(self, account: str, address: str) -> list[Lockout]:
        """Count a failed login; returns the lock-outs it starts (journal each once)."""
        now = self.clock()
        started = []
        with self._lock:
            for kind, key in (("account", account), ("address", address)):
                state = self._get(kind, key)
                state.failures.append(now)
                while state.failures and now - state.failures[0] > self.window_s:
                    state.failures.popleft()
                if len(state.failures) >= self.limits[kind] and state.locked_until <= now:
                    if now - state.last_lock > self.window_s + self.max_lock_s:
                        state.lockouts = 0  # a long quiet time: start over from LOCK_S
                    seconds = min(self.lock_s * 2**state.lockouts, self.max_lock_s)
                    state.lockouts += 1
                    state.locked_until = now + seconds
                    state.last_lock = now
                    state.failures.clear()
                    started.append(Lockout(kind, key, seconds))
        return started

    def succeeded(self, account: str) -> None:
        with self._lock:
            state = self._keys.get(("account", account))
            if state is not None:
                state.failures.clear()


class Throttled(Exception):
    """A login refused because its account or address is locked for `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed logins: try again in {self.retry_after} s")


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def throttled_login(
    request: Request, db: Session, username: str, password: str
) -> store.User | None:
    """`store.authenticate` behind the app's `LoginThrottle`: Throttled while the account or
    the address is locked; a failure counted, and a lock-out it starts journaled once."""
    throttle: LoginThrottle = request.app.state.login_throttle
    address = client_address(request)
    wait = throttle.retry_after(username, address)
    if wait > 0:
        raise Throttled(wait)
    user = store.authenticate(db, username, password)  # AccessExpired: not a guess, not counted
    if user is not None:
        throttle.succeeded(username)
        return user
    lockouts = throttle.failed(username, address)
    for lock in lockouts:
        known = lock.kind == "account" and store.get_user_by_name(db, username) is not None
        target = f"user:{username}" if known else "session"
        details: dict[str, object] = {"locked": lock.kind, "seconds": round(lock.seconds)}
        if lock.kind == "address":
            details["address"] = address
        store.journal_append(db, store.journal.ANONYMOUS, "session.login_locked", target, details)
    if lockouts:
        db.commit()
        raise Throttled(throttle.retry_after(username, address))
    return None
