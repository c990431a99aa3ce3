"""Signals, their media files, qualifications and figures.

A signal is committed to the database before `record_signal` returns, so whoever is told about
it afterwards (the console, a sink) can always read it back. Its snapshot and clip, already
blurred by the camera worker (SPEC S6), are written under `data_dir/media/YYYY/MM/DD/`; files of
a signal whose row could not be committed are removed. Mutating functions commit.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import ColumnElement, FunctionElement, Select, String, case, func, select
from sqlalchemy.exc import CompileError, IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from veilleur.config.common import SITUATION_IDS
from veilleur.store.journal import SYSTEM
from veilleur.store.journal import append as journal_append
from veilleur.store.models import (
    MAX_FURTHER_TIMES,
    SIGNAL_STATES,
    VERDICTS,
    MissedReport,
    Review,
    SignalFields,
    SignalRow,
    User,
)

log = logging.getLogger(__name__)

MEDIA_DIR = "media"
#: Write errors of a full disk (or quota): the signal is stored without its media.
MEDIA_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
MAX_LIST_LIMIT = 1000
MAX_COMMENT_LENGTH = 2000


class SignalLike(Protocol):
    """What the store reads of a `veilleur.types.Signal`."""

    @property
    def situation(self) -> str: ...
    @property
    def camera(self) -> str: ...
    @property
    def zone(self) -> str | None: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def frame(self) -> int: ...
    @property
    def bbox(self) -> Sequence[float]: ...
    @property
    def confidence(self) -> float: ...
    @property
    def model(self) -> str: ...
    @property
    def config_version(self) -> str: ...
    @property
    def episode(self) -> str: ...


class FurtherEventLike(Protocol):
    """What the store reads of a `veilleur.types.FurtherEvent`."""

    @property
    def situation(self) -> str: ...
    @property
    def camera(self) -> str: ...
    @property
    def episode(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


class AttachedEventLike(Protocol):
    """What the store reads of a `veilleur.runtime.AttachedEvent`."""

    @property
    def event(self) -> FurtherEventLike: ...
    @property
    def wall_time(self) -> datetime: ...


class SignalEventLike(Protocol):
    """What the store reads of a `veilleur.runtime.SignalEvent`."""

    @property
    def signal(self) -> SignalLike: ...
    @property
    def snapshot_jpeg(self) -> bytes: ...
    @property
    def clip_mp4(self) -> bytes | None: ...
    @property
    def known_limits(self) -> str: ...
    @property
    def wall_time(self) -> datetime: ...


def media_file(data_dir: Path, relative: str) -> Path:
    """The absolute path of a stored snapshot or clip; ValueError if it leaves the media folder."""
    media = (Path(data_dir) / MEDIA_DIR).resolve()
    path = (Path(data_dir) / relative).resolve()
    if not path.is_relative_to(media):
        raise ValueError(f"{relative!r} is not a media file of {data_dir}")
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    # Readers (the console) never see a half-written file: write aside, then rename.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_event(event: SignalEventLike) -> None:
    signal = event.signal
    if signal.situation not in SITUATION_IDS:
        raise ValueError(f"unknown situation {signal.situation!r}")
    bbox = [float(v) for v in signal.bbox]
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        raise ValueError(f"bbox must be 4 finite numbers, got {signal.bbox!r}")
    if not math.isfinite(float(signal.confidence)):
        raise ValueError("confidence must be finite")
    if event.wall_time.tzinfo is None:
        raise ValueError("wall_time must be an aware (UTC) datetime")
    if event.snapshot_jpeg and not event.snapshot_jpeg.startswith(b"\xff\xd8\xff"):
        raise ValueError("snapshot_jpeg is not a JPEG image")
    if event.clip_mp4 and event.clip_mp4[4:8] != b"ftyp":
        raise ValueError("clip_mp4 is not an MP4 file")


def signal_columns(
    signal: SignalLike, occurred_at: datetime, snapshot_path: str | None
) -> dict[str, Any]:
    """The `SignalFields` columns of a row for `signal` (a stored signal or a calibration
    record), as plain database values."""
    return {
        "situation": signal.situation,
        "camera": signal.camera,
        "zone": signal.zone,
        "start_s": float(signal.start_s),
        "end_s": float(signal.end_s),
        "frame": int(signal.frame),
        "bbox": [float(v) for v in signal.bbox],
        "confidence": float(signal.confidence),
        "model": signal.model,
        "config_version": signal.config_version,
        "occurred_at": occurred_at,
        "snapshot_path": snapshot_path,
        "episode": signal.episode or None,
    }


def record_signal(
    s: Session,
    event: SignalEventLike,
    data_dir: Path,
    *,
    before_commit: Callable[[Session, SignalRow], None] | None = None,
) -> SignalRow:
    """Write the signal's snapshot and clip, then commit its row with its journal entry;
    returns the committed row. A signal handed over again whose episode is already stored
    (its first commit went through but its acknowledgement was lost) is not stored twice:
    the stored row is returned. `before_commit` adds to the same transaction (the delivery
    outbox's rows, docs/delivery.md): all is committed, or nothing.

    An empty snapshot (no blurred image could be made) or a missing clip is simply not stored;
    a picture the media disk has no room for is not either (the journal entry says so) rather
    than losing the signal. If anything else fails, the files written for this signal are
    removed and the error raised.
    """
    with media_transaction(s) as written:
        return add_signal(s, event, data_dir, written, before_commit=before_commit)


@contextmanager
def media_transaction(s: Session) -> Iterator[list[Path]]:
    """Commit the session's transaction at the end of the block; if anything fails, roll it
    back and remove the media files written for it, whose paths the block adds to the list it
    is given (`add_signal`'s `written`), then raise."""
    written: list[Path] = []
    try:
        yield written
        s.commit()
    except BaseException:
        s.rollback()
        for path in written:
            path.unlink(missing_ok=True)
        raise


def add_signal(
    s: Session,
    event: SignalEventLike,
    data_dir: Path,
    written: list[Path],
    *,
    before_commit: Callable[[Session, SignalRow], None] | None = None,
) -> SignalRow:
    """`record_signal` without the commit: the media files are written (their paths added to
    `written`, for the caller to remove if its transaction fails) and the row, its journal
    entry and `before_commit`'s rows added to the session's transaction."""
    _check_event(event)
    signal = event.signal
    if signal.episode:
        # Handed over again after a commit whose acknowledgement was lost (the database went
        # away at that moment): the signal is already stored, once.
        stored = s.scalars(
            select(SignalRow)
            .where(
                SignalRow.camera == signal.camera,
                SignalRow.situation == signal.situation,
                SignalRow.episode == signal.episode,
            )
            .limit(1)
        ).first()
        if stored is not None:
            return stored
    occurred_at = event.wall_time.astimezone(UTC)
    day = Path(MEDIA_DIR, f"{occurred_at:%Y}", f"{occurred_at:%m}", f"{occurred_at:%d}")
    stem = uuid.uuid4().hex
    media_error: str | None = None
    snapshot_path = clip_path = None
    for data, suffix in ((event.snapshot_jpeg, ".jpg"), (event.clip_mp4, ".mp4")):
        if not data:
            continue
        relative = day / f"{stem}{suffix}"
        target = Path(data_dir) / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(target, data)
        except OSError as exc:
            if exc.errno not in MEDIA_DISK_FULL:
                raise
            # A full media disk must not cost the signal itself: it is stored without
            # this picture, and the journal says why.
            media_error = os.strerror(exc.errno or errno.ENOSPC)
            log.error("signal of camera %s stored without its %s: %s", signal.camera,
                      suffix, media_error)  # fmt: skip
            continue
        written.append(target)
        if suffix == ".jpg":
            snapshot_path = relative.as_posix()
        else:
            clip_path = relative.as_posix()
    row = SignalRow(
        **signal_columns(signal, occurred_at, snapshot_path),
        known_limits=event.known_limits,
        clip_path=clip_path,
        state="new",
    )
    s.add(row)
    s.flush()  # gives the row its id for the journal entry, committed with it
    journal_append(
        s,
        SYSTEM,
        "signal.recorded",
        f"signal:{row.id}",
        {
            "situation": row.situation,
            "camera": row.camera,
            "zone": row.zone,
            "confidence": round(row.confidence, 4),
            "model": row.model,
            "config_version": row.config_version,
            "occurred_at": occurred_at.isoformat(),
            "snapshot": snapshot_path is not None,
            "clip": clip_path is not None,
            **({"media_not_stored": media_error} if media_error else {}),
        },
    )
    if before_commit is not None:
        before_commit(s, row)
    return row


def attach_further(
    s: Session,
    event: AttachedEventLike,
    model: type[SignalFields] = SignalRow,
    *,
    before_commit: Callable[[Session, SignalRow], None] | None = None,
) -> SignalFields | None:
    """Add a further event to the stored signal (or calibration record, `model`) whose episode
    it belongs to, and commit; a signal is journaled with it (`signal.further_event`), and
    `before_commit` adds to the same transaction (the delivery outbox's rows).

    Returns the updated row, or None when no row has that episode (its signal was refused or
    could not be stored: the further event is not kept either). The same further event handed
    over again (after a lost acknowledgement) is attached once.
    """
    try:
        row, changed = add_further(s, event, model, before_commit=before_commit)
        if changed:
            s.commit()
        else:
            s.rollback()  # nothing to attach it to, or attached already: the lock goes
    except BaseException:
        s.rollback()
        raise
    return row


def add_further(
    s: Session,
    event: AttachedEventLike,
    model: type[SignalFields] = SignalRow,
    *,
    before_commit: Callable[[Session, SignalRow], None] | None = None,
) -> tuple[SignalFields | None, bool]:
    """`attach_further` without the commit: `(row, changed)`, where `changed` says whether
    the session's transaction now holds the update (False: no row has that episode, row
    None; or the event was attached already)."""
    further = event.event
    if not further.episode:
        raise ValueError("a further event must name the episode of its signal")
    if event.wall_time.tzinfo is None:
        raise ValueError("wall_time must be an aware (UTC) datetime")
    for v in (further.start_s, further.end_s):
        if not math.isfinite(float(v)):
            raise ValueError("start_s and end_s must be finite")
    stmt = (
        select(model)
        .where(
            model.camera == further.camera,
            model.situation == further.situation,
            model.episode == further.episode,
        )
        .order_by(model.id.desc())
        .limit(1)
        # Serialises two updates of one row (PostgreSQL); SQLite locks the whole database.
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = s.scalars(stmt).first()
    if row is None:
        return None, False
    occurred_at = event.wall_time.astimezone(UTC)
    times = list(row.further_times or [])
    entry_key = (round(float(further.end_s), 3), occurred_at.isoformat())
    if any((t.get("end_s"), t.get("occurred_at")) == entry_key for t in times):
        return row, False  # handed over again after a lost acknowledgement: attached already
    count = (row.further_count or 0) + 1
    if len(times) < MAX_FURTHER_TIMES:
        times.append(
            {
                "start_s": round(float(further.start_s), 3),
                "end_s": round(float(further.end_s), 3),
                "occurred_at": occurred_at.isoformat(),
            }
        )
    row.further_count = count
    row.further_times = times  # a new list: the JSON column sees the change
    if isinstance(row, SignalRow):
        journal_append(
            s,
            SYSTEM,
            "signal.further_event",
            f"signal:{row.id}",
            {
                "situation": row.situation,
                "camera": row.camera,
                "zone": row.zone,
                "count": count,
                "start_s": round(float(further.start_s), 3),
                "occurred_at": occurred_at.isoformat(),
            },
        )
        if before_commit is not None:
            before_commit(s, row)
    return row, True


def filter_signal_like(
    stmt: Any,
    model: type[SignalFields] | type[MissedReport],
    *,
    camera: str | None,
    situation: str | None,
    since: datetime | None,
    until: datetime | None,
    cameras: Collection[str] | None = None,
) -> Any:
    """`stmt` narrowed to one camera, a service scope (`cameras`: only these), a situation,
    and `since` (inclusive) .. `until` (exclusive) on `occurred_at`; for signals, calibration
    records and missed-situation reports alike."""
    if camera is not None:
        stmt = stmt.where(model.camera == camera)
    if cameras is not None:  # a service scope (S9): only these cameras' rows
        stmt = stmt.where(model.camera.in_(sorted(cameras)))
    if situation is not None:
        stmt = stmt.where(model.situation == situation)
    if since is not None:
        stmt = stmt.where(model.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(model.occurred_at < until)
    return stmt


def _filtered(stmt: Select[Any], **filters: Any) -> Select[Any]:
    narrowed: Select[Any] = filter_signal_like(stmt, SignalRow, **filters)
    return narrowed


def list_signals(
    s: Session,
    *,
    camera: str | None = None,
    situation: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
    cameras: Collection[str] | None = None,
) -> list[SignalRow]:
    """Newest first. Next page: `before_id=` the last row's id (keyset pagination).

    `since` is inclusive and `until` exclusive, on the time the signal was recognised;
    `cameras` (a scope) keeps only the signals of these camera names.
    """
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    if state is not None and state not in SIGNAL_STATES:
        raise ValueError(f"state {state!r} is not one of {', '.join(SIGNAL_STATES)}")
    stmt = _filtered(
        select(SignalRow), camera=camera, situation=situation, since=since, until=until,
        cameras=cameras,
    )  # fmt: skip
    if state is not None:
        stmt = stmt.where(SignalRow.state == state)
    if before_id is not None:
        stmt = stmt.where(SignalRow.id < before_id)
    return list(s.scalars(stmt.order_by(SignalRow.id.desc()).limit(limit)))


def get_signal(s: Session, signal_id: int) -> SignalRow | None:
    return s.get(SignalRow, signal_id)


def qualify(
    s: Session, signal_id: int, user: User, verdict: str, comment: str | None = None
) -> Review:
    """An operator's qualification of a signal (SPEC S4); it is final, and journaled with it.

    ValueError for a bad verdict, a too long comment or an already qualified signal;
    LookupError for an unknown signal.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT_LENGTH:
        raise ValueError(f"a comment has at most {MAX_COMMENT_LENGTH} characters")
    # The row lock (PostgreSQL) serialises two operators qualifying the same signal; the unique
    # signal_id of reviews settles it on every database. populate_existing: a long-lived session
    # may hold this row from before another operator's qualification.
    signal = s.get(SignalRow, signal_id, with_for_update=True, populate_existing=True)
    if signal is None:
        s.rollback()
        raise LookupError(f"no signal {signal_id}")
    if signal.state == "qualified" or signal.review is not None:
        s.rollback()
        raise ValueError(f"signal {signal_id} is already qualified")
    review = Review(signal_id=signal.id, user_id=user.id, verdict=verdict, comment=comment)
    s.add(review)
    signal.state = "qualified"
    signal.review = review
    try:
        s.flush()
        # The comment is free text: the journal keeps only whether there was one.
        journal_append(
            s, user.username, "signal.qualified", f"signal:{signal_id}",
            {"verdict": verdict, "comment": comment is not None},
        )  # fmt: skip
        s.commit()
    except IntegrityError as exc:
        s.rollback()
        raise ValueError(f"signal {signal_id} is already qualified") from exc
    return review


class utc_day(FunctionElement[str]):
    """The UTC calendar day 'YYYY-MM-DD' of a timestamp column, on SQLite and PostgreSQL."""

    type = String()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as naive UTC text 'YYYY-MM-DD HH:MM:SS...'.
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # Literals, not bound parameters, so that SELECT and GROUP BY render the same expression.
    column = compiler.process(element.clauses, **kw)
    return f"to_char(({column}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(utc_day)
def _utc_day_other(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"utc_day is not defined for {compiler.dialect.name}")


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def signal_stats(
    s: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    camera: str | None = None,
    situation: str | None = None,
    cameras: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Signals per (UTC day, situation, camera) with their qualifications (SPEC §5);
    `cameras` (a scope) keeps only these camera names.

    Each item: day ('YYYY-MM-DD'), situation, camera, signals, confirmed, false_alarm,
    not_actionable, pending (not yet qualified); ordered by day, situation, camera.
    """
    day = utc_day(SignalRow.occurred_at)
    stmt = (
        select(
            day.label("day"),
            SignalRow.situation,
            SignalRow.camera,
            func.count(SignalRow.id),
            _count_if(Review.verdict == "confirmed"),
            _count_if(Review.verdict == "false_alarm"),
            _count_if(Review.verdict == "not_actionable"),
            _count_if(Review.id.is_(None)),
        )
        .outerjoin(Review, Review.signal_id == SignalRow.id)
        .group_by(day, SignalRow.situation, SignalRow.camera)
        .order_by(day, SignalRow.situation, SignalRow.camera)
    )
    stmt = _filtered(
        stmt, camera=camera, situation=situation, since=since, until=until, cameras=cameras
    )
    keys = ("signals", "confirmed", "false_alarm", "not_actionable", "pending")
    return [
        {
            "day": str(row[0]),
            "situation": row[1],
            "camera": row[2],
            **{key: int(value) for key, value in zip(keys, row[3:], strict=True)},
        }
        for row in s.execute(stmt)
    ]
