"""Pieces every part of the configuration shares: strict models, points, the situation base."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    #: The eight situations of decree 2023-828 art. 3, in its order. No other kind of signal
    #: exists (SPEC §1).
    SITUATION_IDS: tuple[str, ...]


def __getattr__(name: str) -> object:
    # SITUATION_IDS is read from the situation registry (config/situations/registry.py) when
    # first asked for, not when this module loads: the situations' own parameter modules import
    # this one, so the list cannot exist yet here.
    if name == "SITUATION_IDS":
        from veilleur.config.situations.registry import situation_ids

        return situation_ids()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


Point = Annotated[
    tuple[float, float],
    Field(description="A point [x, y] in 0..1 image coordinates (x right, y down)."),
]


#: What a configuration error says of a non-finite number (NaN, Infinity), wherever it is.
NOT_FINITE = (
    "NaN and Infinity are not allowed: write a finite number (e.g. 0.5); to turn a situation "
    "off, set its `enabled: false` instead"
)


class Strict(BaseModel):
    # allow_inf_nan=False: NaN or Infinity anywhere (a direction, a cooldown, a ground point) is
    # refused here rather than stored and silently disabling a situation (issue 12).
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


def check_unit_point(p: tuple[float, float]) -> None:
    if not all(math.isfinite(v) and -1e-9 <= v <= 1 + 1e-9 for v in p):
        raise ValueError(
            f"point {list(p)} is outside the image: coordinates are fractions of the width and "
            "height, each between 0 and 1"
        )


ObjectClass = Literal["person", "vehicle"]


def all_object_classes() -> list[ObjectClass]:
    return ["person", "vehicle"]


class SituationConfig(Strict):
    """Parameters every situation has."""

    enabled: bool = Field(default=False, description="Whether this situation is watched.")
    zones: list[str] = Field(
        default_factory=list,
        description="Names of the camera's zones where the situation is watched; empty means "
        "the whole image (for situations that need a zone, at least one is required).",
    )
    min_duration_s: float = Field(
        default=1.0,
        ge=0,
        description="How long the situation must last before a signal is raised, in seconds.",
    )
    cooldown_s: float = Field(
        default=30.0,
        ge=0,
        description="After a signal, no new signal of this situation in the same zone for this "
        "many seconds (the operator is already looking); what happens meanwhile is not dropped "
        "but attached to that signal as further events (a count and their times).",
    )
    min_confidence: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Signals whose confidence is below this value are not raised.",
    )
