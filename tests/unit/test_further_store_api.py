"""Further events of a signal's episode through the store, the journal, the API and the live
bus, on SQLite and PostgreSQL: the count and times are kept on the signal, journaled, sent to
the consoles, and never carry anything about who."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_helpers import PLAZA, Env, make_env
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_privacy_capabilities import all_keys, track_keys
from test_store_signals import JPEG, T0, Event

from veilleur.compliance import journal
from veilleur.runtime import AttachedEvent, SignalEvent
from veilleur.store import (
    CalibrationRecord,
    JournalEntry,
    SignalRow,
    attach_further,
    record_signal,
)
from veilleur.store import auth as store_auth
from veilleur.store.calibration import record_calibration
from veilleur.store.models import MAX_FURTHER_TIMES
from veilleur.types import FurtherEvent, Signal

pytest_plugins = ["db_fixtures"]

EPISODE = "1a2b3c4d/wrong_way:40:1"


def signal(camera: str = "plaza", episode: str = EPISODE) -> Signal:
    return Signal(
        situation="wrong_way", camera=camera, zone="lawn", start_s=3.0, end_s=4.0, frame=20,
        bbox=(0.1, 0.5, 0.2, 0.8), confidence=0.82, model="yolox-nano",
        config_version="abc123", episode=episode,
    )  # fmt: skip


def attached(
    start_s: float, camera: str = "plaza", episode: str = EPISODE, when: datetime = T0
) -> AttachedEvent:
    event = FurtherEvent(
        situation="wrong_way", camera=camera, zone="lawn", episode=episode, start_s=start_s,
        end_s=start_s + 2, frame=int(start_s * 5), bbox=(0.5, 0.5, 0.6, 0.8), confidence=0.7,
    )  # fmt: skip
    return AttachedEvent(event=event, wall_time=when)


# --- store --------------------------------------------------------------------------------


def test_further_events_are_counted_timed_and_journaled(
    db_session: Session, data_dir: Path
) -> None:
    row = record_signal(db_session, Event(signal(), JPEG, None, "limits", T0), data_dir)
    assert row.episode == EPISODE and row.further_count == 0 and row.further_times is None
    other = record_signal(
        db_session, Event(signal(episode="1a2b3c4d/wrong_way:90:2"), JPEG, None, "", T0), data_dir
    )
    for i, start in enumerate((9.0, 15.5)):
        updated = attach_further(db_session, attached(start, when=T0 + timedelta(seconds=i + 6)))
        assert updated is not None and updated.id == row.id
    db_session.expire_all()
    stored = db_session.get(SignalRow, row.id)
    assert stored is not None and stored.further_count == 2
    assert stored.further_times == [
        {"start_s": 9.0, "end_s": 11.0, "occurred_at": (T0 + timedelta(seconds=6)).isoformat()},
        {"start_s": 15.5, "end_s": 17.5, "occurred_at": (T0 + timedelta(seconds=7)).isoformat()},
    ]
    untouched = db_session.get(SignalRow, other.id)
    assert untouched is not None and untouched.further_count == 0
    entries = db_session.scalars(
        select(JournalEntry).where(JournalEntry.action == "signal.further_event")
    ).all()
    assert [e.target for e in entries] == [f"signal:{row.id}"] * 2
    details = json.loads(entries[-1].details)
    assert details["count"] == 2 and details["start_s"] == 15.5
    assert track_keys(details) == []
    assert journal.verify(db_session).ok


def test_a_further_event_without_its_signal_is_not_kept(
    db_session: Session, data_dir: Path
) -> None:
    record_signal(db_session, Event(signal(), JPEG, None, "", T0), data_dir)
    # Another camera's, or another process's episode (a refused signal): nothing to attach to.
    assert attach_further(db_session, attached(9.0, camera="north")) is None
    assert attach_further(db_session, attached(9.0, episode="ffffffff/wrong_way:40:1")) is None
    rows = db_session.scalars(select(SignalRow)).all()
    assert [r.further_count for r in rows] == [0]
    with pytest.raises(ValueError, match="episode"):
        attach_further(db_session, attached(9.0, episode=""))


def test_times_are_capped_the_count_is_not(db_session: Session, data_dir: Path) -> None:
    row = record_signal(db_session, Event(signal(), JPEG, None, "", T0), data_dir)
    row.further_times = [{"start_s": 0.0, "end_s": 0.0, "occurred_at": ""}] * MAX_FURTHER_TIMES
    row.further_count = MAX_FURTHER_TIMES
    db_session.commit()
    updated = attach_further(db_session, attached(9.0))
    assert updated is not None and updated.further_count == MAX_FURTHER_TIMES + 1
    assert len(updated.further_times or []) == MAX_FURTHER_TIMES


def test_calibration_records_take_further_events_unjournaled(
    db_session: Session, data_dir: Path
) -> None:
    record_calibration(db_session, Event(signal(), JPEG, None, "", T0), data_dir)
    updated = attach_further(db_session, attached(9.0), CalibrationRecord)
    assert isinstance(updated, CalibrationRecord) and updated.further_count == 1
    assert db_session.scalars(select(SignalRow)).all() == []  # not a signal
    actions = db_session.scalars(select(JournalEntry.action)).all()
    assert "signal.further_event" not in actions


# --- API and live bus -------------------------------------------------------------------


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


def live(sig: Signal) -> SignalEvent:
    return SignalEvent(sig, JPEG, None, "limits", datetime.now(UTC))


def test_the_api_and_the_stream_show_the_count_and_times(env: Env) -> None:
    published: list[dict[str, Any]] = []
    env.bus.publish = published.append  # type: ignore[method-assign]
    env.authorise(["plaza"])
    admin = env.client("administrator")
    assert admin.post("/api/cameras", json={"name": "plaza", "config": PLAZA}).is_success
    env.recorder(live(signal()))
    now = datetime.now(UTC)
    env.recorder.further(attached(9.0, when=now))
    env.recorder.further(attached(12.0, when=now + timedelta(seconds=3)))
    assert env.recorder.failures == 0 and env.recorder.orphans == 0
    operator = env.client("operator")
    listed = operator.get("/api/signals").json()
    assert len(listed) == 1
    sid = listed[0]["id"]
    one = operator.get(f"/api/signals/{sid}").json()
    assert one["further_count"] == 2 and listed[0]["further_count"] == 2
    assert [e["start_s"] for e in one["further_events"]] == [9.0, 12.0]
    assert set(one["further_events"][0]) == {"start_s", "end_s", "occurred_at"}
    assert datetime.fromisoformat(one["further_events"][1]["occurred_at"]) == now + timedelta(
        seconds=3
    )
    assert "episode" not in one  # an internal key, not for the operator
    # The console's card says it.
    card = operator.get(f"/signals/{sid}/card").text
    assert 'class="further" data-count="2"' in card and "<strong>+2</strong>" in card
    assert card.count("<time datetime=") == 3  # the signal's time and the two further events
    # The consoles are told: the whole updated signal, after the signal itself.
    assert [e["type"] for e in published] == ["signal", "further_event", "further_event"]
    assert published[-1]["id"] == sid and published[-1]["signal"]["further_count"] == 2
    assert track_keys(all_keys(published)) == [] and track_keys(all_keys(one)) == []
    # Journaled with the signal, in the export.
    out = io.StringIO()
    with env.sessions() as s:
        assert journal.export(s, out).ok
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["target"] for line in lines if line.get("action") == "signal.further_event"] == [
        f"signal:{sid}"
    ] * 2


def test_further_events_follow_the_signals_rules(env: Env) -> None:
    env.authorise(["plaza"], ["wrong_way"])
    env.recorder(live(signal()))
    # Its signal never stored (another process's episode): dropped, counted, logged.
    now = datetime.now(UTC)
    env.recorder.further(attached(9.0, episode="ffffffff/wrong_way:1:1", when=now))
    assert env.recorder.orphans == 1
    # A camera without an active authorisation (or out of its period): refused like a signal.
    refused = env.recorder.refused
    env.recorder.further(attached(9.0, camera="north", when=now))
    env.recorder.further(attached(9.0, when=now - timedelta(days=1)))
    assert env.recorder.refused == refused + 2 and env.recorder.orphans == 1
    with env.sessions() as s:
        assert [r.further_count for r in s.scalars(select(SignalRow))] == [0]
