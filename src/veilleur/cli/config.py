"""`veilleur config ...`: check the configuration file and print its schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Check the configuration file and print its schema.", no_args_is_help=True)

err = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@app.command("check")
def config_check(
    config: Annotated[Path, typer.Argument(help="The YAML configuration file.")],
) -> None:
    """Validate a configuration file and summarise it."""
    from veilleur.config import ConfigError, load_config

    try:
        site = load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"{config}: valid")
    for col in ("camera", "source", "fps", "zones", "lines", "situations enabled", "version"):
        table.add_column(col)
    for name, cam in site.cameras.items():
        enabled = [n for n, s in cam.situations.items() if s.enabled]
        table.add_row(
            name,
            cam.source,
            f"{cam.analysis_fps:g}",
            ", ".join(cam.zones) or "-",
            ", ".join(cam.lines) or "-",
            ", ".join(enabled) or "-",
            site.camera_version(name),
        )
    out.print(table)
    from veilleur.situations import bridging_caveats

    for name, cam in site.cameras.items():
        for caveat in bridging_caveats(cam, name, site.perception_for(name).detect_every):
            err.print(f"[yellow]warning:[/] {caveat}", highlight=False)


@app.command("schema")
def config_schema(
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of the configuration file."""
    from veilleur.config import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        err.print(f"wrote {output}")
