"""Parameters of `wrong_way`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from veilleur.config.common import ObjectClass, SituationConfig, all_object_classes
from veilleur.config.situations.registry import SituationInfo

if TYPE_CHECKING:
    from veilleur.config.model import CameraConfig


class WrongWayConfig(SituationConfig):
    """`wrong_way`: something moves against a zone's allowed direction."""

    min_duration_s: float = Field(
        default=0.0,
        ge=0,
        description="How long the movement against the direction must have lasted, in "
        "seconds, on top of the minimum distance.",
    )
    cooldown_s: float = Field(
        default=10.0,
        ge=0,
        description="After a signal, no new signal in the same zone for this many seconds.",
    )
    classes: list[ObjectClass] = Field(
        default_factory=all_object_classes,
        description="What is watched: 'person', 'vehicle' or both.",
    )
    min_distance: float = Field(
        default=0.12,
        gt=0,
        description="Distance travelled against the direction before a signal, as a fraction "
        "of the image height (used when the camera has no calibration).",
    )
    min_distance_m: float = Field(
        default=3.0,
        gt=0,
        description="Distance travelled against the direction before a signal, in metres "
        "(used when the camera has a ground-plane calibration).",
    )
    angle_tolerance_deg: float = Field(
        default=60.0,
        gt=0,
        le=90,
        description="How far from exactly backwards the net movement may point and still "
        "count, in degrees; sideways movement (90°) never counts.",
    )
    window_s: float = Field(
        default=6.0,
        gt=0,
        description="The movement is measured over the last this-many seconds of the path, so "
        "an old step back or a turn long ago does not add up.",
    )


def check_camera(situation: SituationConfig, camera: CameraConfig) -> None:
    """Every zone watched has an allowed direction to go against."""
    for z in situation.zones:
        if camera.zones[z].direction is None:
            raise ValueError(
                f"situations.wrong_way watches zone '{z}', which has no allowed "
                f"direction; add direction: [dx, dy] to zones.{z}"
            )


INFO = SituationInfo(
    id="wrong_way",
    config=WrongWayConfig,
    description="Movement against the allowed direction of a zone.",
    decree_wording="non-respect par une personne ou un véhicule du sens de circulation commun",
    label="Wrong way",
    short="wrong way",
    colour="#9467bd",
    needs_zone=True,
    camera_check=check_camera,
)
