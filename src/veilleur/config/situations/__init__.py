"""One parameter model per situation, each in its own module."""

from veilleur.config.situations.abandoned_object import AbandonedObjectConfig
from veilleur.config.situations.crowd_movement import CrowdMovementConfig
from veilleur.config.situations.excessive_density import ExcessiveDensityConfig
from veilleur.config.situations.fire_start import FireStartConfig
from veilleur.config.situations.person_on_ground import PersonOnGroundConfig
from veilleur.config.situations.weapon import WeaponConfig
from veilleur.config.situations.wrong_way import WrongWayConfig
from veilleur.config.situations.zone_intrusion import ZoneIntrusionConfig

__all__ = [
    "AbandonedObjectConfig",
    "CrowdMovementConfig",
    "ExcessiveDensityConfig",
    "FireStartConfig",
    "PersonOnGroundConfig",
    "WeaponConfig",
    "WrongWayConfig",
    "ZoneIntrusionConfig",
]
