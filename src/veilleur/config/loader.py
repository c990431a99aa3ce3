"""Reading the YAML configuration, with errors that name the file, the line, the key and the fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from veilleur.config.common import NOT_FINITE
from veilleur.config.model import SiteConfig


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    """Dotted path of the key, e.g. `cameras.gate.zones.tracks.polygon`."""
    line: int | None
    """1-based line in the file, when known."""
    message: str


class ConfigError(ValueError):
    """The configuration cannot be used; `problems` says every place that must change."""

    def __init__(self, path: str, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: the configuration is not valid ({len(problems)} problem(s))"]
        for p in problems:
            where = f"{path}:{p.line}" if p.line else path
            lines.append(f"  {where}: {p.key or '(top level)'}: {p.message}")
        lines.append("  See docs/configuration.md for every key, its meaning and an example.")
        super().__init__("\n".join(lines))


def _line_index(
    node: yaml.Node | None, prefix: tuple[str, ...], out: dict[tuple[str, ...], int]
) -> None:
    """Map each key path of a composed YAML document to its 1-based line number."""
    if node is None:
        return
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = (*prefix, str(k.value))
            out[key] = k.start_mark.line + 1
            _line_index(v, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _line_index(v, (*prefix, str(i)), out)


def _explain(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        return (
            "unknown key; check its spelling (see docs/configuration.md for the keys allowed here)"
        )
    if kind == "missing":
        return "this key is required"
    if kind == "finite_number":
        return NOT_FINITE
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    if "input" in err and kind not in ("value_error",):
        shown = json.dumps(err["input"], default=str)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg = f"{msg} (got {shown})"
    return msg


def parse_config(
    data: Any, path: str = "<config>", lines: dict[tuple[str, ...], int] | None = None
) -> SiteConfig:
    """Validate already-loaded YAML data; raise ConfigError with every problem found."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ConfigError(
            path,
            [ConfigProblem("", 1, "the file must be a YAML mapping with a 'cameras:' key")],
        )
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            # Find the deepest known line for this key path.
            line = None
            for n in range(len(loc), -1, -1):
                if loc[:n] in lines:
                    line = lines[loc[:n]]
                    break
            problems.append(ConfigProblem(".".join(loc), line, _explain(dict(err))))
        raise ConfigError(path, problems) from None


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a configuration file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), [ConfigProblem("", None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            str(p), [ConfigProblem("", None, f"cannot read the file: {exc}")]
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            str(p),
            [ConfigProblem("", line, f"not valid YAML: {problem}; check indentation and quotes")],
        ) from None
    lines: dict[tuple[str, ...], int] = {}
    _line_index(node, (), lines)
    return parse_config(data, str(p), lines)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file (for editors and docs)."""
    schema = SiteConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Veilleur site configuration"
    return schema
