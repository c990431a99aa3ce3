"""Scenario generators: labelled clips for what no real footage here covers.

Each module `scenarios/<name>.py` defines `generate(out_dir: Path, seed: int = 0) -> list[Clip]`:
it writes its video files and site configurations under `out_dir` and returns the clips with
their expected signals (`evaluation.truth.Clip`, `synthetic=True`, paths relative to
`out_dir`). `veilleur evaluate --scenarios DIR` runs every generator into DIR, writes
`DIR/truth.yaml`, and evaluates it with the real clips. Generators are deterministic for a
given seed, so figures can be reproduced.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

from veilleur.evaluation.truth import Clip

Generator = Callable[[Path, int], list[Clip]]


def generators() -> dict[str, Generator]:
    """Every scenario generator of this package, by module name."""
    out: dict[str, Generator] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        gen = getattr(module, "generate", None)
        if callable(gen):
            out[info.name] = gen
    return out
