"""Parameters of `abandoned_object`."""

from __future__ import annotations

from pydantic import Field, model_validator

from veilleur.config.common import SituationConfig
from veilleur.config.situations.registry import SituationInfo


class AbandonedObjectConfig(SituationConfig):
    """`abandoned_object`: an object that appeared, stays still, and nobody stays near it.

    Candidates come from static foreground (two background models learning at different
    speeds) and from the detector's bag classes (backpack, handbag, suitcase); persons, parked
    vehicles, ghosts of things that left and patches of light are rejected. See
    docs/situations/abandoned_object.md.
    """

    min_duration_s: float = Field(
        default=60.0,
        ge=0,
        description="How long the object must have stayed still with nobody staying near it "
        "before a signal, in seconds.",
    )
    cooldown_s: float = Field(
        default=300.0,
        ge=0,
        description="After a signal, no new signal for an object at the same place until "
        "nothing has been seen there for this many seconds (one signal per object, however "
        "long it stays).",
    )
    ignore_zones: list[str] = Field(
        default_factory=list,
        description="Names of the camera's zones where nothing is ever reported: benches, "
        "bins, displays, shop fronts, reflective floors, doors that open. Drawn during "
        "calibration where false alarms gather.",
    )
    owner_distance: float = Field(
        default=1.0,
        gt=0,
        description="A person whose feet are within this distance of the object attends it, "
        "in heights of that person's box, about 1.7 m (used when the camera has no ground "
        "calibration; image distances shrink with depth, so a larger value reaches further "
        "behind the object than beside it).",
    )
    owner_distance_m: float = Field(
        default=2.0,
        gt=0,
        description="A person within this distance of the object, in metres on the ground, "
        "attends it (used when the camera has a ground-plane calibration).",
    )
    still_speed: float = Field(
        default=0.1,
        gt=0,
        description="A person attends an object only while standing, sitting or moving slower "
        "than this over the last 2 s, in heights of their box per second: passers-by walking "
        "past a bag do not make it attended (walking across the image is 0.5-1 height per "
        "second, less towards the camera).",
    )
    min_size: float = Field(
        default=0.12,
        gt=0,
        description="Smallest object reported: the longer side of its box, in heights of a "
        "person standing at the same place in the image (learnt from the persons seen).",
    )
    max_size: float = Field(
        default=0.7,
        gt=0,
        description="Largest object reported, in the same unit as min_size. A person lying "
        "across the image is about 1; large suitcases about 0.4.",
    )
    min_size_image: float = Field(
        default=0.015,
        gt=0,
        le=1,
        description="Smallest object, as a fraction of the image height, until enough persons "
        "have been seen to learn their size across the image.",
    )
    max_size_image: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Largest object, as a fraction of the image height, until the person size "
        "is learnt.",
    )
    person_memory_s: float = Field(
        default=15.0,
        ge=0,
        description="A still region where a standing, sitting or lying person was detected "
        "within this many seconds is that person, not an object, even if the detector misses "
        "them for a while.",
    )
    min_edge_contrast: float = Field(
        default=1.3,
        gt=0,
        description="A new object has its own outline: the edge strength along the region's "
        "outline must be at least this many times that of the learnt background. Lower values "
        "accept low-contrast objects and more patches of light; below 1 ghosts of things that "
        "left are accepted too.",
    )
    max_texture_match: float = Field(
        default=0.6,
        ge=-1,
        le=1,
        description="Where the ground is textured, a region through which the ground's "
        "texture still shows with a correlation above this is light or shadow, not an object.",
    )
    bag_confidence: float = Field(
        default=0.45,
        ge=0,
        le=1,
        description="Bag detections (backpack, handbag, suitcase) above this score start a "
        "candidate of their own even when the background model does not see the object; "
        "weaker ones only support a static region they overlap.",
    )
    background_learn_s: float = Field(
        default=10.0,
        gt=0,
        description="How long the scene is watched at start (or after a global change of "
        "light) before anything can be reported; objects present then are part of the scene.",
    )
    diff_threshold: float = Field(
        default=25.0,
        gt=0,
        le=255,
        description="Colour difference (0-255) from the learnt background above which a pixel "
        "counts as changed. Raise it for noisy or heavily compressed streams.",
    )
    work_width: int = Field(
        default=320,
        ge=64,
        description="Width in pixels of the copy of the frame the background models work on; "
        "smaller is cheaper but loses small bags far away.",
    )

    @model_validator(mode="after")
    def _sizes(self) -> AbandonedObjectConfig:
        if self.min_size >= self.max_size:
            raise ValueError(
                f"min_size {self.min_size} must be smaller than max_size {self.max_size}"
            )
        if self.min_size_image >= self.max_size_image:
            raise ValueError(
                f"min_size_image {self.min_size_image} must be smaller than max_size_image "
                f"{self.max_size_image}"
            )
        return self


INFO = SituationInfo(
    id="abandoned_object",
    config=AbandonedObjectConfig,
    description="An object left still with nobody near it.",
    decree_wording="présence d'objets abandonnés",
    label="Abandoned object",
    short="abandoned",
    colour="#8c564b",
)
