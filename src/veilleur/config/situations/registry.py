"""One record per situation, from which everything else that names situations derives.

Each situation declares a `SituationInfo` beside its parameter model (`config/situations/<id>.py`),
and `config/situations/__init__.py` registers the decree's eight in the decree's order. The
configuration model (`SituationsConfig`), `SITUATION_IDS`, the console's labels, the documents'
wording and the evaluation report's colours are all read from here, so a situation is described
in its own two modules (analysis and parameters) and nowhere else.

Registration happens while the program is imported, before anything reads the list: the first
read (`all_situations`, `get`, `situation_ids`) closes the registry, because the configuration
model and every check built from it would otherwise disagree with a late addition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from veilleur.config.common import SituationConfig
    from veilleur.config.model import CameraConfig

#: A check of an enabled situation against its camera (zones, lines, calibration), beyond what
#: its own parameters can see; raises ValueError with the message the configuration error shows.
CameraCheck = Callable[["SituationConfig", "CameraConfig"], None]

_COLOUR = re.compile(r"#[0-9a-f]{6}")


@dataclass(frozen=True)
class SituationInfo:
    """What the product says of one situation, wherever it names it."""

    id: str
    """The situation's key: in the configuration, the database, the API and signals."""
    config: type[SituationConfig]
    """Its parameter model, the value of `situations.<id>` in a camera's configuration."""
    description: str
    """Plain-language wording, one sentence: the configuration field's description (schema,
    docs/configuration.md) and the label of the documents."""
    decree_wording: str
    """The event as decree 2023-828 art. 3 words it, in French, quoted by the documents."""
    label: str
    """Short name shown to operators in the console."""
    short: str
    """Column heading of the evaluation matrix (a word or two)."""
    colour: str
    """`#rrggbb` colour of the situation in the evaluation report's charts and the console."""
    needs_zone: bool = False
    """Whether an enabled situation must name at least one zone (or line)."""
    needs_pose: bool = False
    """Whether its analysis needs person keypoints (the pipeline then runs the pose model)."""
    camera_check: CameraCheck | None = None
    """Further check of an enabled situation against its camera, if it has one."""

    def __post_init__(self) -> None:
        # A wrong record would only show as a broken page or schema much later: say it here.
        from veilleur.config.common import SituationConfig

        if not self.id.isidentifier() or self.id != self.id.lower():
            raise ValueError(f"situation id {self.id!r} must be a lower-case identifier")
        if not (isinstance(self.config, type) and issubclass(self.config, SituationConfig)):
            raise TypeError(f"situation {self.id!r}: config must be a SituationConfig subclass")
        for name in ("description", "decree_wording", "label", "short"):
            if not getattr(self, name).strip():
                raise ValueError(f"situation {self.id!r}: {name} is empty")
        if not _COLOUR.fullmatch(self.colour):
            raise ValueError(f"situation {self.id!r}: colour {self.colour!r} is not #rrggbb")


_registered: dict[str, SituationInfo] = {}
_closed = False


class RegistryClosed(RuntimeError):
    """A situation was registered after the list was read (and the configuration built)."""


def register(info: SituationInfo) -> SituationInfo:
    """Add a situation after those already registered; returns it."""
    if _closed:
        raise RegistryClosed(
            f"situation {info.id!r} registered after the situations were read; register it "
            "while the program is imported, before veilleur.config.model is"
        )
    if info.id in _registered:
        raise ValueError(f"situation {info.id!r} is already registered")
    _registered[info.id] = info
    return info


def _read() -> dict[str, SituationInfo]:
    global _closed
    if not _closed:
        # The product's eight register themselves when their package is imported.
        import veilleur.config.situations  # noqa: F401

        _closed = True
    return _registered


def all_situations() -> tuple[SituationInfo, ...]:
    """Every registered situation, in registration order (the decree's, for the eight)."""
    return tuple(_read().values())


def situation_ids() -> tuple[str, ...]:
    """Ids of every registered situation, in registration order."""
    return tuple(_read())


def get(situation: str) -> SituationInfo:
    """The record of a situation; KeyError naming the known ones when there is none."""
    found = _read().get(situation)
    if found is None:
        raise KeyError(f"unknown situation {situation!r}; one of {', '.join(_registered)}")
    return found


def find(situation: str) -> SituationInfo | None:
    """The record of a situation, or None (for values read back from storage or input)."""
    return _read().get(situation)
