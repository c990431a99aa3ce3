"""Parameters of `excessive_density`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from veilleur.config.common import SituationConfig
from veilleur.config.situations.registry import SituationInfo

if TYPE_CHECKING:
    from veilleur.config.model import CameraConfig


class ExcessiveDensityConfig(SituationConfig):
    """`excessive_density`: too many people per m² (with a ground calibration) or per zone,
    for at least `min_duration_s`.

    The number of people in a zone is the count of person detections whose feet are in it,
    raised where people hide each other by an occupancy estimate (the zone's foreground in
    person-sized silhouettes, at most `occlusion_factor` times the count). With a ground
    calibration it is divided by the zone's area on the ground (persons per m²); the camera
    needs a calibration or `max_people` (or both: either limit then raises a signal).
    """

    min_duration_s: float = Field(
        default=5.0,
        ge=0,
        description="How long the density must stay above the limit before a signal, seconds.",
    )
    cooldown_s: float = Field(
        default=120.0,
        ge=0,
        description="After a signal, no new signal for the same zone for this many seconds "
        "(a dense crowd lasts; the operator is already looking).",
    )
    max_density_m2: float = Field(
        default=4.0,
        gt=0,
        description="Persons per m² above which a zone is too dense, when the camera has a "
        "ground calibration. 4/m² is a common critical level for a standing crowd (2/m² "
        "already slows a moving one); set it from the site's own crowd plan.",
    )
    max_people: int | dict[str, int] | None = Field(
        default=None,
        description="Persons above which a zone is too dense, whether or not the camera is "
        "calibrated: one number for every zone, or a number per zone name, e.g. "
        "{entrance: 40, stairs: 15}. Required on cameras without a ground calibration.",
    )
    smoothing_s: float = Field(
        default=3.0,
        gt=0,
        description="The count is the median over this many seconds, so that one frame of "
        "missed or doubled detections does not start or end a situation.",
    )
    grace_s: float = Field(
        default=3.0,
        ge=0,
        description="A situation ends only after the density has stayed below the limit this "
        "long; a short dip does not restart its clock.",
    )
    occlusion_factor: float = Field(
        default=5.0,
        ge=1,
        description="The occupancy estimate may raise the detected count up to this many "
        "times (in a packed crowd a small detector may find one person in five); 1 counts "
        "detections only. It never creates people where none is detected.",
    )

    occupancy_margin: float = Field(
        default=0.5,
        ge=0,
        description="The occupancy estimate replaces the detected count only when it exceeds "
        "it by more than this share (0.5: by half again). Where people stand apart the "
        "detector counts better than the foreground, which is off by a few tens of per cent.",
    )

    @field_validator("max_people")
    @classmethod
    def _positive(cls, v: int | dict[str, int] | None) -> int | dict[str, int] | None:
        values = v.values() if isinstance(v, dict) else [] if v is None else [v]
        if any(n < 1 for n in values):
            raise ValueError("max_people must be at least 1")
        return v

    def people_limit(self, zone: str | None) -> int | None:
        """The person limit of a zone (None: no count limit there)."""
        if isinstance(self.max_people, dict):
            return self.max_people.get(zone) if zone is not None else None
        return self.max_people


def check_camera(situation: SituationConfig, camera: CameraConfig) -> None:
    """A limit exists: people per m² needs the camera's ground calibration, otherwise a count."""
    if camera.calibration is None and getattr(situation, "max_people", None) is None:
        raise ValueError(
            "situations.excessive_density is enabled but has no limit: without a "
            "ground calibration (calibration:) there is no people per m², so give "
            "max_people: N (people per zone)"
        )


INFO = SituationInfo(
    id="excessive_density",
    config=ExcessiveDensityConfig,
    description="Too many people per m² or per zone.",
    decree_wording="densité trop importante de personnes",
    label="Excessive density",
    short="density",
    colour="#17becf",
    camera_check=check_camera,
)
