"""One parameter model and one `SituationInfo` record per situation, each in its own module;
this package registers the decree's eight, in the decree's order (art. 3)."""

from veilleur.config.situations import (
    abandoned_object,
    crowd_movement,
    excessive_density,
    fire_start,
    person_on_ground,
    weapon,
    wrong_way,
    zone_intrusion,
)
from veilleur.config.situations.abandoned_object import AbandonedObjectConfig
from veilleur.config.situations.crowd_movement import CrowdMovementConfig
from veilleur.config.situations.excessive_density import ExcessiveDensityConfig
from veilleur.config.situations.fire_start import FireStartConfig
from veilleur.config.situations.person_on_ground import PersonOnGroundConfig
from veilleur.config.situations.registry import (
    SituationInfo,
    all_situations,
    get,
    register,
    situation_ids,
)
from veilleur.config.situations.weapon import WeaponConfig
from veilleur.config.situations.wrong_way import WrongWayConfig
from veilleur.config.situations.zone_intrusion import ZoneIntrusionConfig

# The decree's order: every list of situations (configuration, console, documents) follows it.
for _module in (
    abandoned_object,
    weapon,
    wrong_way,
    zone_intrusion,
    person_on_ground,
    crowd_movement,
    excessive_density,
    fire_start,
):
    register(_module.INFO)

__all__ = [
    "AbandonedObjectConfig",
    "CrowdMovementConfig",
    "ExcessiveDensityConfig",
    "FireStartConfig",
    "PersonOnGroundConfig",
    "SituationInfo",
    "WeaponConfig",
    "WrongWayConfig",
    "ZoneIntrusionConfig",
    "all_situations",
    "get",
    "register",
    "situation_ids",
]
