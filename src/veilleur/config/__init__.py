"""Typed site configuration (YAML on disk, pydantic v2 in memory).

The configuration model is built from the situation registry (`config/situations/registry.py`)
the first time it is imported, so this package loads it only when one of its names is first
asked for: situations can be registered after `veilleur.config` is imported and before the
model is (as a test registers a throwaway one).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from veilleur.config.common import SituationConfig
from veilleur.config.situations import WrongWayConfig, ZoneIntrusionConfig

if TYPE_CHECKING:
    from veilleur.config.common import SITUATION_IDS
    from veilleur.config.loader import (
        ConfigError,
        ConfigProblem,
        json_schema,
        load_config,
        parse_config,
    )
    from veilleur.config.model import (
        CalibrationConfig,
        CameraConfig,
        LineConfig,
        PerceptionConfig,
        PrivacyConfig,
        SiteConfig,
        TrackingConfig,
        ZoneConfig,
    )

_LAZY = {
    "SITUATION_IDS": "veilleur.config.common",
    "ConfigError": "veilleur.config.loader",
    "ConfigProblem": "veilleur.config.loader",
    "json_schema": "veilleur.config.loader",
    "load_config": "veilleur.config.loader",
    "parse_config": "veilleur.config.loader",
    "CalibrationConfig": "veilleur.config.model",
    "CameraConfig": "veilleur.config.model",
    "LineConfig": "veilleur.config.model",
    "PerceptionConfig": "veilleur.config.model",
    "PrivacyConfig": "veilleur.config.model",
    "SiteConfig": "veilleur.config.model",
    "TrackingConfig": "veilleur.config.model",
    "ZoneConfig": "veilleur.config.model",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "SITUATION_IDS",
    "CalibrationConfig",
    "CameraConfig",
    "ConfigError",
    "ConfigProblem",
    "LineConfig",
    "PerceptionConfig",
    "PrivacyConfig",
    "SiteConfig",
    "SituationConfig",
    "TrackingConfig",
    "WrongWayConfig",
    "ZoneConfig",
    "ZoneIntrusionConfig",
    "json_schema",
    "load_config",
    "parse_config",
]
