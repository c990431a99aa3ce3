"""The ground-truth format read by `veilleur evaluate`.

A truth file is YAML (documented in docs/evaluation.md):

```yaml
clips:
  - name: furg_house6                         # unique
    video: ${VEILLEUR_SHARED}/data/furg_fire/house6.mp4   # relative to this file, or absolute
    config: configs/fire.yaml                 # the site configuration to analyse it with
    camera: cam                               # optional when the configuration has one camera
    synthetic: false                          # true for clips made by a scenario generator
    expected:                                 # the signals that should be raised
      - situation: fire_start
        zone: null                            # null: any zone (or the whole image)
        optional: false                       # true: borderline, neither required nor a false alarm
        start_s: 0.0                          # the truth interval, seconds of the clip
        end_s: 30.0
        bbox: [0.1, 0.2, 0.5, 0.9]            # optional, 0..1 image coordinates
    # A clip with `expected: []` is a negative clip: every signal it raises is a false alarm,
    # and its duration counts in the false alarms per hour of every situation enabled on it.
```

`${NAME}` in paths is replaced by the environment variable NAME; `VEILLEUR_SHARED` defaults to
the `shared` folder beside the repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from veilleur.config.common import SITUATION_IDS

_REPO = Path(__file__).resolve().parents[3]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _strict() -> ConfigDict:
    return ConfigDict(extra="forbid", frozen=True)


class ExpectedSignal(BaseModel):
    """A situation that happens in the clip and should raise a signal."""

    model_config = _strict()

    situation: str = Field(description="One of the eight situation ids.")
    zone: str | None = Field(
        default=None,
        description="The zone (or line) where it happens; null matches a signal in any zone.",
    )
    start_s: float = Field(ge=0, description="Start of the truth interval, seconds of the clip.")
    end_s: float = Field(ge=0, description="End of the truth interval, seconds of the clip.")
    optional: bool = Field(
        default=False,
        description="A borderline case (e.g. feet within a few pixels of a zone's edge): a "
        "signal that reports it is not a false alarm, and no signal is not a miss.",
    )
    bbox: Annotated[list[float], Field(min_length=4, max_length=4)] | None = Field(
        default=None,
        description="Where, [x1, y1, x2, y2] in 0..1 image coordinates; when given, a signal "
        "must overlap it to match.",
    )

    @model_validator(mode="after")
    def _check(self) -> ExpectedSignal:
        if self.situation not in SITUATION_IDS:
            raise ValueError(
                f"unknown situation '{self.situation}'; one of {', '.join(SITUATION_IDS)}"
            )
        if self.end_s < self.start_s:
            raise ValueError(f"end_s {self.end_s} is before start_s {self.start_s}")
        return self


class Clip(BaseModel):
    """One labelled clip."""

    model_config = _strict()

    name: str = Field(description="Unique name of the clip in the truth file.")
    video: str = Field(description="The video file, relative to the truth file or absolute.")
    config: str = Field(description="The site configuration file, relative or absolute.")
    camera: str | None = Field(
        default=None, description="Camera of the configuration (needed when it has several)."
    )
    synthetic: bool = Field(
        default=False, description="Made by a scenario generator rather than filmed."
    )
    note: str = Field(default="", description="What the clip shows, for the report.")
    expected: list[ExpectedSignal] = Field(
        default_factory=list,
        description="Signals that should be raised; empty for a negative clip.",
    )


class TruthFile(BaseModel):
    model_config = _strict()

    clips: list[Clip] = Field(description="The labelled clips.")

    @model_validator(mode="after")
    def _unique(self) -> TruthFile:
        seen: set[str] = set()
        for c in self.clips:
            if c.name in seen:
                raise ValueError(f"two clips are named '{c.name}'")
            seen.add(c.name)
        return self


class TruthError(ValueError):
    pass


def expand(path: str, base: Path) -> Path:
    """`${VAR}` expanded (VEILLEUR_SHARED defaults to ../shared), relative to `base`."""

    def var(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "VEILLEUR_SHARED":
            return os.environ.get(name, str(_REPO.parent / "shared"))
        value = os.environ.get(name)
        if value is None:
            raise TruthError(f"{path}: environment variable {name} is not set")
        return value

    p = Path(_VAR.sub(var, path)).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def load_truth(path: str | Path) -> tuple[TruthFile, Path]:
    """The truth file and the folder its relative paths start from."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TruthError(f"{p}: file not found") from None
    except yaml.YAMLError as exc:
        raise TruthError(f"{p}: not valid YAML: {exc}") from None
    try:
        return TruthFile.model_validate(data), p.resolve().parent
    except ValidationError as exc:
        lines = [f"{p}: not a valid truth file"]
        for err in exc.errors():
            key = ".".join(str(x) for x in err["loc"])
            lines.append(f"  {key}: {err['msg'].removeprefix('Value error, ')}")
        lines.append("  See docs/evaluation.md for the format.")
        raise TruthError("\n".join(lines)) from None


def dump_truth(truth: TruthFile, path: str | Path) -> None:
    Path(path).write_text(
        yaml.safe_dump(truth.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    )
