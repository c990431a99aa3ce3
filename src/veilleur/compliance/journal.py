"""The journal for auditors (SPEC S7): verify the chain, export it, verify an export, browse.

The store appends (`veilleur.store.journal.append`, in the transaction of the change); this
module only reads. `verify` walks the chain in id order and reports each place where it breaks:
an entry whose content no longer matches its hash (changed), a gap in the ids or a `prev_hash`
that is not the previous entry's hash (deleted, inserted, reordered). `export` writes every
entry with its hash and a final head line, which `verify_file` re-checks offline; keeping the
exported head hash elsewhere is what later shows a rewrite of the whole chain (see
docs/journal.md).
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
from veilleur.store.models import JournalEntry

MAX_PROBLEMS = 100
"""`verify` stops listing after this many problems (the first ones say where it broke)."""
BATCH = 2000
MAX_PAGE = 500

__all__ = [
    "ACTIONS",
    "GENESIS",
    "ChainProblem",
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
class ChainProblem:
    """Where the chain breaks: the entry id, the kind of break, and what was found."""

    entry_id: int
    kind: str
    """"altered" (content does not match its hash), "missing" (ids skipped), "order" (an id
    not after the previous one), "link" (prev_hash is not the previous entry's hash),
    "head" (the export's head line, or an expected head hash, does not match)."""
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

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"journal intact: {self.entries} entries, head {self.head_id} {self.head_hash}"
        first = self.problems[0]
        more = len(self.problems) - 1
        plus = "+" if self.truncated else ""
        tail = f" (and {more}{plus} more)" if more or self.truncated else ""
        return f"journal BROKEN at entry {first.entry_id}: {first.kind}: {first.message}{tail}"


def verify_entries(entries: Iterable[Entry], *, expected_head: str | None = None) -> VerifyResult:
    """Walk `entries` (in the order given) and report every break of the chain.

    After a break the walk goes on from the stored hash, so one changed entry is reported once
    (at its id) and the rest of the chain is still checked. `expected_head`: a head hash kept
    from an earlier export; it must be the hash of some entry of this chain.
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
    prev_id, prev_hash = 0, GENESIS
    seen_expected = expected_head is None
    for e in entries:
        count += 1
        if e.id <= prev_id:
            report(e.id, "order", f"comes after entry {prev_id}: entries were reordered or copied")
        elif e.id != prev_id + 1:
            gap = f"{prev_id + 1}" if e.id == prev_id + 2 else f"{prev_id + 1} to {e.id - 1}"
            report(e.id, "missing", f"entries {gap} are missing (deleted)")
        if e.prev_hash != prev_hash:
            what = "the start of the chain" if prev_id == 0 else f"entry {prev_id}'s hash"
            report(e.id, "link", f"prev_hash does not match {what}")
        if e.expected_hash() != e.hash:
            report(e.id, "altered", "its content does not match its hash (changed after writing)")
        if not seen_expected and e.hash == expected_head:
            seen_expected = True
        prev_id, prev_hash = e.id, e.hash
    if not seen_expected:
        report(prev_id, "head", "the expected head hash is not in the chain (rewritten or cut)")
    return VerifyResult(count, prev_id, prev_hash, problems, truncated)


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


def verify(s: Session, *, expected_head: str | None = None) -> VerifyResult:
    """Verify the whole journal in the database (see `verify_entries`)."""
    return verify_entries(_rows(s), expected_head=expected_head)


def export(s: Session, out: IO[str] | Path, fmt: str = "jsonl") -> VerifyResult:
    """Write every entry (one JSON object a line, fields as hashed) and a final head line
    {"head": {...}}; returns the verification of what was written."""
    if fmt != "jsonl":
        raise ValueError(f"export format {fmt!r}: only 'jsonl' is supported")
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8") as f:
            return export(s, f, fmt)

    def entries() -> Iterator[Entry]:
        for entry in _rows(s):
            out.write(json.dumps(entry.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
            yield entry

    result = verify_entries(entries())
    head = {
        "format": FORMAT,
        "entries": result.entries,
        "id": result.head_id,
        "hash": result.head_hash,
        "exported_at": format_at(datetime.now(UTC)),
    }
    out.write(json.dumps({"head": head}, sort_keys=True) + "\n")
    return result


@dataclass
class _FileScan:
    """What reading an export found besides its entries."""

    heads: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, head)
    lines: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    def entries(self, path: Path) -> Iterator[Entry]:
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
    """Verify an export offline: the chain of its entries, and that its last line is a head
    line naming the last entry (a file cut short or with entries added fails)."""
    scan = _FileScan()
    result = verify_entries(scan.entries(Path(path)), expected_head=expected_head)
    problems = [*result.problems, *scan.problems]
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
        result.entries, result.head_id, result.head_hash, problems, result.truncated
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
