"""Many operators' live streams at once, on SQLite and PostgreSQL: more streams than the
database pool has connections all open and receive, a burst reaches a stream in one write, and
the streams' session and scope checks share one database round (bench/rehearsal.py found each
of these costs first; docs/scaling.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from api_helpers import PLAZA, Env, LiveServer, make_env
from argon2 import PasswordHasher

from veilleur import store
from veilleur.service.stream_checks import StreamChecks
from veilleur.store import auth as store_auth

pytest_plugins = ["db_fixtures"]

#: More than the connections SQLAlchemy's default pool gives (5 + 10 overflow).
STREAMS = 20


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


def _camera(env: Env, name: str, services: list[str]) -> None:
    env.authorise([name])
    r = env.client("administrator").post(
        "/api/cameras", json={"name": name, "config": PLAZA, "services": services}
    )
    assert r.status_code == 201, r.text


def _token(env: Env, username: str, service: str | None = None) -> str:
    with env.sessions() as s:
        user = store.get_user_by_name(s, username) or store.create_user(
            s, username, "long-enough-password", "operator", service=service
        )
        return store.open_session(s, user)[0]


def _signals(lines: Iterator[str], count: int) -> list[int]:
    ids: list[int] = []
    for line in lines:
        if line.startswith("id: "):
            ids.append(int(line[4:]))
            if len(ids) == count:
                break
    return ids


def test_more_streams_than_database_connections_open_and_receive(env: Env) -> None:
    _camera(env, "plaza", [])
    tokens = [_token(env, "operator") for _ in range(STREAMS)]
    with LiveServer(env.app) as server, ExitStack() as stack:
        streams = []
        for token in tokens:
            # A stream held its request's pooled connection for its whole life: the 16th
            # waited for one (30 s) and failed. The timeout makes that a quick failure here.
            http = stack.enter_context(
                httpx.Client(base_url=server.url, cookies={"veilleur_session": token}, timeout=10)
            )
            stream = stack.enter_context(http.stream("GET", "/api/signals/stream"))
            assert stream.status_code == 200
            streams.append(stream)
        sid = env.signal()
        for stream in streams:
            assert _signals(stream.iter_lines(), 1) == [sid]


def test_a_burst_reaches_a_stream_in_order_and_once(env: Env) -> None:
    _camera(env, "plaza", [])
    token = _token(env, "operator")
    with (
        LiveServer(env.app) as server,
        httpx.Client(base_url=server.url, cookies={"veilleur_session": token}, timeout=10) as http,
        http.stream("GET", "/api/signals/stream") as stream,
    ):
        ids = [env.signal() for _ in range(30)]  # queued faster than the stream sends
        assert _signals(stream.iter_lines(), 30) == ids


def test_the_streams_checks_share_one_round_and_apply_scope_and_logout(env: Env) -> None:
    _camera(env, "plaza", ["west"])
    _camera(env, "gate", ["east"])
    everyone = _token(env, "operator")
    east = _token(env, "olga", service="east")
    gone = _token(env, "wendy", service="west")
    with env.sessions() as s:
        store.close_session(s, gone)
    checks = StreamChecks(env.sessions)
    cameras = {"plaza", "gate", "deleted"}

    async def ask() -> list[set[str] | None]:
        return list(
            await asyncio.gather(
                checks.visible(everyone, cameras),
                checks.visible(east, cameras),
                checks.visible(gone, cameras),
                checks.visible("not-a-token", cameras),
                checks.visible(east, set()),
            )
        )

    answers = asyncio.run(ask())
    # An account without a service sees every camera; a scoped one only those of its
    # service that exist; an ended or unknown session nothing at all.
    assert answers == [cameras, {"gate"}, None, None, set()]
    assert checks.rounds == 1
    with env.sessions() as s:
        store.close_session(s, east)
    assert asyncio.run(checks.visible(east, cameras)) is None  # at once, on the next check
    assert checks.rounds == 2


def test_a_stream_sends_nothing_once_its_session_ended(env: Env) -> None:
    _camera(env, "plaza", [])
    token = _token(env, "operator")
    with (
        LiveServer(env.app) as server,
        httpx.Client(base_url=server.url, cookies={"veilleur_session": token}, timeout=10) as http,
        http.stream("GET", "/api/signals/stream") as stream,
    ):
        lines = stream.iter_lines()
        first = env.signal()
        assert _signals(lines, 1) == [first]
        with env.sessions() as s:
            store.close_session(s, token)
        env.signal()
        rest = [line for line in lines if line.startswith("id: ")]
        assert rest == []  # the stream ended without sending the second signal
