"""Parameters of `zone_intrusion`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from veilleur.config.common import ObjectClass, SituationConfig, all_object_classes


class ZoneIntrusionConfig(SituationConfig):
    """`zone_intrusion`: a person or vehicle enters or stays in a forbidden zone, or crosses a
    line."""

    lines: list[str] = Field(
        default_factory=list,
        description="Names of the camera's lines whose crossing raises a signal (no minimum "
        "duration applies to a crossing).",
    )
    needs_zone: ClassVar[bool] = True
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
