"""`veilleur documents notice|records|technical|accountability`: generate the documents the
deployer needs from the platform's database (SPEC §4, §5; docs/documents.md). Each document
written is journaled `document.generated`."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from veilleur.cli.retention import (
    ImagesDays,
    JournalDays,
    SignalsDays,
    StatisticsDays,
    retention_settings,
)

if TYPE_CHECKING:
    from veilleur.config.server import RetentionSettings

app = typer.Typer(
    help="Generate the public notice, records of processing, technical file and "
    "accountability report from the platform's data.",
    no_args_is_help=True,
)
err = Console(stderr=True)
out = Console()

Out = Annotated[Path, typer.Option("--out", "-o", help="Folder to write the documents into.")]
Database = Annotated[
    str | None,
    typer.Option("--database", help="Database URL; default: SQLite in the data folder."),
]
DataDir = Annotated[
    Path, typer.Option("--data-dir", help="The server's data folder (its embedded database).")
]
Format = Annotated[
    str | None, typer.Option("--format", "-f", help="One format only (default: all of them).")
]
Actor = Annotated[
    str | None,
    typer.Option("--actor", help="Name journaled as the author (default: cli:<login>)."),
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise _fail(f"{name}: a date as YYYY-MM-DD, got {value!r}") from None


def _write(
    kind: str,
    fmt: str | None,
    output: Path,
    database: str | None,
    data_dir: Path,
    retention: RetentionSettings | None,
    actor: str | None,
    *,
    evaluation: Path | None = None,
    authorisation_id: int | None = None,
    by: str = "day",
    since: datetime | None = None,
    until: datetime | None = None,
) -> None:
    from veilleur import store
    from veilleur.cli.journal import _url
    from veilleur.compliance import documents
    from veilleur.config.server import RetentionSettings

    sources = documents.Sources(retention=retention or RetentionSettings(), evaluation=evaluation)
    formats = [fmt] if fmt else list(documents.FORMATS.get(kind, ()))
    try:
        for f in formats:
            documents.check_request(kind, f, authorisation_id)
        if evaluation is not None:
            documents.load_evaluation(evaluation)
    except documents.DocumentError as exc:
        raise _fail(str(exc)) from None
    engine = store.make_engine(_url(database, data_dir))
    output.mkdir(parents=True, exist_ok=True)
    try:
        with store.session_factory(engine)() as db:
            for f in formats:
                try:
                    doc = documents.generate(
                        db, kind, f, sources, authorisation_id=authorisation_id, by=by,
                        since=since, until=until,
                    )  # fmt: skip
                except documents.DocumentError as exc:
                    raise _fail(str(exc)) from None
                path = output / doc.filename
                path.write_bytes(doc.content)
                documents.record_generation(db, actor or f"cli:{getpass.getuser()}"[:64], doc)
                out.print(f"{kind} ({doc.fmt}): {path}", highlight=False)
    finally:
        engine.dispose()


@app.command("notice")
def notice(
    authorisation_id: Annotated[int, typer.Argument(help="The authorisation's id.")],
    output: Out,
    fmt: Format = None,
    database: Database = None,
    data_dir: DataDir = Path("veilleur-data"),
    images_days: ImagesDays = None,
    signals_days: SignalsDays = None,
    journal_days: JournalDays = None,
    statistics_days: StatisticsDays = None,
    actor: Actor = None,
) -> None:
    """The public information notice of an authorisation (HTML and PDF)."""
    retention = retention_settings(images_days, signals_days, journal_days, statistics_days)
    _write("notice", fmt, output, database, data_dir, retention, actor,
           authorisation_id=authorisation_id)  # fmt: skip


@app.command("records")
def records(
    output: Out,
    fmt: Format = None,
    database: Database = None,
    data_dir: DataDir = Path("veilleur-data"),
    images_days: ImagesDays = None,
    signals_days: SignalsDays = None,
    journal_days: JournalDays = None,
    statistics_days: StatisticsDays = None,
    actor: Actor = None,
) -> None:
    """Records of processing activities, GDPR art. 30 (HTML and Markdown)."""
    retention = retention_settings(images_days, signals_days, journal_days, statistics_days)
    _write("records", fmt, output, database, data_dir, retention, actor)


@app.command("technical")
def technical(
    output: Out,
    evaluation: Annotated[
        Path | None,
        typer.Option(
            "--evaluation",
            help="The output folder of `veilleur evaluate` (or its figures.json): its "
            "measured accuracy goes into the file.",
        ),
    ] = None,
    fmt: Format = None,
    database: Database = None,
    data_dir: DataDir = Path("veilleur-data"),
    actor: Actor = None,
) -> None:
    """The technical file: models, versions, thresholds, known limits, accuracy (HTML and
    Markdown)."""
    _write("technical", fmt, output, database, data_dir, None, actor, evaluation=evaluation)


@app.command("accountability")
def accountability(
    output: Out,
    period: Annotated[
        str, typer.Option("--period", help="Group by day, week or month (UTC).")
    ] = "day",
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day (included), YYYY-MM-DD.")] = None,
    fmt: Format = None,
    database: Database = None,
    data_dir: DataDir = Path("veilleur-data"),
    actor: Actor = None,
) -> None:
    """Figures from the operators' qualifications per situation, camera and period (HTML and
    CSV)."""
    from veilleur.compliance.documents import BUCKETS

    if period not in BUCKETS:
        raise _fail(f"--period {period!r}: one of {', '.join(BUCKETS)}")
    start, end = _date(since, "--since"), _date(until, "--until")
    last = end + timedelta(days=1) if end else None  # --until is the last day, included
    _write("accountability", fmt, output, database, data_dir, None, actor, by=period,
           since=start, until=last)  # fmt: skip
