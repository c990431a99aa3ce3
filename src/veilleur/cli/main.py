"""`veilleur ...`: the root command, assembled from one module per command group.

Every command module is light to import (its heavy imports sit inside its commands), so that
`veilleur --help` answers at once."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from veilleur import __version__
from veilleur.cli import analysis, documents, journal, models, retention, server, stats
from veilleur.cli import config as config_commands

app = typer.Typer(
    help="Veilleur: attention signals for eight predetermined situations in video, "
    "never about people.",
    no_args_is_help=True,
    add_completion=False,
)

app.add_typer(config_commands.app, name="config")
app.add_typer(models.app, name="models", help="List, verify and fetch model files.")
app.command("serve")(server.serve)
app.command("demo")(server.demo)
app.add_typer(journal.app, name="journal")
app.command("stats")(stats.stats)
app.add_typer(documents.app, name="documents")
app.command("purge")(retention.purge)
app.command("analyze")(analysis.analyze)
app.command("evaluate")(analysis.evaluate)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        Console().print(f"veilleur {__version__}")
        raise typer.Exit(0)
