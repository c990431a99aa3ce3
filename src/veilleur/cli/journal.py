"""`veilleur journal verify|export`: check the tamper-evident journal and hand it to an auditor
(SPEC S7, docs/journal.md); after a retention purge both start at its checkpoint
(docs/retention.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from veilleur.compliance.journal import VerifyResult

app = typer.Typer(
    help="Verify the tamper-evident journal and export it for an auditor.", no_args_is_help=True
)
err = Console(stderr=True)
out = Console()

Database = Annotated[
    str | None,
    typer.Option("--database", help="Database URL; default: SQLite in the data folder."),
]
DataDir = Annotated[
    Path, typer.Option("--data-dir", help="The server's data folder (its embedded database).")
]
Head = Annotated[
    str | None,
    typer.Option(
        "--head",
        help="A head hash kept from an earlier export: it must still be in the chain "
        "(shows a cut or rewritten journal).",
    ),
]


def _url(database: str | None, data_dir: Path) -> str:
    from veilleur import store

    if database:
        return database
    path = data_dir.expanduser().resolve() / "veilleur.db"
    if not path.is_file():
        err.print(f"[bold red]error:[/] no database at {path}; pass --database or --data-dir")
        raise typer.Exit(2)
    return store.default_url(data_dir)


def _report(result: VerifyResult) -> None:
    if result.ok:
        out.print(result.summary(), highlight=False)
        return
    err.print(f"[bold red]{result.summary()}[/]", highlight=False)
    for problem in result.problems:
        err.print(f"  {problem}", highlight=False)
    if result.truncated:
        err.print("  ... more problems not listed", highlight=False)
    raise typer.Exit(1)


def _with_session(url: str, action: Callable[[Session], VerifyResult]) -> VerifyResult:
    from sqlalchemy import inspect

    from veilleur import store

    engine = store.make_engine(url)
    try:
        if not inspect(engine).has_table("journal"):
            err.print("[bold red]error:[/] this database has no journal; run the server (or "
                      "`python -m veilleur.store upgrade`) to bring it up to date")  # fmt: skip
            raise typer.Exit(2)
        with store.session_factory(engine)() as s:
            return action(s)
    finally:
        engine.dispose()


@app.command("verify")
def verify(
    database: Database = None,
    data_dir: DataDir = Path("veilleur-data"),
    head: Head = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Verify an exported file offline instead of the database."),
    ] = None,
) -> None:
    """Walk the hash chain: exit 0 if intact, 1 with the place of each break."""
    from veilleur.compliance import journal

    if file is not None:
        if not file.is_file():
            err.print(f"[bold red]error:[/] no file {file}")
            raise typer.Exit(2)
        _report(journal.verify_file(file, expected_head=head))
        return
    url = _url(database, data_dir)
    _report(_with_session(url, lambda s: journal.verify(s, expected_head=head)))


@app.command("export")
def export(
    out_file: Annotated[Path, typer.Option("--out", help="The JSON Lines file to write.")],
    database: Database = None,
    data_dir: DataDir = Path("veilleur-data"),
) -> None:
    """Write every entry with its hash, then a head line; keep the printed head hash apart
    (it later proves the journal was not rewritten)."""
    from veilleur.compliance import journal

    url = _url(database, data_dir)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    result = _with_session(url, lambda s: journal.export(s, out_file))
    out.print(f"wrote {result.entries} entries to {out_file}", highlight=False)
    out.print(f"head: entry {result.head_id} {result.head_hash}", highlight=False)
    if result.checkpoint is not None:
        out.print(
            f"starts after the retention checkpoint of entry {result.checkpoint.upto_id} "
            f"{result.checkpoint.upto_hash} (entries up to it were purged, docs/retention.md)",
            highlight=False,
        )
    if not result.ok:
        _report(result)
