"""Delivery's settings (errors that name the key), webhook signatures, and what the API, the
console and /metrics show of the outbox (never a secret)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Env, make_env
from sqlalchemy import select

from veilleur import store
from veilleur.config import ConfigError
from veilleur.config.delivery import DeliverySettings, load_delivery, parse_delivery
from veilleur.delivery import body_bytes
from veilleur.delivery.webhook import SIGNATURE, TIMESTAMP, signature, verify
from veilleur.delivery.worker import DeliveryWorker
from veilleur.store import outbox
from veilleur.store.models import JournalEntry
from veilleur.store.scopes import set_camera_services

pytest_plugins = ["db_fixtures"]

SECRET = "s3cret-value-never-shown"
HOOK = {"name": "room", "kind": "webhook", "service": "police",
        "url": "https://hooks.example.org/veilleur?token=abc", "secret": SECRET}  # fmt: skip


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_delivery(data)
    return {p.key: p.message for p in info.value.problems}


def test_configuration_errors_name_the_key_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems({"recipients": [{**HOOK, "secret": None}]}) == {
        "recipients.0": "a webhook needs secret_env (or secret): the key of its signature"
    }
    monkeypatch.delenv("VEILLEUR_TEST_HOOK_SECRET", raising=False)
    found = problems({"recipients": [{**HOOK, "secret": None,
                                      "secret_env": "VEILLEUR_TEST_HOOK_SECRET"}]})  # fmt: skip
    assert "VEILLEUR_TEST_HOOK_SECRET" in found["recipients.0"]
    assert "export it" in found["recipients.0"]
    assert (
        "unknown key" in problems({"recipients": [{**HOOK, "secrte": "x"}]})["recipients.0.secrte"]
    )
    assert (
        "must not hold a user"
        in problems({"recipients": [{**HOOK, "url": "https://u:p@example.org/"}]})[
            "recipients.0.url"
        ]
    )
    assert "names must differ" in problems({"recipients": [HOOK, HOOK]})["recipients"]
    mqtt = {"name": "b", "kind": "mqtt", "service": "x", "host": "h", "topic": "a/#"}
    assert "wildcard" in problems({"recipients": [mqtt]})["recipients.0.topic"]
    assert "max_attempts" in problems({"max_attempts": 0})
    assert "recipients.0.kind" in problems({"recipients": [{"name": "x", "kind": "smtp"}]})
    monkeypatch.setenv("VEILLEUR_TEST_HOOK_SECRET", "from-the-environment-1")
    loaded = parse_delivery(
        {"recipients": [{**HOOK, "secret": None, "secret_env": "VEILLEUR_TEST_HOOK_SECRET"}]}
    )
    secret = loaded.recipients[0].secret  # type: ignore[union-attr]
    assert secret is not None and secret.get_secret_value() == "from-the-environment-1"


def test_a_file_s_error_gives_its_line(tmp_path: Path) -> None:
    path = tmp_path / "delivery.yaml"
    path.write_text(
        "max_attempts: 5\nrecipients:\n  - name: room\n    kind: webhook\n    service: police\n"
        "    url: ftp://example.org/\n    secret: 0123456789abcdef\n"
    )
    with pytest.raises(ConfigError) as info:
        load_delivery(path)
    (problem,) = info.value.problems
    assert (problem.key, problem.line) == ("recipients.0.url", 6)
    assert "http:// or https://" in str(info.value)


def test_secrets_never_show_in_repr_or_dumps() -> None:
    loaded = DeliverySettings.model_validate({"recipients": [HOOK]})
    assert SECRET not in repr(loaded)
    assert SECRET not in loaded.model_dump_json()
    assert SECRET not in str(loaded.model_dump())


def test_webhook_signature_is_checked_with_the_timestamp() -> None:
    body = body_bytes("k1", "signal.recorded", {"id": 1})
    now = int(time.time())
    headers = {TIMESTAMP: str(now), SIGNATURE: signature(SECRET.encode(), str(now), body)}
    assert verify(SECRET.encode(), headers, body)
    assert not verify(SECRET.encode(), headers, body.replace(b'"id":1', b'"id":2'))
    assert not verify(b"another secret!!", headers, body)
    assert not verify(SECRET.encode(), headers, body, now=now + 3600)  # a replay, later
    assert not verify(SECRET.encode(), {**headers, TIMESTAMP: "soon"}, body)
    assert json.loads(body) == {
        "schema": "veilleur.delivery/1", "idempotency_key": "k1", "event": "signal.recorded",
        "signal": {"id": 1},
    }  # fmt: skip


class Refusing:
    def send(self, key: str, event: str, payload: dict[str, Any]) -> None:
        from veilleur.delivery import PermanentError

        raise PermanentError("https://hooks.example.org/veilleur answered HTTP 400")

    def close(self) -> None:
        return None


@pytest.fixture
def env(db_url: str, data_dir: Path) -> Iterator[Env]:
    for e in make_env(db_url, data_dir):
        settings = DeliverySettings.model_validate({"recipients": [HOOK]})
        worker = DeliveryWorker(e.sessions, settings, transports={"room": Refusing()})
        e.app.state.delivery = worker
        e.recorder.delivery = worker
        yield e


def test_deliveries_in_the_api_the_console_and_metrics(env: Env) -> None:
    admin = env.client("administrator")
    with env.sessions() as s:
        store.upsert_camera(s, "plaza", {"source": "/videos/plaza.mp4"})
        set_camera_services(s, "plaza", ["police"])
    signal_id = env.signal("plaza")
    worker = env.app.state.delivery
    assert worker.run_once("room") == 1  # refused: dead-lettered at once
    answer = admin.get("/api/deliveries", params={"state": "dead"})
    assert answer.status_code == 200, answer.text
    assert SECRET not in answer.text and "token=abc" not in answer.text
    data = answer.json()
    (recipient,) = data["recipients"]
    assert recipient["target"] == "https://hooks.example.org/veilleur"
    assert (recipient["dead"], recipient["pending"]) == (1, 0)
    (row,) = data["deliveries"]
    assert (row["signal_id"], row["state"], row["attempts"]) == (signal_id, "dead", 1)
    assert row["payload"]["camera"] == "plaza" and "HTTP 400" in row["last_error"]

    page = admin.get("/deliveries")
    assert page.status_code == 200 and "room" in page.text and SECRET not in page.text
    assert f'action="/deliveries/{row["id"]}/retry"' in page.text

    assert env.client("operator").get("/api/deliveries").status_code == 403
    assert env.client("auditor").post(f"/api/deliveries/{row['id']}/retry").status_code == 403
    assert admin.post("/api/deliveries/999999/retry").status_code == 404
    retried = admin.post(f"/api/deliveries/{row['id']}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    assert admin.post(f"/api/deliveries/{row['id']}/retry").status_code == 409
    with env.sessions() as s:
        assert outbox.summary(s)["room"]["pending"] == 1

    worker.refresh_metrics()
    metrics = admin.get("/metrics").text
    assert 'veilleur_delivery_pending{recipient="room"} 1.0' in metrics
    assert 'veilleur_delivery_dead_lettered_total{recipient="room"}' in metrics
    with env.sessions() as s:
        entry = s.scalar(select(JournalEntry).where(JournalEntry.action == "delivery.retried"))
        assert entry is not None and entry.actor == "administrator"


def test_generated_delivery_files_are_accepted_or_refused_naming_keys() -> None:
    """Hundreds of delivery files, sound and absurd: each is a DeliverySettings or a
    ConfigError whose every problem names a key; never another exception."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    wild = st.one_of(
        st.none(), st.booleans(), st.integers(-(10**12), 10**12),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
        st.lists(st.text(max_size=5), max_size=3),
    )  # fmt: skip

    def mostly(sound: Any) -> Any:
        return st.tuples(st.integers(0, 9), sound, wild).map(lambda t: t[1] if t[0] < 7 else t[2])

    hook = st.fixed_dictionaries(
        {"name": mostly(st.from_regex(r"[a-z]{1,8}", fullmatch=True)),
         "kind": mostly(st.sampled_from(["webhook", "mqtt"])),
         "service": mostly(st.just("police")),
         "url": mostly(st.sampled_from(["http://127.0.0.1/h", "https://u:p@x/", "ftp://x"])),
         "secret": mostly(st.sampled_from([SECRET, "short"])),
         "host": mostly(st.just("127.0.0.1")),
         "port": mostly(st.integers(0, 70000)),
         "qos": mostly(st.integers(0, 3)),
         "topic": mostly(st.sampled_from(["a/b", "a/#", "", "/x/"]))},
        optional={"timeout_s": mostly(st.floats(-1, 100)), "bogus": wild},
    )  # fmt: skip
    files = st.fixed_dictionaries(
        {"recipients": mostly(st.lists(hook, max_size=3))},
        optional={
            "max_attempts": mostly(st.integers(-5, 2000)),
            "backoff_initial_s": mostly(st.floats(0, 10)),
            "backoff_max_s": mostly(st.floats(0, 10)),
        },
    )

    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
    @hypothesis.given(files)
    def check(data: dict[str, Any]) -> None:
        try:
            loaded = parse_delivery(data)
        except ConfigError as exc:
            assert exc.problems and all(p.key and p.message for p in exc.problems), exc
            assert SECRET not in str(exc)
            return
        assert SECRET not in repr(loaded)

    check()
