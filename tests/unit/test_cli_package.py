"""The command line is one module per command group, assembled by `veilleur.cli.main`: no
command module imports `main` or depends on itself through the others."""

from __future__ import annotations

import ast
from pathlib import Path

from typer.testing import CliRunner

import veilleur.cli
from veilleur.cli import app

PACKAGE = Path(veilleur.cli.__file__).parent


def cli_imports(path: Path) -> set[str]:
    """The modules of `veilleur.cli` that a file imports (at any depth of the file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "veilleur.cli":
            found |= {alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").exists()}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("veilleur.cli."):
            found.add((node.module or "").removeprefix("veilleur.cli."))
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("veilleur.cli.")
                for a in node.names
                if a.name.startswith("veilleur.cli.")
            }
    return found


def test_command_modules_form_no_cycle_and_leave_main_alone() -> None:
    modules = {p.stem: cli_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert {"main", "analysis", "config", "server", "stats", "journal", "documents"} <= set(modules)
    importers_of_main = {name for name, deps in modules.items() if "main" in deps}
    assert importers_of_main <= {"__main__"}, importers_of_main

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for dep in modules.get(start, set()):
            if dep == target or (dep not in seen and reaches(dep, target, seen | {dep})):
                return True
        return False

    cyclic = sorted(name for name in modules if reaches(name, name, {name}))
    assert not cyclic, cyclic


def test_the_root_command_has_every_group() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("analyze", "evaluate", "config", "models", "serve", "demo", "journal",
                    "stats", "documents", "purge"):  # fmt: skip
        assert command in result.output
