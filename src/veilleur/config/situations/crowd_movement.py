"""Parameters of `crowd_movement`."""

from __future__ import annotations

from pydantic import Field

from veilleur.config.common import SituationConfig
from veilleur.config.situations.registry import SituationInfo


class CrowdMovementConfig(SituationConfig):
    """`crowd_movement`: a sudden collective change of motion in a zone (a crowd breaking into
    a run, scattering from a point, surging).

    The people detected in the zone are given a velocity from the dense optical flow inside
    their boxes, in body heights per second. The zone's mean speed is compared with a running
    baseline of the same zone: a signal needs a sudden rise (the baseline follows slow changes
    such as the end of a match) shared by a good part of the people present (one runner is not
    a crowd movement).
    """

    min_duration_s: float = Field(
        default=1.0,
        ge=0,
        description="How long the sudden change must last before a signal, seconds.",
    )
    min_people: int = Field(
        default=6,
        ge=2,
        description="Persons detected in the zone needed to judge a collective movement (a few "
        "people starting to walk together are not a crowd).",
    )
    jump: float = Field(
        default=0.35,
        gt=0,
        description="Rise of the zone's mean speed over its baseline, in body heights per "
        "second, that counts as sudden (0.35 is about 0.6 m/s; a walk measures about 0.7, a "
        "run 1.2 to 1.5).",
    )
    min_share: float = Field(
        default=0.4,
        gt=0,
        le=1,
        description="Share of the zone's persons that must each move faster than the baseline "
        "speed plus `jump`: the movement must be collective.",
    )
    min_speed: float = Field(
        default=0.0,
        ge=0,
        description="Mean speed, body heights per second, below which no change is signalled "
        "(0: any sudden change counts, even at a walk). At street crossings, where groups set "
        "off together at every green light, 0.9 keeps only changes to faster than a walk; it "
        "also ignores slow pushes in a packed crowd, which the flow measures at 0.4 to 0.6.",
    )
    spread_factor: float = Field(
        default=3.0,
        ge=0,
        description="The rise must also exceed this many times the usual variation of the "
        "zone's speed around its baseline (a zone where speeds always vary needs more).",
    )
    baseline_s: float = Field(
        default=5.0,
        gt=0,
        description="Time constant of the zone's running baseline, seconds: a rise of the mean "
        "speed slower than `jump` per `baseline_s` (a crowd leaving a stadium over minutes) is "
        "followed, not signalled.",
    )
    warmup_s: float = Field(
        default=4.0,
        ge=0,
        description="Seconds with at least `min_people` persons in the zone before its baseline "
        "is trusted (after start-up, or after the zone was empty for `baseline_s`).",
    )
    reaction_s: float = Field(
        default=0.4,
        gt=0,
        description="Time constant of the smoothing of the current speed, seconds: shorter "
        "reacts faster, longer ignores one frame of flow noise.",
    )
    flow_width: int = Field(
        default=320,
        ge=64,
        le=1280,
        description="Width in pixels of the grey picture the optical flow is computed on "
        "(320: about 2 ms per frame; larger follows smaller people for more time).",
    )


INFO = SituationInfo(
    id="crowd_movement",
    config=CrowdMovementConfig,
    description="A sudden collective change of motion.",
    decree_wording="mouvement de foule",
    label="Crowd movement",
    short="crowd mvt",
    colour="#2ca02c",
    needs_zone=True,
)
