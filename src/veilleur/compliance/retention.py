"""Retention (SPEC S8): delete what is older than its period, and journal what was deleted.

`purge` works per kind of data, each against its own cut-off (`now` minus its period):

- images: the blurred snapshot and clip files of signals and calibration records recognised
  before the images cut-off; the rows stay, their media links are cleared;
- signals (with their qualifications), calibration records and operators' missed-situation
  reports before the signals cut-off: the rows go, with any media file they still had;
- statistics whose bucket starts before the statistics cut-off;
- journal entries written before the journal cut-off: the oldest entries only, as one prefix of
  the chain (never an entry newer than the period, never the last entry), leaving a
  `JournalCheckpoint` with the id and hash of the last deleted entry, so that the rest of the
  chain still verifies (`veilleur.compliance.journal`);
- orphan media files: files under `media/` older than the images cut-off that no row names
  (left by a crash between a commit and a file's removal).

Everything happens in one transaction, under the journal's lock: (1) the checkpoint is
inserted, (2) rows are deleted or cleared (the journal's DELETE trigger lets through only
entries covered by a checkpoint), (3) the purge appends its own `retention.purged` entry with
the counts per kind and the checkpoint, (4) commit. Files are removed only after the commit: a
failed commit loses no file of a kept row; a file already gone is reported, not fatal. A purge
that finds nothing to delete writes no journal entry.

`RetentionScheduler` runs `purge` every `purge_every_s` on a daemon thread, keeps the last run
for the console, and never lets a failed purge stop the server.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from veilleur.compliance.journal import PURGED, Checkpoint, latest_checkpoint
from veilleur.store.journal import SYSTEM, format_at, head
from veilleur.store.journal import _lock as lock_journal
from veilleur.store.journal import append as journal_append
from veilleur.store.models import (
    CalibrationRecord,
    JournalCheckpoint,
    JournalEntry,
    MissedReport,
    Review,
    SignalRow,
    Statistic,
    utcnow,
)
from veilleur.store.signals import MEDIA_DIR, media_file

if TYPE_CHECKING:
    from veilleur.config.server import RetentionSettings

log = logging.getLogger(__name__)

TARGET = "retention"
"""The journal target of a purge's entry."""
KINDS: tuple[tuple[str, str, str], ...] = (
    ("images", "images", "blurred snapshots and clips (rows kept)"),
    ("signals", "signals", "signals"),
    ("reviews", "signals", "qualifications of those signals"),
    ("calibration", "signals", "calibration records"),
    ("missed", "signals", "missed-situation reports"),
    ("statistics", "statistics", "statistics buckets"),
    ("journal", "journal", "journal entries"),
    ("orphans", "images", "orphan media files"),
)
"""(count key, the period it follows, what it is), in the order reports list them."""

Sessions = sessionmaker[Session] | Session


@dataclass(frozen=True)
class Cutoffs:
    """Data older than these (strictly before) is deleted."""

    images: datetime
    signals: datetime
    statistics: datetime
    journal: datetime

    @classmethod
    def of(cls, retention: RetentionSettings, now: datetime) -> Cutoffs:
        return cls(
            images=now - timedelta(days=retention.images_days),
            signals=now - timedelta(days=retention.signals_days),
            statistics=now - timedelta(days=retention.statistics_days),
            journal=now - timedelta(days=retention.journal_days),
        )

    def of_period(self, period: str) -> datetime:
        value: datetime = getattr(self, period)
        return value

    def to_json(self) -> dict[str, str]:
        return {k: getattr(self, k).isoformat() for k in ("images", "signals", "statistics",
                                                          "journal")}  # fmt: skip


@dataclass
class PurgeReport:
    """What a purge deleted (or, for a dry run, would delete)."""

    at: datetime
    actor: str
    dry_run: bool
    cutoffs: Cutoffs
    counts: dict[str, int] = field(default_factory=lambda: {k: 0 for k, _, _ in KINDS})
    """Rows (and files, for images and orphans) per kind; keys of `KINDS`."""
    checkpoint: Checkpoint | None = None
    """The journal checkpoint this purge left (None: no journal entry was old enough)."""
    files: list[str] = field(default_factory=list)
    """Media files (relative to the data folder) of the purged rows, and orphan files."""
    files_deleted: int = 0
    files_missing: list[str] = field(default_factory=list)
    """Files a row named that were already gone (reported, not an error)."""
    files_failed: list[str] = field(default_factory=list)
    """'path: reason' of the files that could not be removed (left in place)."""
    journal_entry_id: int | None = None
    """The purge's own `retention.purged` entry."""
    duration_s: float = 0.0

    @property
    def nothing(self) -> bool:
        return not any(self.counts.values())

    def rows(self) -> list[tuple[str, int, datetime]]:
        """(what, how many, older than) for each kind, in `KINDS` order."""
        return [
            (label, self.counts[key], self.cutoffs.of_period(period))
            for key, period, label in KINDS
        ]

    def details(self) -> dict[str, Any]:
        """The purge's journal details: counts per kind, the checkpoint, the cut-offs."""
        return {
            **self.counts,
            "checkpoint": None
            if self.checkpoint is None
            else {"upto_id": self.checkpoint.upto_id, "upto_hash": self.checkpoint.upto_hash},
            "before": self.cutoffs.to_json(),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "before": self.cutoffs.to_json(),
            "checkpoint": None if self.checkpoint is None else self.checkpoint.to_json(),
            "files": len(self.files),
            "files_deleted": self.files_deleted,
            "files_missing": list(self.files_missing),
            "files_failed": list(self.files_failed),
            "journal_entry_id": self.journal_entry_id,
            "duration_s": round(self.duration_s, 3),
        }


@contextmanager
def _session(sessions: Sessions) -> Iterator[Session]:
    if isinstance(sessions, Session):
        if sessions.new or sessions.dirty or sessions.deleted:
            raise ValueError("purge commits its session: pass one without pending changes")
        yield sessions
        return
    with sessions() as s:
        yield s


def _referenced(s: Session) -> set[str]:
    """Every media path a row names."""
    paths: set[str] = set()
    for a, b in s.execute(select(SignalRow.snapshot_path, SignalRow.clip_path)):
        paths.update(p for p in (a, b) if p)
    paths.update(p for p in s.scalars(select(CalibrationRecord.snapshot_path)) if p)
    return paths


def _orphans(data_dir: Path, referenced: set[str], before: datetime) -> list[str]:
    """Files under media/ modified before `before` that no row names (relative paths)."""
    root = Path(data_dir) / MEDIA_DIR
    if not root.is_dir():
        return []
    limit = before.timestamp()
    found: list[str] = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            relative = path.relative_to(data_dir).as_posix()
            if relative in referenced:
                continue
            try:
                if path.is_symlink() or path.lstat().st_mtime >= limit:
                    continue
            except FileNotFoundError:
                continue
            found.append(relative)
    return sorted(found)


def _count(s: Session, model: Any, *where: ColumnElement[bool]) -> int:
    return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _journal_cut(s: Session, before: datetime) -> tuple[int, int, str] | None:
    """(upto_id, entries to delete, hash of entry upto_id) for the oldest prefix of the chain
    written before `before`, or None. The prefix stops at the first newer entry (a clock set
    back cannot pull a newer entry in) and never takes the last entry, onto which the purge's
    own entry chains."""
    last_id, _ = head(s)
    if last_id == 0:
        return None
    first_new = s.scalar(select(func.min(JournalEntry.id)).where(JournalEntry.at >= before))
    upto = (int(first_new) if first_new is not None else last_id + 1) - 1
    upto = min(upto, last_id - 1)
    done = latest_checkpoint(s)
    if upto <= (done.upto_id if done else 0):
        return None
    entries = _count(s, JournalEntry, JournalEntry.id <= upto)
    upto_hash = s.scalar(select(JournalEntry.hash).where(JournalEntry.id == upto))
    if upto_hash is None:  # a hole at the cut: the chain is already broken there; verify says so
        return None
    return upto, entries, str(upto_hash)


def _remove_files(report: PurgeReport, data_dir: Path) -> None:
    media_root = (Path(data_dir) / MEDIA_DIR).resolve()
    folders: set[Path] = set()
    for relative in report.files:
        try:
            path = media_file(data_dir, relative)
        except ValueError as exc:
            report.files_failed.append(f"{relative}: {exc}")
            continue
        try:
            path.unlink()
            report.files_deleted += 1
            folders.add(path.parent)
        except FileNotFoundError:
            report.files_missing.append(relative)
        except OSError as exc:
            report.files_failed.append(f"{relative}: {exc.strerror or exc}")
    # Day folders emptied by the purge go too (YYYY/MM/DD, then MM, then YYYY).
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        while folder != media_root and folder.is_relative_to(media_root):
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent


def purge(
    sessions: Sessions,
    data_dir: Path,
    retention: RetentionSettings,
    now: datetime | None = None,
    *,
    actor: str = SYSTEM,
    dry_run: bool = False,
) -> PurgeReport:
    """Delete what is older than its retention period (see the module's docstring) and
    journal it as `actor`; `dry_run`: count only, change nothing.

    `sessions`: a session factory, or a session without pending changes (it is committed).
    Raises what the database raises; then nothing was deleted, no file included.
    """
    started = time.perf_counter()
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be an aware (UTC) datetime")
    cut = Cutoffs.of(retention, now)
    report = PurgeReport(at=now, actor=actor, dry_run=dry_run, cutoffs=cut)
    counts = report.counts

    old_signal = SignalRow.occurred_at < cut.signals
    signal_images = (
        SignalRow.occurred_at < cut.images,
        SignalRow.occurred_at >= cut.signals,
        or_(SignalRow.snapshot_path.is_not(None), SignalRow.clip_path.is_not(None)),
    )
    old_calibration = CalibrationRecord.occurred_at < cut.signals
    calibration_images = (
        CalibrationRecord.occurred_at < cut.images,
        CalibrationRecord.occurred_at >= cut.signals,
        CalibrationRecord.snapshot_path.is_not(None),
    )
    old_signal_ids = select(SignalRow.id).where(old_signal)

    with _session(sessions) as s:
        # A read of its own first: orphan files are older than the images period, so no row
        # committed meanwhile can name them (a new signal writes new files).
        orphans = _orphans(data_dir, _referenced(s), cut.images)
        s.rollback()
        try:
            if not dry_run:
                # The journal's lock, first: one purge at a time, and (SQLite) the write lock
                # before any read of this transaction.
                lock_journal(s)
            files: list[str] = []
            # Media of the rows losing them: cleared (images period) or deleted (signals).
            with_media = or_(SignalRow.occurred_at < cut.images, old_signal)
            for a, b in s.execute(
                select(SignalRow.snapshot_path, SignalRow.clip_path).where(with_media)
            ):
                files.extend(p for p in (a, b) if p)
            calibration_media = or_(CalibrationRecord.occurred_at < cut.images, old_calibration)
            files.extend(
                p
                for p in s.scalars(select(CalibrationRecord.snapshot_path).where(calibration_media))
                if p
            )
            counts["images"] = len(files)
            counts["orphans"] = len(orphans)
            counts["signals"] = _count(s, SignalRow, old_signal)
            counts["reviews"] = _count(s, Review, Review.signal_id.in_(old_signal_ids))
            counts["calibration"] = _count(s, CalibrationRecord, old_calibration)
            counts["missed"] = _count(s, MissedReport, MissedReport.occurred_at < cut.signals)
            counts["statistics"] = _count(s, Statistic, Statistic.bucket_start < cut.statistics)
            journal_cut = _journal_cut(s, cut.journal)
            if journal_cut is not None:
                upto_id, entries, upto_hash = journal_cut
                counts["journal"] = entries
                report.checkpoint = Checkpoint(upto_id, upto_hash, entries, format_at(now))
            report.files = sorted(set(files)) + orphans
            if dry_run or report.nothing:
                s.rollback()
                report.duration_s = time.perf_counter() - started
                return report

            if report.checkpoint is not None:
                # The checkpoint first: the DELETE trigger lets through only entries it covers.
                s.add(
                    JournalCheckpoint(
                        upto_id=report.checkpoint.upto_id,
                        upto_hash=report.checkpoint.upto_hash,
                        entries=report.checkpoint.entries,
                        at=now,
                    )
                )
                s.flush()
                s.execute(delete(JournalEntry).where(JournalEntry.id <= report.checkpoint.upto_id))
            s.execute(update(SignalRow).where(*signal_images).values(snapshot_path=None,
                                                                     clip_path=None))  # fmt: skip
            s.execute(
                update(CalibrationRecord).where(*calibration_images).values(snapshot_path=None)
            )
            s.execute(delete(Review).where(Review.signal_id.in_(old_signal_ids)))
            s.execute(delete(SignalRow).where(old_signal))
            s.execute(delete(CalibrationRecord).where(old_calibration))
            s.execute(delete(MissedReport).where(MissedReport.occurred_at < cut.signals))
            s.execute(delete(Statistic).where(Statistic.bucket_start < cut.statistics))
            entry = journal_append(s, actor, PURGED, TARGET, report.details())
            report.journal_entry_id = entry.id
            s.commit()
        except BaseException:
            s.rollback()
            raise
    # Only now: a commit that failed above kept every file of the rows it kept.
    _remove_files(report, data_dir)
    report.duration_s = time.perf_counter() - started
    return report


def history(s: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The purges still in the journal, newest first: entry id, time, actor, details."""
    rows = s.scalars(
        select(JournalEntry)
        .where(JournalEntry.action == PURGED)
        .order_by(JournalEntry.id.desc())
        .limit(limit)
    )
    out: list[dict[str, Any]] = []
    for row in rows:
        try:
            details = json.loads(row.details)
        except ValueError:
            details = {}
        out.append({"id": row.id, "at": row.at, "actor": row.actor, "details": details})
    return out


class RetentionScheduler:
    """Runs `purge` every `retention.purge_every_s` on a daemon thread; `run_now` runs one at
    once (the console's "Purge now"). Keeps the last run for the console; a failed purge is
    logged and shown, and the next one runs on time."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        data_dir: Path,
        retention: RetentionSettings,
        *,
        first_delay_s: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.data_dir = Path(data_dir)
        self.retention = retention
        self.first_delay_s = first_delay_s
        self.clock = clock
        self.last_run_at: datetime | None = None
        self.last_report: PurgeReport | None = None
        self.last_error: str | None = None
        self.next_run_at: datetime | None = None
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the schedule; a purge under way finishes first (waited for up to `timeout_s`,
        after which `running` still says so until it ends)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("the retention purge under way did not end within %.0f s", timeout_s)
                return
        self._thread = None
        self.next_run_at = None

    def run_now(self, actor: str = SYSTEM, *, dry_run: bool = False) -> PurgeReport:
        """One purge now (waits for a scheduled one under way); raises what `purge` raises,
        after keeping the error for the console."""
        with self._run_lock:
            at = self.clock()
            try:
                report = purge(
                    self.sessions, self.data_dir, self.retention, at, actor=actor,
                    dry_run=dry_run,
                )  # fmt: skip
            except Exception as exc:
                if not dry_run:
                    self.last_run_at, self.last_error = at, f"{type(exc).__name__}: {exc}"
                raise
            if not dry_run:
                self.last_run_at, self.last_report, self.last_error = at, report, None
            return report

    def _loop(self) -> None:
        delay = self.first_delay_s
        while True:
            self.next_run_at = self.clock() + timedelta(seconds=delay)
            if self._stop.wait(delay):
                return
            try:
                report = self.run_now()
                if not report.nothing:
                    log.info("retention purge: %s", report.counts)
                for failed in report.files_failed:
                    log.warning("retention purge could not remove %s", failed)
            except Exception:
                log.exception("retention purge failed; the next one runs on schedule")
            delay = float(self.retention.purge_every_s)

    def state(self) -> dict[str, Any]:
        """The schedule and the last run, as plain data (console, API)."""
        return {
            "every_s": self.retention.purge_every_s,
            "running": self.running,
            "last_run_at": None if self.last_run_at is None else self.last_run_at.isoformat(),
            "next_run_at": None if self.next_run_at is None else self.next_run_at.isoformat(),
            "last_error": self.last_error,
            "last_report": None if self.last_report is None else self.last_report.to_json(),
        }
