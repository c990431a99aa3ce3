"""The journal for auditors (SPEC S7): verify the chain, export it, verify an export, browse.

The store appends (`veilleur.store.journal.append`, in the transaction of the change); this
module only reads. `verify` walks the chain in id order and reports each place where it breaks:
an entry whose content no longer matches its hash (changed), a gap in the ids or a `prev_hash`
that is not the previous entry's hash (deleted, inserted, reordered). `export` writes every
entry with its hash and a final head line, which `verify_file` re-checks offline; keeping the
exported head hash elsewhere is what later shows a rewrite of the whole chain (see
docs/journal.md).

A retention purge (SPEC S8, `veilleur.compliance.retention`) deletes the oldest entries and
leaves a `JournalCheckpoint` (the id and hash of the last deleted entry): the chain then starts
after the latest checkpoint, whose first kept entry must be `upto_id + 1` and chain onto
`upto_hash`, and the purge's own `retention.purged` entry naming that checkpoint must be in the
chain (a checkpoint written without a purge is a break). An export starts with the checkpoint
line, so that a file verifies offline (docs/retention.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.store.journal import (
    ACTIONS,
    FORMAT,
    GENESIS,
    append,
    entry_hash,
    format_at,
)
from veilleur.store.models import JournalCheckpoint, JournalEntry

MAX_PROBLEMS = 100
"""`verify` stops listing after this many problems (the first ones say where it broke)."""
BATCH = 2000
MAX_PAGE = 500
PURGED = "retention.purged"
"""The action of a retention purge's entry; its details name the checkpoint it left."""

__all__ = [
    "ACTIONS",
    "GENESIS",
    "PURGED",
    "ChainProblem",
    "Checkpoint",
    "Entry",
    "VerifyResult",
    "append",
    "export",
    "query",
    "verify",
    "verify_entries",
    "verify_file",
]


@dataclass(frozen=True)
class Entry:
    """An entry as hashed: the fields in their exported text form."""

    id: int
    at: str
    actor: str
    action: str
    target: str
    details: str
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: JournalEntry) -> Entry:
        return cls(
            row.id, format_at(row.at), row.actor, row.action, row.target, row.details,
            row.prev_hash, row.hash,
        )  # fmt: skip

    def expected_hash(self) -> str:
        return entry_hash(
            self.id, self.at, self.actor, self.action, self.target, self.details, self.prev_hash
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class Checkpoint:
    """Where a retention purge cut the journal: entries up to `upto_id` were deleted; the
    first kept entry chains onto `upto_hash`."""

    upto_id: int
    upto_hash: str
    entries: int
    """How many entries that purge deleted."""
    at: str

    @classmethod
    def of(cls, row: JournalCheckpoint) -> Checkpoint:
        return cls(row.upto_id, row.upto_hash, row.entries, format_at(row.at))

    def to_json(self) -> dict[str, Any]:
        return {
            "upto_id": self.upto_id,
            "upto_hash": self.upto_hash,
            "entries": self.entries,
            "at": self.at,
        }

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        if not isinstance(data, dict):
            raise TypeError(f"a checkpoint is an object, got {data!r}")
        return cls(
            int(data["upto_id"]), str(data["upto_hash"]), int(data["entries"]), str(data["at"])
        )

    def named_by(self, entry: Entry) -> bool:
        """Whether `entry` is the retention purge that left this checkpoint."""
        if entry.action != PURGED:
            return False
        try:
            details = json.loads(entry.details)
        except ValueError:
            return False
        named = details.get("checkpoint") if isinstance(details, dict) else None
        return (
            isinstance(named, dict)
            and named.get("upto_id") == self.upto_id
            and named.get("upto_hash") == self.upto_hash
            and details.get("journal") == self.entries
        )


@dataclass(frozen=True)
class ChainProblem:
    """Where the chain breaks: the entry id, the kind of break, and what was found."""

    entry_id: int
    kind: str
    """"altered" (content does not match its hash), "missing" (ids skipped), "order" (an id
    not after the previous one), "link" (prev_hash is not the previous entry's hash),
    "head" (the export's head line, or an expected head hash, does not match),
    "checkpoint" (a retention checkpoint with no purge entry naming it in the chain)."""
    message: str

    def __str__(self) -> str:
        return f"entry {self.entry_id}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class VerifyResult:
    entries: int
    head_id: int
    head_hash: str
    problems: list[ChainProblem] = field(default_factory=list)
    truncated: bool = False
    """More problems were found than listed."""
    checkpoint: Checkpoint | None = None
    """The retention checkpoint the chain starts after, if entries were purged."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            after = (
                f" (after retention checkpoint {self.checkpoint.upto_id})"
                if self.checkpoint
                else ""
            )
            return (
                f"journal intact: {self.entries} entries{after}, head {self.head_id} "
                f"{self.head_hash}"
            )
        first = self.problems[0]
        more = len(self.problems) - 1
        plus = "+" if self.truncated else ""
        tail = f" (and {more}{plus} more)" if more or self.truncated else ""
        return f"journal BROKEN at entry {first.entry_id}: {first.kind}: {first.message}{tail}"


def verify_entries(
    entries: Iterable[Entry],
    *,
    expected_head: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> VerifyResult:
    """Walk `entries` (in the order given) and report every break of the chain.

    After a break the walk goes on from the stored hash, so one changed entry is reported once
    (at its id) and the rest of the chain is still checked. `expected_head`: a head hash kept
    from an earlier export; it must be the hash of some entry of this chain (or the hash the
    checkpoint kept). `checkpoint`: the latest retention checkpoint; the chain starts after it,
    and must hold the purge entry that names it.
    """
    problems: list[ChainProblem] = []
    truncated = False

    def report(entry_id: int, kind: str, message: str) -> None:
        nonlocal truncated
        if len(problems) < MAX_PROBLEMS:
            problems.append(ChainProblem(entry_id, kind, message))
        else:
            truncated = True

    count = 0
    prev_id, prev_hash = (checkpoint.upto_id, checkpoint.upto_hash) if checkpoint else (0, GENESIS)
    seen_expected = expected_head is None or (
        checkpoint is not None and expected_head == checkpoint.upto_hash
    )
    seen_purge = checkpoint is None
    for e in entries:
        count += 1
        if e.id <= prev_id:
            report(e.id, "order", f"comes after entry {prev_id}: entries were reordered or copied")
        elif e.id != prev_id + 1:
            gap = f"{prev_id + 1}" if e.id == prev_id + 2 else f"{prev_id + 1} to {e.id - 1}"
            report(e.id, "missing", f"entries {gap} are missing (deleted)")
        if e.prev_hash != prev_hash:
            if prev_id == 0:
                what = "the start of the chain"
            elif checkpoint is not None and count == 1:
                what = f"the hash of entry {prev_id} kept by the retention checkpoint"
            else:
                what = f"entry {prev_id}'s hash"
            report(e.id, "link", f"prev_hash does not match {what}")
        if e.expected_hash() != e.hash:
            report(e.id, "altered", "its content does not match its hash (changed after writing)")
        if not seen_expected and e.hash == expected_head:
            seen_expected = True
        if not seen_purge and checkpoint is not None and checkpoint.named_by(e):
            seen_purge = True
        prev_id, prev_hash = e.id, e.hash
    if not seen_expected:
        message = "the expected head hash is not in the chain (rewritten or cut)"
        if checkpoint is not None:
            message = (
                "the expected head hash is not in the chain: it was rewritten or cut, or the "
                f"entry was deleted by the retention purge up to entry {checkpoint.upto_id} "
                "(check that head against the export that holds it)"
            )
        report(prev_id, "head", message)
    if not seen_purge and checkpoint is not None:
        report(
            checkpoint.upto_id,
            "checkpoint",
            f"the checkpoint cutting the journal after entry {checkpoint.upto_id} "
            f"({checkpoint.entries} entries deleted) has no '{PURGED}' entry naming it: "
            "entries were deleted outside a retention purge",
        )
    return VerifyResult(count, prev_id, prev_hash, problems, truncated, checkpoint)


_COLUMNS = (
    JournalEntry.id,
    JournalEntry.at,
    JournalEntry.actor,
    JournalEntry.action,
    JournalEntry.target,
    JournalEntry.details,
    JournalEntry.prev_hash,
    JournalEntry.hash,
)


def _rows(s: Session) -> Iterator[Entry]:
    # Keyset batches of plain columns: memory stays flat however long the journal is, and the
    # caller's session does not fill with entries.
    after: int | None = None  # not 0: an entry slipped in with id <= 0 must be seen too
    while True:
        stmt = select(*_COLUMNS).order_by(JournalEntry.id).limit(BATCH)
        if after is not None:
            stmt = stmt.where(JournalEntry.id > after)
        rows = s.execute(stmt).all()
        if not rows:
            return
        for r in rows:
            yield Entry(r[0], format_at(r[1]), r[2], r[3], r[4], r[5], r[6], r[7])
        after = rows[-1][0]


def latest_checkpoint(s: Session) -> Checkpoint | None:
    """The checkpoint of the latest retention purge (the highest `upto_id`), if any."""
    row = s.scalars(
        select(JournalCheckpoint).order_by(JournalCheckpoint.upto_id.desc()).limit(1)
    ).first()
    return None if row is None else Checkpoint.of(row)


def verify(s: Session, *, expected_head: str | None = None) -> VerifyResult:
    """Verify the whole journal in the database (see `verify_entries`), from the latest
    retention checkpoint on if entries were purged."""
    return verify_entries(_rows(s), expected_head=expected_head, checkpoint=latest_checkpoint(s))


def export(s: Session, out: IO[str] | Path, fmt: str = "jsonl") -> VerifyResult:
    """Write every entry (one JSON object a line, fields as hashed) and a final head line
    {"head": {...}}; returns the verification of what was written. After a retention purge
    the first line is the checkpoint {"checkpoint": {...}} the entries start after."""
    if fmt != "jsonl":
        raise ValueError(f"export format {fmt!r}: only 'jsonl' is supported")
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8") as f:
            return export(s, f, fmt)

    checkpoint = latest_checkpoint(s)
    if checkpoint is not None:
        out.write(json.dumps({"checkpoint": checkpoint.to_json()}, sort_keys=True) + "\n")

    def entries() -> Iterator[Entry]:
        for entry in _rows(s):
            out.write(json.dumps(entry.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
            yield entry

    result = verify_entries(entries(), checkpoint=checkpoint)
    head = {
        "format": FORMAT,
        "entries": result.entries,
        "id": result.head_id,
        "hash": result.head_hash,
        "exported_at": format_at(datetime.now(UTC)),
    }
    if checkpoint is not None:
        head["after_checkpoint"] = checkpoint.upto_id
    out.write(json.dumps({"head": head}, sort_keys=True) + "\n")
    return result


@dataclass
class _FileScan:
    """What reading an export found besides its entries."""

    heads: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, head)
    lines: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    @staticmethod
    def checkpoint(path: Path) -> tuple[Checkpoint | None, ChainProblem | None]:
        """The checkpoint line, if the file's first line is one."""
        with path.open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if isinstance(data, dict) and "checkpoint" in data:
                        return Checkpoint.from_json(data["checkpoint"]), None
                except (ValueError, KeyError, TypeError) as exc:
                    problem = ChainProblem(0, "format", f"bad checkpoint line: {exc!r}")
                    return None, problem
                return None, None
        return None, None

    def entries(self, path: Path) -> Iterator[Entry]:
        first = True
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                self.lines = n
                try:
                    data = json.loads(line)
                    if isinstance(data, dict) and "head" in data:
                        self.heads.append((n, dict(data["head"])))
                        continue
                    if isinstance(data, dict) and "checkpoint" in data:
                        if not first:
                            self.problems.append(
                                ChainProblem(0, "format", f"line {n}: a checkpoint line "
                                             "comes only first")
                            )  # fmt: skip
                        first = False
                        continue
                    first = False
                    yield Entry(
                        int(data["id"]), str(data["at"]), str(data["actor"]),
                        str(data["action"]), str(data["target"]), str(data["details"]),
                        str(data["prev_hash"]), str(data["hash"]),
                    )  # fmt: skip
                except (ValueError, KeyError, TypeError) as exc:
                    self.problems.append(
                        ChainProblem(0, "format", f"line {n} is not an entry: {exc!r}")
                    )


def verify_file(path: Path, *, expected_head: str | None = None) -> VerifyResult:
    """Verify an export offline: the chain of its entries (from its checkpoint line, if the
    journal had been purged), and that its last line is a head line naming the last entry (a
    file cut short or with entries added fails)."""
    scan = _FileScan()
    checkpoint, bad = scan.checkpoint(Path(path))
    result = verify_entries(
        scan.entries(Path(path)), expected_head=expected_head, checkpoint=checkpoint
    )
    problems = [*result.problems, *([bad] if bad else []), *scan.problems]
    at = result.head_id
    if not scan.heads:
        problems.append(ChainProblem(at, "head", "no head line: the file was cut short"))
    else:
        line, head = scan.heads[-1]
        if len(scan.heads) > 1 or line != scan.lines:
            problems.append(ChainProblem(at, "head", "the head line is not the file's last line"))
        if head.get("format") != FORMAT:
            problems.append(ChainProblem(at, "head", f"unknown format {head.get('format')!r}"))
        found = (result.head_id, result.head_hash, result.entries)
        if (head.get("id"), head.get("hash"), head.get("entries")) != found:
            problems.append(
                ChainProblem(
                    at,
                    "head",
                    f"the head line names entry {head.get('id')} {head.get('hash')} "
                    f"({head.get('entries')} entries); the file ends at entry {found[0]} "
                    f"{found[1]} ({found[2]} entries)",
                )
            )
    return VerifyResult(
        result.entries, result.head_id, result.head_hash, problems, result.truncated, checkpoint
    )


def query(
    s: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[JournalEntry]:
    """Entries, newest first, filtered; `target` matches a prefix ("camera:" or
    "camera:plaza"); next page with `before_id` = the last id received."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    stmt = select(JournalEntry)
    if action:
        stmt = stmt.where(JournalEntry.action == action)
    if actor:
        stmt = stmt.where(JournalEntry.actor == actor)
    if target:
        escaped = target.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(JournalEntry.target.like(escaped + "%", escape="\\"))
    if since is not None:
        stmt = stmt.where(JournalEntry.at >= since)
    if until is not None:
        stmt = stmt.where(JournalEntry.at < until)
    if before_id is not None:
        stmt = stmt.where(JournalEntry.id < before_id)
    return list(s.scalars(stmt.order_by(JournalEntry.id.desc()).limit(limit)))
