"""The eight situations of SPEC §1, one module each, all with the `Situation` interface."""

from __future__ import annotations

import importlib
import warnings

from veilleur.config.common import SITUATION_IDS, SituationConfig
from veilleur.config.model import CameraConfig
from veilleur.situations.base import Situation, SituationContext


def _discover() -> dict[str, type[Situation]]:
    """Situation id → class, from the module of the same name in this package.

    One module per situation: `situations/<id>.py` with a `Situation` subclass whose `id` is
    `<id>`, beside its record and parameters in `config/situations/<id>.py`
    (docs/situations/README.md). Only registered ids are looked up: the product registers the
    decree's eight (SPEC §1), so no other kind of signal can be added.
    """
    found: dict[str, type[Situation]] = {}
    for sid in SITUATION_IDS:
        try:
            module = importlib.import_module(f"{__name__}.{sid}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{sid}":
                raise  # the module exists but something it imports does not
            continue
        classes = [
            v
            for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, Situation) and getattr(v, "id", None) == sid
        ]
        if len(classes) != 1:
            raise ImportError(
                f"{module.__name__} must define exactly one Situation with id {sid!r}"
            )
        found[sid] = classes[0]
    return found


#: Situations this version analyses. The others of SITUATION_IDS are accepted in configuration
#: and reported as not analysed, never silently dropped.
IMPLEMENTED: dict[str, type[Situation]] = _discover()


class SituationNotAvailable(UserWarning):
    """A situation is enabled in the configuration but this version does not analyse it."""


class BridgingCaveat(UserWarning):
    """A camera detects on one frame in N with a situation that was measured to miss events
    that way (`Situation.bridging_caveat`)."""


def bridging_caveats(camera: CameraConfig, camera_name: str, detect_every: int) -> list[str]:
    """What detecting on one frame in `detect_every` costs this camera's enabled situations,
    as measured, one sentence each, with the fix; empty at 1 or where nothing was lost."""
    if detect_every <= 1:
        return []
    out = []
    for name, cfg in camera.situations.items():
        cls = IMPLEMENTED.get(name)
        if cfg.enabled and cls is not None and cls.bridging_caveat:
            out.append(
                f"camera {camera_name}: {name} with perception.detect_every {detect_every}: "
                f"{cls.bridging_caveat}; set detect_every: 1 for this camera to see every "
                "frame (docs/pipeline.md)"
            )
    return out


def enabled_situations(
    camera: CameraConfig, camera_name: str
) -> list[tuple[type[Situation], SituationConfig]]:
    """The enabled situations of a camera that this version analyses, in the order of SPEC §1;
    each enabled one it does not analyse is reported with a `SituationNotAvailable` warning."""
    out: list[tuple[type[Situation], SituationConfig]] = []
    for name, cfg in camera.situations.items():
        if not cfg.enabled:
            continue
        cls = IMPLEMENTED.get(name)
        if cls is None:
            warnings.warn(
                f"camera {camera_name}: situation '{name}' is enabled but this version of "
                "Veilleur does not analyse it yet; it raises no signal",
                SituationNotAvailable,
                stacklevel=2,
            )
            continue
        out.append((cls, cfg))
    return out


def build_situations(camera: CameraConfig, context: SituationContext) -> list[Situation]:
    """The enabled situations of a camera, in the order of SPEC §1."""
    return [cls(cfg, context) for cls, cfg in enabled_situations(camera, context.camera)]


def known_limits(situation: str) -> str | None:
    cls = IMPLEMENTED.get(situation)
    return cls.known_limits if cls else None


__all__ = [
    "IMPLEMENTED",
    "BridgingCaveat",
    "Situation",
    "SituationContext",
    "SituationNotAvailable",
    "bridging_caveats",
    "build_situations",
    "enabled_situations",
    "known_limits",
]
