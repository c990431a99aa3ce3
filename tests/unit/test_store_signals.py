"""Signals, media files, qualifications and figures, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from veilleur.store import (
    Review,
    SignalRow,
    User,
    create_user,
    get_signal,
    list_signals,
    make_engine,
    media_file,
    qualify,
    record_signal,
    session_factory,
    signal_stats,
)
from veilleur.types import Signal

pytest_plugins = ["db_fixtures"]

JPEG = bytes(cv2.imencode(".jpg", np.full((36, 64, 3), 90, np.uint8))[1])
# The store checks only the MP4 signature (an ftyp box); it never decodes the clip.
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64)
T0 = datetime(2025, 6, 14, 21, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    """Stands for veilleur.runtime.SignalEvent (same attributes)."""

    signal: Signal
    snapshot_jpeg: bytes
    clip_mp4: bytes | None
    known_limits: str
    wall_time: datetime


def _event(
    situation: str = "zone_intrusion",
    camera: str = "north",
    when: datetime = T0,
    snapshot: bytes = JPEG,
    clip: bytes | None = MP4,
) -> Event:
    signal = Signal(
        situation=situation,
        camera=camera,
        zone="quay",
        start_s=12.5,
        end_s=14.0,
        frame=70,
        bbox=(0.1, 0.2, 0.3, 0.6),
        confidence=0.81,
        model="yolox-nano",
        config_version="abc123def456",
    )
    return Event(signal, snapshot, clip, "Frequent false alarms at dusk.", when)


@pytest.fixture
def operator(db_session: Session) -> User:
    return create_user(db_session, "olga", "operator password", "operator")


def _media_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def test_record_signal_commits_row_and_writes_files(
    db_session: Session, db_engine: Engine, data_dir: Path
) -> None:
    row = record_signal(db_session, _event(), data_dir)
    # Committed: another session (another connection) sees it at once.
    with session_factory(db_engine)() as other:
        stored = other.get(SignalRow, row.id)
        assert stored is not None
        assert (stored.situation, stored.camera, stored.zone) == ("zone_intrusion", "north", "quay")
        assert (stored.start_s, stored.end_s, stored.frame) == (12.5, 14.0, 70)
        assert stored.bbox == pytest.approx([0.1, 0.2, 0.3, 0.6])
        assert stored.confidence == pytest.approx(0.81)
        assert (stored.model, stored.config_version) == ("yolox-nano", "abc123def456")
        assert stored.known_limits == "Frequent false alarms at dusk."
        assert stored.occurred_at == T0 and stored.occurred_at.tzinfo is not None
        assert stored.state == "new" and stored.review is None
    assert row.snapshot_path is not None and row.clip_path is not None
    assert row.snapshot_path.startswith("media/2025/06/14/") and row.snapshot_path.endswith(".jpg")
    assert row.clip_path == row.snapshot_path[:-4] + ".mp4"
    assert media_file(data_dir, row.snapshot_path).read_bytes() == JPEG
    assert media_file(data_dir, row.clip_path).read_bytes() == MP4
    assert len(_media_files(data_dir)) == 2  # no temporary file left behind


def test_media_day_is_the_utc_day(db_session: Session, data_dir: Path) -> None:
    paris_evening = datetime(2025, 6, 15, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    row = record_signal(db_session, _event(when=paris_evening), data_dir)
    assert row.snapshot_path is not None and row.snapshot_path.startswith("media/2025/06/14/")
    assert row.occurred_at == datetime(2025, 6, 14, 22, 30, tzinfo=UTC)


def test_missing_clip_and_snapshot_are_not_stored(db_session: Session, data_dir: Path) -> None:
    row = record_signal(db_session, _event(clip=None), data_dir)
    assert row.clip_path is None and row.snapshot_path is not None
    row = record_signal(db_session, _event(snapshot=b"", clip=None), data_dir)
    assert row.snapshot_path is None and row.clip_path is None
    assert len(_media_files(data_dir)) == 1


def test_files_are_removed_when_commit_fails(
    db_session: Session, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_commit() -> None:
        raise IntegrityError("INSERT", {}, Exception("database refused"))

    monkeypatch.setattr(db_session, "commit", failing_commit)
    with pytest.raises(IntegrityError):
        record_signal(db_session, _event(), data_dir)
    monkeypatch.undo()
    assert _media_files(data_dir) == []
    assert list_signals(db_session) == []


def test_files_are_removed_when_the_database_refuses_the_row(
    empty_db_url: str, data_dir: Path
) -> None:
    # A real refusal by the database: the signals table is not there.
    engine = make_engine(empty_db_url)
    try:
        with session_factory(engine)() as s, pytest.raises(DBAPIError, match="signals"):
            record_signal(s, _event(), data_dir)
    finally:
        engine.dispose()
    assert _media_files(data_dir) == []


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_event(snapshot=b"not a jpeg"), "JPEG"),
        (_event(clip=b"not an mp4 file"), "MP4"),
        (_event(situation="loitering"), "situation"),
        (_event(when=datetime(2025, 6, 14, 21, 30)), "aware"),
    ],
)
def test_bad_events_are_refused(
    db_session: Session, data_dir: Path, event: Event, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        record_signal(db_session, event, data_dir)
    assert _media_files(data_dir) == []
    assert list_signals(db_session) == []


def test_media_file_stays_in_the_media_folder(data_dir: Path) -> None:
    assert (
        media_file(data_dir, "media/2025/01/01/a.jpg")
        == (data_dir / "media/2025/01/01/a.jpg").resolve()
    )
    for bad in ("veilleur.db", "media/../veilleur.db", "/etc/passwd", "../x/media/a.jpg"):
        with pytest.raises(ValueError):
            media_file(data_dir, bad)


def test_list_filters_and_keyset_pages(db_session: Session, data_dir: Path, operator: User) -> None:
    ids = []
    for i in range(6):
        event = _event(
            camera="north" if i % 2 == 0 else "south",
            situation="fire_start" if i < 3 else "zone_intrusion",
            when=T0 + timedelta(minutes=i),
            clip=None,
        )
        ids.append(record_signal(db_session, event, data_dir).id)
    assert [r.id for r in list_signals(db_session)] == ids[::-1]
    assert [r.id for r in list_signals(db_session, camera="south")] == [ids[5], ids[3], ids[1]]
    assert [r.id for r in list_signals(db_session, situation="fire_start")] == ids[2::-1]
    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=4)
    assert [r.id for r in list_signals(db_session, since=since, until=until)] == [ids[3], ids[2]]
    qualify(db_session, ids[4], operator, "confirmed")
    assert [r.id for r in list_signals(db_session, state="qualified")] == [ids[4]]
    assert len(list_signals(db_session, state="new")) == 5

    pages, before = [], None
    while page := list_signals(db_session, limit=4, before_id=before):
        pages.append([r.id for r in page])
        before = page[-1].id
    assert pages == [ids[:1:-1], ids[1::-1]]

    with pytest.raises(ValueError, match="limit"):
        list_signals(db_session, limit=0)
    with pytest.raises(ValueError, match="state"):
        list_signals(db_session, state="done")


def test_qualify_once(db_session: Session, data_dir: Path, operator: User) -> None:
    row = record_signal(db_session, _event(), data_dir)
    review = qualify(db_session, row.id, operator, "false_alarm", "  reflection on the glass ")
    assert review.id is not None and review.user_id == operator.id
    assert (review.verdict, review.comment) == ("false_alarm", "reflection on the glass")
    db_session.expire_all()
    stored = get_signal(db_session, row.id)
    assert stored is not None and stored.state == "qualified"
    assert stored.review is not None and stored.review.verdict == "false_alarm"
    assert stored.review.user.username == "olga"
    other = create_user(db_session, "sam", "supervisor password", "supervisor")
    with pytest.raises(ValueError, match="already qualified"):
        qualify(db_session, row.id, other, "confirmed")
    assert len(db_session.scalars(select(Review)).all()) == 1


def test_qualify_refuses_bad_input(db_session: Session, data_dir: Path, operator: User) -> None:
    row = record_signal(db_session, _event(), data_dir)
    with pytest.raises(ValueError, match="verdict"):
        qualify(db_session, row.id, operator, "threat")
    with pytest.raises(ValueError, match="comment"):
        qualify(db_session, row.id, operator, "confirmed", "x" * 2001)
    with pytest.raises(LookupError):
        qualify(db_session, row.id + 1000, operator, "confirmed")
    review = qualify(db_session, row.id, operator, "not_actionable", "   ")
    assert review.comment is None


def test_one_review_per_signal_in_the_schema(
    db_session: Session, data_dir: Path, operator: User
) -> None:
    row = record_signal(db_session, _event(), data_dir)
    insert = text(
        "INSERT INTO reviews (signal_id, user_id, verdict, created_at) "
        "VALUES (:s, :u, 'confirmed', '2025-06-14 22:00:00')"
    )
    db_session.execute(insert, {"s": row.id, "u": operator.id})
    with pytest.raises(IntegrityError):
        db_session.execute(insert, {"s": row.id, "u": operator.id})
    db_session.rollback()


def test_two_operators_at_once_only_one_qualifies(
    db_engine: Engine, db_session: Session, data_dir: Path, operator: User
) -> None:
    row = record_signal(db_session, _event(), data_dir)
    other = create_user(db_session, "sam", "supervisor password", "supervisor")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(user: User, verdict: str) -> None:
        with session_factory(db_engine)() as s:
            barrier.wait()
            try:
                qualify(s, row.id, user, verdict)
                outcomes.append("ok")
            except ValueError:
                outcomes.append("refused")

    threads = [
        threading.Thread(target=attempt, args=(operator, "confirmed")),
        threading.Thread(target=attempt, args=(other, "false_alarm")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["ok", "refused"]
    assert len(db_session.scalars(select(Review)).all()) == 1


def test_signal_stats(
    db_session: Session, db_engine: Engine, data_dir: Path, operator: User
) -> None:
    day2 = T0 + timedelta(hours=3)  # 00:30 UTC the next day
    plan = [
        ("fire_start", "north", T0, "confirmed"),
        ("fire_start", "north", T0, "false_alarm"),
        ("fire_start", "north", T0, None),
        ("fire_start", "south", T0, "not_actionable"),
        ("zone_intrusion", "north", T0, "false_alarm"),
        ("fire_start", "north", day2, None),
    ]
    for situation, camera, when, verdict in plan:
        row = record_signal(db_session, _event(situation, camera, when, clip=None), data_dir)
        if verdict:
            qualify(db_session, row.id, operator, verdict)

    def item(day: str, situation: str, camera: str, *counts: int) -> dict[str, object]:
        keys = ("signals", "confirmed", "false_alarm", "not_actionable", "pending")
        return {
            "day": day,
            "situation": situation,
            "camera": camera,
            **dict(zip(keys, counts, strict=True)),
        }

    expected = [
        item("2025-06-14", "fire_start", "north", 3, 1, 1, 0, 1),
        item("2025-06-14", "fire_start", "south", 1, 0, 0, 1, 0),
        item("2025-06-14", "zone_intrusion", "north", 1, 0, 1, 0, 0),
        item("2025-06-15", "fire_start", "north", 1, 0, 0, 0, 1),
    ]
    assert signal_stats(db_session) == expected
    assert signal_stats(db_session, since=day2) == expected[3:]
    assert signal_stats(db_session, until=day2) == expected[:3]
    assert signal_stats(db_session, camera="south") == [expected[1]]
    assert signal_stats(db_session, situation="zone_intrusion") == [expected[2]]
    assert signal_stats(db_session, since=day2 + timedelta(days=1)) == []
    if db_engine.dialect.name == "postgresql":
        # Days are UTC days whatever the connection's time zone.
        with session_factory(db_engine)() as s:
            s.execute(text("SET TIME ZONE 'Pacific/Auckland'"))
            assert signal_stats(s) == expected


def test_qualify_sees_a_qualification_made_elsewhere(
    db_engine: Engine, db_session: Session, data_dir: Path, operator: User
) -> None:
    row = record_signal(db_session, _event(), data_dir)
    assert get_signal(db_session, row.id) is row  # held, unexpired, in this session
    with session_factory(db_engine)() as other:
        qualify(other, row.id, operator, "confirmed")
    with pytest.raises(ValueError, match="already qualified"):
        qualify(db_session, row.id, operator, "false_alarm")
    refreshed = get_signal(db_session, row.id)
    assert refreshed is not None and refreshed.state == "qualified"
