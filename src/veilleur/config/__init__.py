"""Typed site configuration (YAML on disk, pydantic v2 in memory)."""

from veilleur.config.common import SITUATION_IDS, SituationConfig
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
from veilleur.config.situations import WrongWayConfig, ZoneIntrusionConfig

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
