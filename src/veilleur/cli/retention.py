"""`veilleur purge`: delete what is older than its retention period, now (SPEC S8,
docs/retention.md); and the retention options `veilleur serve` shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from veilleur.compliance.retention import PurgeReport
    from veilleur.config.server import RetentionSettings

err = Console(stderr=True)
out = Console()

ImagesDays = Annotated[
    int | None,
    typer.Option(
        "--images-days",
        envvar="VEILLEUR_RETENTION_IMAGES_DAYS",
        help="Days blurred snapshots and clips are kept (default 14).",
        show_default=False,
    ),
]
SignalsDays = Annotated[
    int | None,
    typer.Option(
        "--signals-days",
        envvar="VEILLEUR_RETENTION_SIGNALS_DAYS",
        help="Days signals, calibration records and missed-situation reports are kept "
        "(default 365).",
        show_default=False,
    ),
]
JournalDays = Annotated[
    int | None,
    typer.Option(
        "--journal-days",
        envvar="VEILLEUR_RETENTION_JOURNAL_DAYS",
        help="Days journal entries are kept, at least 183 (default 365).",
        show_default=False,
    ),
]
StatisticsDays = Annotated[
    int | None,
    typer.Option(
        "--statistics-days",
        envvar="VEILLEUR_RETENTION_STATISTICS_DAYS",
        help="Days the statistics mode's aggregates are kept (default 365).",
        show_default=False,
    ),
]
PurgeEvery = Annotated[
    int | None,
    typer.Option(
        "--purge-every",
        envvar="VEILLEUR_RETENTION_PURGE_EVERY_S",
        help="Seconds between two scheduled purges, at least 60 (default 3600).",
        show_default=False,
    ),
]
_OPTIONS = {
    "images_days": "--images-days / VEILLEUR_RETENTION_IMAGES_DAYS",
    "signals_days": "--signals-days / VEILLEUR_RETENTION_SIGNALS_DAYS",
    "journal_days": "--journal-days / VEILLEUR_RETENTION_JOURNAL_DAYS",
    "statistics_days": "--statistics-days / VEILLEUR_RETENTION_STATISTICS_DAYS",
    "purge_every_s": "--purge-every / VEILLEUR_RETENTION_PURGE_EVERY_S",
}


def retention_settings(
    images_days: int | None = None,
    signals_days: int | None = None,
    journal_days: int | None = None,
    statistics_days: int | None = None,
    purge_every_s: int | None = None,
) -> RetentionSettings:
    """The retention settings from the command line (None: the default); exits with code 2
    and the option's name on a value out of bounds."""
    from pydantic import ValidationError

    from veilleur.config.server import RetentionSettings

    given = {
        "images_days": images_days,
        "signals_days": signals_days,
        "journal_days": journal_days,
        "statistics_days": statistics_days,
        "purge_every_s": purge_every_s,
    }
    try:
        return RetentionSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        for problem in exc.errors():
            key = str(problem["loc"][0]) if problem["loc"] else ""
            err.print(
                f"[bold red]error:[/] retention {_OPTIONS.get(key, key)}: {problem['msg']}",
                highlight=False,
            )
        raise typer.Exit(2) from None


def periods_line(settings: RetentionSettings) -> str:
    return (
        f"retention: images {settings.images_days} d, signals {settings.signals_days} d, "
        f"journal {settings.journal_days} d, statistics {settings.statistics_days} d; "
        f"purge every {settings.purge_every_s} s"
    )


def report_table(report: PurgeReport) -> Table:
    verb = "would delete" if report.dry_run else "deleted"
    table = Table(title=f"Retention purge at {report.at:%Y-%m-%d %H:%M UTC}: {verb}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("older than")
    for label, count, before in report.rows():
        table.add_row(label, str(count), f"{before:%Y-%m-%d %H:%M UTC}")
    return table


def print_report(report: PurgeReport) -> None:
    out.print(report_table(report))
    if report.nothing:
        out.print("nothing is older than its retention period", highlight=False)
        return
    if report.checkpoint is not None:
        verb = "would leave" if report.dry_run else "left"
        out.print(
            f"journal: {verb} a checkpoint after entry {report.checkpoint.upto_id} "
            f"({report.checkpoint.upto_hash})",
            highlight=False,
        )
    if report.dry_run:
        out.print(f"would delete {len(report.files)} media files", highlight=False)
        return
    out.print(
        f"deleted {report.files_deleted} media files; journaled as entry {report.journal_entry_id}",
        highlight=False,
    )
    for missing in report.files_missing:
        err.print(f"[yellow]already gone:[/] {missing}", highlight=False)
    for failed in report.files_failed:
        err.print(f"[bold red]not removed:[/] {failed}", highlight=False)


def purge(
    database: Annotated[
        str | None,
        typer.Option("--database", help="Database URL; default: SQLite in the data folder."),
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", help="The server's data folder (its media and database)."),
    ] = Path("veilleur-data"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; change nothing.")
    ] = False,
    images_days: ImagesDays = None,
    signals_days: SignalsDays = None,
    journal_days: JournalDays = None,
    statistics_days: StatisticsDays = None,
) -> None:
    """Delete now what is older than its retention period, and journal it (the server also
    runs this on a schedule)."""
    from sqlalchemy import inspect

    from veilleur import store
    from veilleur.cli.journal import _url
    from veilleur.compliance.retention import purge as run_purge

    settings = retention_settings(images_days, signals_days, journal_days, statistics_days)
    url = _url(database, data_dir)
    engine = store.make_engine(url)
    try:
        if not inspect(engine).has_table("journal_checkpoints"):
            err.print("[bold red]error:[/] this database predates retention; run the server "
                      "(or `python -m veilleur.store upgrade`) to bring it up to date")  # fmt: skip
            raise typer.Exit(2)
        out.print(periods_line(settings), highlight=False)
        report = run_purge(
            store.session_factory(engine), data_dir.expanduser().resolve(), settings,
            dry_run=dry_run,
        )  # fmt: skip
    finally:
        engine.dispose()
    print_report(report)
    if report.files_failed:
        raise typer.Exit(1)
