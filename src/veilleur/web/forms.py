"""HTML form fields generated from a situation's configuration model, and back.

Each situation's parameters are its pydantic model's fields; the form follows them (type,
bounds, description as help text), so a parameter added to a model appears in the console
without touching a template.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from veilleur.config import SituationConfig
from veilleur.config.situations import get

#: Shown first; the rest goes under "advanced parameters".
COMMON = ("enabled", "zones", "lines", "classes", "min_duration_s", "cooldown_s", "min_confidence")
#: List fields whose choices are the camera's zones or lines.
ZONE_LISTS = {"zones": "zones", "ignore_zones": "zones", "lines": "lines"}

Kind = Literal["bool", "number", "integer", "choices", "select", "json"]


@dataclass
class FormField:
    name: str
    label: str
    kind: Kind
    help: str
    value: Any
    optional: bool = False
    choices: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    advanced: bool = False

    @property
    def text(self) -> str:
        """The value as an input's text."""
        if self.value is None:
            return ""
        if self.kind == "json":
            return json.dumps(self.value)
        return str(self.value)


def situation_model(situation: str) -> type[SituationConfig]:
    """The parameter model of a situation, from its record."""
    return get(situation).config


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return annotation, optional
    return annotation, False


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge | annotated_types.Gt):
            lo = float(m.ge if isinstance(m, annotated_types.Ge) else m.gt)  # type: ignore[arg-type]
        if isinstance(m, annotated_types.Le | annotated_types.Lt):
            hi = float(m.le if isinstance(m, annotated_types.Le) else m.lt)  # type: ignore[arg-type]
    return lo, hi


def _kind(name: str, annotation: Any) -> tuple[Kind, list[str]]:
    if annotation is bool:
        return "bool", []
    if annotation is int:
        return "integer", []
    if annotation is float:
        return "number", []
    if typing.get_origin(annotation) is Literal:
        return "select", [str(a) for a in typing.get_args(annotation)]
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if name in ZONE_LISTS:
            return "choices", []
        if typing.get_origin(item) is Literal:
            return "choices", [str(a) for a in typing.get_args(item)]
    return "json", []


def situation_fields(
    situation: str, config: SituationConfig, zones: Sequence[str], lines: Sequence[str]
) -> list[FormField]:
    """The form of one situation on one camera, filled with its current values."""
    model = situation_model(situation)
    out: list[FormField] = []
    for name, info in model.model_fields.items():
        annotation, optional = _strip_none(info.annotation)
        kind, choices = _kind(name, annotation)
        if name in ZONE_LISTS:
            choices = list(zones if ZONE_LISTS[name] == "zones" else lines)
        lo, hi = _bounds(info)
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        out.append(
            FormField(
                name=name,
                label=name.replace("_", " "),
                kind=kind,
                help=info.description or "",
                value=list(value) if isinstance(value, list | tuple) else value,
                optional=optional,
                choices=choices,
                minimum=lo,
                maximum=hi,
                advanced=name not in COMMON,
            )
        )
    out.sort(key=lambda f: (f.advanced, COMMON.index(f.name) if f.name in COMMON else 0))
    return out


class FormError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def parse_situation_form(
    situation: str, form: Mapping[str, Any], getlist: typing.Callable[[str], list[Any]]
) -> dict[str, Any]:
    """The situation's parameters from a submitted form (validated later with the camera)."""
    model = situation_model(situation)
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation, optional = _strip_none(info.annotation)
        kind, _ = _kind(name, annotation)
        key = f"situations.{situation}.{name}"
        if kind == "bool":
            out[name] = form.get(name) in ("on", "true", "1")
            continue
        if kind == "choices":
            out[name] = [str(v) for v in getlist(name)]
            continue
        raw = str(form.get(name, "")).strip()
        if raw == "":
            if optional:
                out[name] = None
            continue  # left empty: the default applies
        if kind in ("number", "integer"):
            try:
                out[name] = int(raw) if kind == "integer" else float(raw)
            except ValueError:
                raise FormError(key, f"'{raw}' is not a number") from None
        elif kind == "select":
            out[name] = raw
        else:
            try:
                out[name] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise FormError(key, f"not valid JSON ({exc.msg})") from None
    return out
