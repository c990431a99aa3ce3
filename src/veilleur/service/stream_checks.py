"""The live streams' access checks, taken together.

Before a live stream sends anything it re-reads its session and its scope (a session ended or a
scope changed applies at once). Done by each stream on its own, one signal cost one database
round per open console: with 200 operators, 200 rounds of two queries per signal, which made
the fan-out the most expensive part of a signal and the first thing to give at 1,000 cameras
(bench/rehearsal.py, docs/scaling.md). The streams woken by one event ask within the same
moment; `StreamChecks` answers all the requests of a short window (2 ms) with one round: one
query for their sessions, one for the services of the cameras concerned. Each answer still
reflects the database after the event was published, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from veilleur import store
from veilleur.service.access import Caller

log = logging.getLogger(__name__)

_Request = tuple[str, frozenset[str], "asyncio.Future[set[str] | None]"]


class StreamChecks:
    """Coalesces the streams' `visible(token, cameras)` checks into one database round per
    window, per event loop."""

    def __init__(self, sessions: sessionmaker[Session], window_s: float = 0.002) -> None:
        self._sessions = sessions
        self._window_s = window_s
        self._pending: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.rounds = 0
        """Database rounds made (each answers every request of its window)."""

    async def visible(self, token: str, cameras: Iterable[str]) -> set[str] | None:
        """Those of `cameras` the session of `token` sees now; None if the session is no
        longer valid (ended, expired, account blocked, training or habilitation passed)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[set[str] | None] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            task = loop.create_task(self._round(loop))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        pending.append((token, frozenset(cameras), future))
        return await future

    async def _round(self, loop: asyncio.AbstractEventLoop) -> None:
        await asyncio.sleep(self._window_s)  # the other streams woken by the same event ask
        requests = self._pending.pop(loop)
        try:
            answers = await asyncio.to_thread(self.check, [(t, c) for t, c, _ in requests])
        except Exception as exc:  # each stream sees the failure, as its own query raised it
            for *_, future in requests:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), answer in zip(requests, answers, strict=True):
            if not future.done():  # a stream cancelled meanwhile (its client left)
                future.set_result(answer)

    def check(self, requests: list[tuple[str, frozenset[str]]]) -> list[set[str] | None]:
        """One database round for many (token, cameras) requests, answered in order."""
        self.rounds += 1
        with self._sessions() as s:
            users = store.session_users(s, {token for token, _ in requests})
            scoped: set[str] = set()
            for token, cameras in requests:
                user = users.get(token)
                if user is not None and user.service is not None:
                    scoped |= cameras
            services: dict[str, list[str]] = {}
            if scoped:
                rows = s.execute(
                    select(store.Camera.name, store.Camera.services).where(
                        store.Camera.name.in_(scoped)
                    )
                )
                services = {name: list(found or []) for name, found in rows}
        answers: list[set[str] | None] = []
        for token, cameras in requests:
            user = users.get(token)
            if user is None:
                answers.append(None)
                continue
            caller = Caller(
                user_id=user.id, username=user.username, role=user.role, csrf_token="",
                service=user.service,
            )  # fmt: skip
            # A scoped account sees a camera only if it exists and is of its service.
            answers.append(
                {c for c in cameras if caller.service is None
                 or (c in services and caller.sees_camera(services[c]))}
            )  # fmt: skip
        return answers
