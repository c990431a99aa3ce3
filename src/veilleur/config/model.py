"""The site configuration: one YAML file, typed with pydantic v2.

Every model forbids unknown keys and documents every field, so the generated JSON Schema and
`docs/configuration.md` say what each key means. Zones and lines are in 0..1 image coordinates
(x to the right, y down) so that a configuration survives a change of stream resolution.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, create_model, field_validator, model_validator
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from veilleur.config.common import (
    Point,
    SituationConfig,
    Strict,
    check_unit_point,
)
from veilleur.config.situations.registry import SituationInfo, all_situations, get


class ZoneConfig(Strict):
    """A region of the image, drawn as a polygon."""

    polygon: list[Point] = Field(
        description="Corners of the zone, at least 3 points [x, y] in 0..1 image coordinates, "
        "in drawing order; the polygon closes by itself and must not cross itself.",
    )
    direction: tuple[float, float] | None = Field(
        default=None,
        description="Allowed direction of movement in this zone, as a vector [dx, dy] in image "
        "coordinates (x right, y down), e.g. [0, 1] for 'downwards in the image'. Used by "
        "`wrong_way`; its length does not matter.",
    )

    @field_validator("polygon")
    @classmethod
    def _polygon_valid(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) < 3:
            raise ValueError(f"a zone needs at least 3 points, got {len(v)}")
        for p in v:
            check_unit_point(p)
        poly = Polygon(v)
        if not poly.is_valid:
            raise ValueError(
                f"the polygon is not a simple shape ({explain_validity(poly)}); draw its corners "
                "in order around the zone so that no edge crosses another"
            )
        if poly.area < 1e-6:
            raise ValueError("the polygon has no area; its points are (almost) on one line")
        return v

    @field_validator("direction")
    @classmethod
    def _direction_nonzero(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and math.hypot(*v) < 1e-9:
            raise ValueError("the direction vector is [0, 0]; give e.g. [0, 1] for downwards")
        return v


class LineConfig(Strict):
    """A line across the image; crossing it can raise `zone_intrusion`."""

    points: tuple[Point, Point] = Field(
        description="The two ends of the line, [x, y] in 0..1 image coordinates.",
    )
    forbidden_side: Literal["left", "right", "both"] = Field(
        default="both",
        description="Which crossing is forbidden, seen walking from the first point to the "
        "second: 'left' means moving onto the left-hand side, 'right' onto the right-hand side, "
        "'both' any crossing.",
    )

    @field_validator("points")
    @classmethod
    def _line_valid(
        cls, v: tuple[tuple[float, float], tuple[float, float]]
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        for p in v:
            check_unit_point(p)
        if math.dist(v[0], v[1]) < 1e-4:
            raise ValueError("the two ends of the line are the same point")
        return v


class CalibrationConfig(Strict):
    """Ground-plane calibration: image points and where they are on the ground, in metres."""

    image_points: list[Point] = Field(
        description="At least 4 points on the ground in the image, [x, y] in 0..1 image "
        "coordinates, no three of them on one line.",
    )
    ground_points: list[tuple[float, float]] = Field(
        description="The same points on the ground plane, [X, Y] in metres in any fixed "
        "frame (for example measured on a site plan), in the same order as image_points.",
    )

    @model_validator(mode="after")
    def _pairs(self) -> CalibrationConfig:
        if len(self.image_points) < 4:
            raise ValueError(
                f"calibration needs at least 4 point pairs, got {len(self.image_points)}"
            )
        if len(self.image_points) != len(self.ground_points):
            raise ValueError(
                f"image_points has {len(self.image_points)} points but ground_points has "
                f"{len(self.ground_points)}; give one ground point per image point"
            )
        for p in self.image_points:
            check_unit_point(p)
        return self


class SituationsConfigBase(Strict):
    """What the configuration of a camera's situations offers whatever situations exist."""

    def items(self) -> list[tuple[str, SituationConfig]]:
        """(id, parameters) of every situation, in the registry's (the decree's) order."""
        return [(name, getattr(self, name)) for name in type(self).model_fields]


def situations_model(infos: Iterable[SituationInfo]) -> type[SituationsConfigBase]:
    """The `situations:` section of a camera: one field per situation, its parameter model,
    described in plain language (the JSON Schema and docs/configuration.md show it)."""
    fields: dict[str, Any] = {
        info.id: (info.config, Field(default_factory=info.config, description=info.description))
        for info in infos
    }
    return create_model(
        "SituationsConfig",
        __base__=SituationsConfigBase,
        __doc__="Which of the eight situations are watched on this camera, and how.",
        __module__=__name__,
        **fields,
    )


if TYPE_CHECKING:
    SituationsConfig = SituationsConfigBase
else:
    #: Built from the registered situations when this module is first imported.
    SituationsConfig = situations_model(all_situations())


class PerceptionConfig(Strict):
    """How objects are found in each analysed frame."""

    detector: str = Field(
        default="auto",
        description="Detector model: 'yolox-nano', 'nanodet-m', 'nanodet-m-320', "
        "'movenet-multipose', or 'auto' (yolox-nano when its file is found, otherwise the "
        "bundled MoveNet MultiPose). See `veilleur models list`.",
    )
    model_path: str | None = Field(
        default=None,
        description="Path of the model file; when empty the file is looked up as described in "
        "docs/models.md (environment, user cache, bundled package).",
    )
    confidence: float | None = Field(
        default=None,
        ge=0.01,
        le=1,
        description="Detections below this score are dropped before the situations; empty "
        "uses the model's own default (docs/models.md: 0.3 for YOLOX-nano, 0.1 for MoveNet).",
    )
    input_size: int | None = Field(
        default=None,
        ge=128,
        multiple_of=32,
        description="Long side in pixels of the picture fed to the detector; empty uses the "
        "model's default (416 for YOLOX-nano, 384 for MoveNet as a detector).",
    )
    tiles: tuple[int, int] | None = Field(
        default=None,
        description="Run the detector on [columns, rows] overlapping tiles as well as the whole "
        "frame, to find small, distant people; costs about columns×rows+1 detector runs.",
    )
    motion_gating: bool = Field(
        default=True,
        description="Skip the detector on frames where nothing moved (the previous detections "
        "are kept); a detection still runs at least every `refresh_s` seconds.",
    )
    refresh_s: float = Field(
        default=2.0,
        gt=0,
        description="Longest time between two detector runs when motion gating skips frames.",
    )
    detect_every: int = Field(
        default=1,
        ge=1,
        le=4,
        description="Run the detector on one analysed frame in N. Each frame between gets the "
        "tracks seen on both sides, their boxes interpolated, and is blurred wherever the "
        "frames around it saw someone; results come N-1 frames late. 2 halves the detector's "
        "work with the same zone intrusions on the real clips, but a fall or a wrong way seen "
        "over few frames may be missed (docs/pipeline.md). 1: every frame.",
    )
    pose_confidence: float = Field(
        default=0.15,
        ge=0.01,
        le=1,
        description="Person score below which the pose model's (MoveNet MultiPose) persons are "
        "dropped; its scores run lower than a detector's on CCTV-sized people.",
    )
    pose_input_size: int = Field(
        default=256,
        ge=128,
        multiple_of=32,
        description="Long side, in pixels, of the picture fed to the pose model when a situation "
        "needs postures (person_on_ground, weapon); 384 finds more distant people for twice "
        "the cost.",
    )
    runtime: Literal["auto", "onnxruntime", "openvino"] = Field(
        default="auto",
        description="What runs the ONNX detectors (YOLOX, NanoDet): 'openvino' (the optional "
        "extra veilleur[openvino]), 'onnxruntime', or 'auto': OpenVINO when it is installed "
        "and runs in bf16 (see precision), else onnxruntime (OpenVINO in f32 was measured "
        "dearer). MoveNet always runs on LiteRT. See docs/models.md.",
    )
    precision: Literal["auto", "f32", "bf16"] = Field(
        default="auto",
        description="OpenVINO's inference precision: 'bf16' (about a third less CPU where the "
        "processor computes bf16 natively: AVX512_BF16 or AMX), 'f32', or 'auto': bf16 where "
        "the processor computes it natively, else f32. onnxruntime always runs fp32.",
    )
    threads: int = Field(
        default=1,
        ge=0,
        description="Inference threads per camera. One is the most CPU-efficient (measured: "
        "a second thread saves under 10 % of the time for 40 % more CPU); 0 lets the runtime "
        "use every core.",
    )


class TrackingConfig(Strict):
    """How detections are linked over time inside one camera (ids never leave it)."""

    lost_s: float = Field(
        default=2.0,
        gt=0,
        description="How long a track survives without detections before it is forgotten "
        "(people pass behind posts and each other).",
    )
    low_confidence: float | None = Field(
        default=None,
        ge=0.01,
        le=1,
        description="Detections between this score and perception.confidence only continue "
        "existing tracks (ByteTrack's second stage); they never start one or reach situations. "
        "Empty uses the model's default (0.1 for YOLOX-nano).",
    )
    high_confidence: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Detections above this score are matched first (ByteTrack's first stage) "
        "and may start a new track. Empty uses the model's default (0.6 for YOLOX-nano).",
    )
    min_iou: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Smallest box overlap for a detection to continue a track.",
    )
    min_hits: int = Field(
        default=2,
        ge=1,
        description="Frames a new track must be seen in before situations take it into account.",
    )
    association: Literal["iou", "centre"] = Field(
        default="iou",
        description="How a detection is matched to a track: 'iou' by the overlap of its box "
        "with the track's predicted box (ByteTrack), 'centre' by how near their centres are for "
        "their height, which keeps walkers' tracks when frames are 0.4 s or more apart (low "
        "analysis rates; analyses that detect on every other frame use it; docs/pipeline.md).",
    )
    centre_reach: float = Field(
        default=0.75,
        gt=0,
        le=3,
        description="With association 'centre': how far, in box heights, a detection's centre "
        "may be from the track's predicted centre and still continue it.",
    )


class PrivacyConfig(Strict):
    """How persons are hidden in every picture that leaves the camera's process (SPEC S6;
    docs/privacy.md says what each mode guarantees and costs)."""

    mode: Literal["persons", "background"] = Field(
        default="persons",
        description="'persons': the picture as it is, blurred wherever any cue says a person may "
        "be (detections at the privacy score, tracks the detector lost, pose boxes, and "
        "everything that moves or differs from the learnt background). 'background' "
        "(privacy first): the learnt background is shown, and everything that differs from it "
        "at all is shown only blurred; no detector miss can show a person, at the cost of more "
        "blurring and a picture of the background that lags changes of light.",
    )
    confidence: float | None = Field(
        default=None,
        ge=0.01,
        le=1,
        description="Person detections at or above this score are blurred, however low it is "
        "for the situations; empty uses 0.05 (or the model's tracking score if lower). Lower "
        "blurs more false boxes, never fewer persons.",
    )
    hold_s: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="Seconds a person's box stays blurred after the last cue that saw it there "
        "(a detector that loses a still person for a few frames).",
    )
    learn_s: float = Field(
        default=60.0,
        gt=1,
        le=3600,
        description="Time constant, seconds, with which something that appeared and stays "
        "(a person who sat down unseen by the detector, a moved chair) is learnt into the "
        "background and stops being blurred; where a detection is, nothing is learnt.",
    )


#: Largest analysis picture, [width, height]: 8K.
MAX_ANALYSIS_SIZE = (7680, 4320)


class CameraConfig(Strict):
    """One camera: its source, what is analysed, and where."""

    source: str = Field(
        description="A video file path, or a stream URL (rtsp://, rtmp://, http(s)://), or a "
        "local device such as /dev/video0.",
    )
    mode: Literal["live", "calibration", "statistics"] = Field(
        default="live",
        description="'live': attention signals to operators, only inside an active "
        "authorisation (SPEC §4). 'calibration': the same processing, but what would have been "
        "signalled is only recorded for tuning, never sent to operators. 'statistics': only "
        "anonymous aggregates (counts per zone and line, occupancy, density per time bucket); "
        "no image, no track, no signal.",
    )
    analysis_fps: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Frames analysed per second; the source is sampled at this rate by its own "
        "timestamps.",
    )
    analysis_size: tuple[int, int] | None = Field(
        default=None,
        description="[width, height] in pixels the frames are resized to before analysis "
        "(32 to 7680 wide, 32 to 4320 high); empty keeps the source size. Zones are in 0..1 "
        "so they follow.",
    )
    calibration: CalibrationConfig | None = Field(
        default=None,
        description="Ground-plane calibration for speeds, distances and densities in metres.",
    )
    zones: dict[str, ZoneConfig] = Field(
        default_factory=dict,
        description="Named zones of the image.",
    )
    lines: dict[str, LineConfig] = Field(
        default_factory=dict,
        description="Named lines of the image.",
    )
    situations: SituationsConfig = Field(
        default_factory=SituationsConfig,
        description="The situations watched on this camera.",
    )
    perception: PerceptionConfig | None = Field(
        default=None,
        description="Overrides the site-wide perception settings for this camera.",
    )
    privacy: PrivacyConfig = Field(
        default_factory=PrivacyConfig,
        description="How persons are hidden in the pictures shown and stored.",
    )

    @field_validator("analysis_size")
    @classmethod
    def _size_positive(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and (v[0] < 32 or v[1] < 32):
            raise ValueError(f"analysis_size {list(v)} is too small; use at least [32, 32]")
        if v is not None and (v[0] > MAX_ANALYSIS_SIZE[0] or v[1] > MAX_ANALYSIS_SIZE[1]):
            # A camera asked for [1e9, 1e9] never started and logged warnings without end.
            raise ValueError(
                f"analysis_size {list(v)} is too large; at most {list(MAX_ANALYSIS_SIZE)} "
                "(8K); analysis works best at 640 to 1280 pixels wide"
            )
        return v

    @model_validator(mode="after")
    def _references_exist(self) -> CameraConfig:
        for name, sit in self.situations.items():
            if not sit.enabled:
                continue
            for z in sit.zones:
                if z not in self.zones:
                    known = ", ".join(sorted(self.zones)) or "none defined"
                    raise ValueError(
                        f"situations.{name}.zones names '{z}', which is not a zone of this "
                        f"camera (zones: {known}); add it under 'zones:' or fix the name"
                    )
            lines = getattr(sit, "lines", [])
            for ln in lines:
                if ln not in self.lines:
                    known = ", ".join(sorted(self.lines)) or "none defined"
                    raise ValueError(
                        f"situations.{name}.lines names '{ln}', which is not a line of this "
                        f"camera (lines: {known}); add it under 'lines:' or fix the name"
                    )
            info = get(name)
            if info.needs_zone and not sit.zones and not lines:
                what = "zones: [..] or lines: [..]" if hasattr(sit, "lines") else "zones: [..]"
                raise ValueError(
                    f"situations.{name} is enabled but names no zone; it needs one ({what})"
                )
            if info.camera_check is not None:
                info.camera_check(sit, self)
        return self


class SiteConfig(Strict):
    """A Veilleur site: its cameras and the defaults they share."""

    perception: PerceptionConfig = Field(
        default_factory=PerceptionConfig,
        description="Site-wide perception settings; a camera may override them.",
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig,
        description="Site-wide tracking settings.",
    )
    cameras: dict[str, CameraConfig] = Field(
        description="The cameras, by name (letters, digits, '_' and '-').",
    )

    @field_validator("cameras")
    @classmethod
    def _camera_names(cls, v: dict[str, CameraConfig]) -> dict[str, CameraConfig]:
        if not v:
            raise ValueError("no camera is configured; add at least one under 'cameras:'")
        for name in v:
            if not name or not all(c.isalnum() or c in "_-" for c in name):
                raise ValueError(f"camera name '{name}' may only use letters, digits, '_' and '-'")
        return v

    def perception_for(self, camera: str) -> PerceptionConfig:
        return self.cameras[camera].perception or self.perception

    def camera_version(self, camera: str) -> str:
        """Fingerprint of everything that shapes this camera's signals."""
        payload: dict[str, Any] = {
            "camera": self.cameras[camera].model_dump(mode="json"),
            "perception": self.perception_for(camera).model_dump(mode="json"),
            "tracking": self.tracking.model_dump(mode="json"),
        }
        canonical = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]
