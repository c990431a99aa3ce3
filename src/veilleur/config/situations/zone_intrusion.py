"""Parameters of `zone_intrusion`."""

from __future__ import annotations

from pydantic import Field

from veilleur.config.common import ObjectClass, SituationConfig, all_object_classes
from veilleur.config.situations.registry import SituationInfo


class ZoneIntrusionConfig(SituationConfig):
    """`zone_intrusion`: a person or vehicle enters or stays in a forbidden zone, or crosses a
    line."""

    lines: list[str] = Field(
        default_factory=list,
        description="Names of the camera's lines whose crossing raises a signal (no minimum "
        "duration applies to a crossing).",
    )
    classes: list[ObjectClass] = Field(
        default_factory=all_object_classes,
        description="What may not enter: 'person', 'vehicle' or both.",
    )
    grace_s: float = Field(
        default=1.0,
        ge=0,
        description="A zone counts as emptied only after nobody has been in it for this long; "
        "a short detection gap does not start a new episode.",
    )


INFO = SituationInfo(
    id="zone_intrusion",
    config=ZoneIntrusionConfig,
    description="Entry into or presence in a forbidden zone, or crossing of a line.",
    decree_wording="franchissement ou présence d'une personne ou d'un véhicule dans une zone "
    "interdite ou sensible",
    label="Zone intrusion",
    short="intrusion",
    colour="#1f77b4",
    needs_zone=True,
)
