"""The eight situations of SPEC §1, one module each, all with the `Situation` interface."""

from __future__ import annotations

import warnings

from veilleur.config.model import SITUATION_IDS, CameraConfig
from veilleur.situations.base import Situation, SituationContext
from veilleur.situations.wrong_way import WrongWay
from veilleur.situations.zone_intrusion import ZoneIntrusion

#: Situations this version analyses. The others of SITUATION_IDS are accepted in configuration
#: and reported as not analysed, never silently dropped.
IMPLEMENTED: dict[str, type[Situation]] = {
    ZoneIntrusion.id: ZoneIntrusion,
    WrongWay.id: WrongWay,
}

assert set(IMPLEMENTED) <= set(SITUATION_IDS)


class SituationNotAvailable(UserWarning):
    """A situation is enabled in the configuration but this version does not analyse it."""


def build_situations(camera: CameraConfig, context: SituationContext) -> list[Situation]:
    """The enabled situations of a camera, in the order of SPEC §1."""
    out: list[Situation] = []
    for name, cfg in camera.situations.items():
        if not cfg.enabled:
            continue
        cls = IMPLEMENTED.get(name)
        if cls is None:
            warnings.warn(
                f"camera {context.camera}: situation '{name}' is enabled but this version of "
                "Veilleur does not analyse it yet; it raises no signal",
                SituationNotAvailable,
                stacklevel=2,
            )
            continue
        out.append(cls(cfg, context))
    return out


def known_limits(situation: str) -> str | None:
    cls = IMPLEMENTED.get(situation)
    return cls.known_limits if cls else None


__all__ = [
    "IMPLEMENTED",
    "Situation",
    "SituationContext",
    "SituationNotAvailable",
    "WrongWay",
    "ZoneIntrusion",
    "build_situations",
    "known_limits",
]
