"""The whole API under schemathesis (issue 12), as an administrator and anonymously, on SQLite
and PostgreSQL: requests generated from the OpenAPI document, valid and not, must never answer
5xx, and every answer must be one the document describes (status code, content type, JSON
schema). Kept small enough for CI (`EXAMPLES` per operation; under a minute for all four runs).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Env, make_env
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import update

from veilleur import store
from veilleur.store import auth as store_auth
from veilleur.store.models import User

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

pytest_plugins = ["db_fixtures"]

EXAMPLES = 20
#: The fuzzing administrator's id: far from the small ids the generator favours, so that a
#: generated PUT/DELETE /api/users/{id} does not block the account the run is made with.
FUZZ_ADMIN_ID = 1_000_003
#: Operations the administrator's run leaves out: they end its own session. The anonymous run
#: covers them.
SESSION_ENDING = {"DELETE /api/session"}


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


def fuzz_admin(env: Env) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and cookies of a logged-in administrator with a far-away id."""
    with env.sessions() as s:
        user = store.create_user(s, "fuzz-admin", "fuzz password 123", "administrator")
        s.execute(update(User).where(User.id == user.id).values(id=FUZZ_ADMIN_ID))
        s.commit()
    c = TestClient(env.app)
    env.clients.append(c)
    r = c.post("/api/session", json={"username": "fuzz-admin", "password": "fuzz password 123"})
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf_token"]}, dict(c.cookies)


@pytest.mark.parametrize("who", ["administrator", "anonymous"])
def test_every_answer_is_documented_and_none_is_a_server_error(env: Env, who: str) -> None:
    env.signal()  # something to read, qualify and purge
    env.authorise(["plaza"])
    headers, cookies = fuzz_admin(env) if who == "administrator" else ({}, {})
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", env.app)
    errors: dict[str, tuple[int, Any, str]] = {}
    statuses: collections.Counter[int] = collections.Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label
        if label == "GET /api/signals/stream" or (who != "anonymous" and label in SESSION_ENDING):
            continue  # the stream stays open (tests/unit/test_api.py reads it)
        operations += 1
        run_operation(operation, label, headers, cookies, errors, statuses)
    assert operations >= 40
    assert errors == {}, errors
    if who == "administrator":
        # The run was made logged in: most answers are not 401.
        assert statuses[401] < sum(statuses.values()) / 10, statuses


def run_operation(
    operation: Any,
    label: str,
    headers: dict[str, str],
    cookies: dict[str, str],
    errors: dict[str, tuple[int, Any, str]],
    statuses: collections.Counter[int],
) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call(headers=headers, cookies=cookies)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks)
        except Exception as failure:  # a FailureGroup: what does not match, and why
            sent = (case.path_parameters, case.query, case.body)
            why = " | ".join(line.strip() for line in str(failure).splitlines() if line.strip())
            errors.setdefault(label, (response.status_code, sent, why[:400]))

    run()
