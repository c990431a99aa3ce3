"""Parameters of `weapon`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from veilleur.config.common import SituationConfig, Strict
from veilleur.config.situations.registry import SituationInfo

WeaponKind = Literal["firearm", "knife"]


class ExtraWeaponModel(Strict):
    """A weapon detector of your own, run on every analysed frame beside the COCO detector.

    Any YOLOX-layout ONNX export works (output `[1, anchors, 5 + classes]`, see
    docs/situations/weapon.md); `class_map` says which of its classes are weapons and of which
    kind. No permissively licensed firearm detector ships with Veilleur.
    """

    path: str = Field(description="Path of the ONNX file (read locally, never downloaded).")
    format: Literal["yolox"] = Field(
        default="yolox",
        description="Output layout of the model; 'yolox' (anchor-free, 5 + classes columns "
        "per cell over strides 8, 16 and 32, decode step not exported).",
    )
    class_map: dict[int, WeaponKind] = Field(
        description="Class index of the model → 'firearm' or 'knife'; other classes are "
        "ignored. Example: {0: firearm, 1: knife}.",
    )
    num_classes: int | None = Field(
        default=None,
        ge=1,
        description="How many classes the model outputs; empty means one more than the "
        "largest index of class_map.",
    )
    input_size: int | None = Field(
        default=None,
        ge=64,
        multiple_of=32,
        description="Long side in pixels of the picture fed to it; empty uses the model's "
        "own fixed size, or 416.",
    )
    confidence: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Its detections below this score are dropped.",
    )

    @field_validator("class_map")
    @classmethod
    def _not_empty(cls, v: dict[int, WeaponKind]) -> dict[int, WeaponKind]:
        if not v:
            raise ValueError("class_map is empty: name at least one weapon class of the model")
        if min(v) < 0:
            raise ValueError("class indexes start at 0")
        return v

    @model_validator(mode="after")
    def _classes(self) -> ExtraWeaponModel:
        if self.num_classes is not None and max(self.class_map) >= self.num_classes:
            raise ValueError(
                f"class_map uses index {max(self.class_map)} but num_classes is {self.num_classes}"
            )
        return self


class WeaponConfig(SituationConfig):
    """`weapon`: a weapon held by a person, confirmed over several frames.

    By default only COCO knives (the general detector's class 43) held near a hand seen by the
    pose model; firearms need a detector of your own (`extra_model`). See
    docs/situations/weapon.md.
    """

    min_duration_s: float = Field(
        default=0.0,
        ge=0,
        description="How long, on top of the confirmation over frames, the weapon must have "
        "been seen before a signal, in seconds.",
    )
    knife_confidence: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Score the COCO detector must give a knife. High on purpose: at CCTV "
        "sizes phones, tools and umbrellas score as knives at 0.3-0.4.",
    )
    confirm_frames: int = Field(
        default=3,
        ge=1,
        description="A weapon must be seen in the hand in at least this many of the last "
        "`window_frames` frames on which the detector ran.",
    )
    window_frames: int = Field(
        default=5,
        ge=1,
        description="How many of the latest detector frames the confirmation looks at.",
    )
    window_s: float = Field(
        default=2.0,
        gt=0,
        description="The confirming frames must also lie within this many seconds (where the "
        "detector runs rarely, on still scenes, old sightings do not add up).",
    )
    hand_distance: float = Field(
        default=0.2,
        gt=0,
        description="Largest distance from a wrist keypoint to the weapon's box, in heights "
        "of the person's box.",
    )
    wrist_min_score: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Wrist keypoints scored below this by the pose model are not used.",
    )
    require_wrist: bool = Field(
        default=True,
        description="Whether a weapon counts only near a wrist seen by the pose model. When "
        "false, a weapon whose centre is inside the person's box grown by `hand_distance` also "
        "counts where no wrist is seen: more is found, and more phones and bags are taken for "
        "knives.",
    )
    extra_model: ExtraWeaponModel | None = Field(
        default=None,
        description="A weapon detector of your own (for example for firearms), run beside the "
        "COCO detector. Empty: only knives are looked for.",
    )

    @model_validator(mode="after")
    def _window(self) -> WeaponConfig:
        if self.confirm_frames > self.window_frames:
            raise ValueError(
                f"confirm_frames {self.confirm_frames} is larger than window_frames "
                f"{self.window_frames}"
            )
        return self


INFO = SituationInfo(
    id="weapon",
    config=WeaponConfig,
    description="A weapon held or visible.",
    decree_wording="présence ou utilisation d'armes (article R. 311-2 du code de la sécurité "
    "intérieure)",
    label="Weapon",
    short="weapon",
    colour="#d62728",
    needs_pose=True,
)
