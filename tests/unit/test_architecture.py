"""The layers' import rules (docs/architecture.md, `[tool.importlinter]` in pyproject.toml):
a test that fails when a module imports across a layer it may not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_import_rules_hold() -> None:
    done = lint()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_broken_rule_is_reported(tmp_path: Path) -> None:
    """The same checker on a rule the code breaks on purpose (the store uses SQLAlchemy):
    it must say so, naming the import."""
    config = tmp_path / "broken.ini"
    config.write_text(
        "[importlinter]\nroot_package = veilleur\ninclude_external_packages = True\n\n"
        "[importlinter:contract:store]\nname = store without sqlalchemy\ntype = forbidden\n"
        "source_modules =\n    veilleur.store\nforbidden_modules =\n    sqlalchemy\n"
    )
    done = lint(str(config))
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and "veilleur.store" in done.stdout
