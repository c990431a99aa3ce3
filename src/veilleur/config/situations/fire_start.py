"""Parameters of `fire_start`."""

from __future__ import annotations

from pydantic import Field

from veilleur.config.common import SituationConfig
from veilleur.config.situations.registry import SituationInfo


class FireStartConfig(SituationConfig):
    """`fire_start`: flames (flame-coloured light that flickers irregularly in place) or smoke
    (a grey veil spreading over the background) appearing; see docs/situations/fire_start.md.
    """

    min_duration_s: float = Field(
        default=2.0,
        ge=0,
        description="How long flames must have been seen, in seconds, before a signal. The "
        "flame tests also need about 2.4 s of frames (12 at 5 frames/s) to judge whether a "
        "light is periodic, whatever this value.",
    )
    cooldown_s: float = Field(
        default=60.0,
        ge=0,
        description="After a signal, no new signal in the same zone for this many seconds.",
    )
    grace_s: float = Field(
        default=10.0,
        ge=0,
        description="A fire counts as over once nothing fire-like has been seen in the zone for "
        "this long; a fire seen again later is a new situation (subject to the cool-down).",
    )
    flames: bool = Field(default=True, description="Watch for flames.")
    smoke: bool = Field(
        default=True,
        description="Watch for smoke (needs a fixed camera and a textured background; the "
        "background restarts by itself when the camera moves or the light changes).",
    )
    smoke_min_duration_s: float = Field(
        default=4.0,
        ge=0,
        description="How long smoke alone (without flames) must have been seen before a "
        "signal, in seconds; smoke is weaker evidence than flames.",
    )
    ignore_detected: bool = Field(
        default=True,
        description="Flicker and smoke-like changes inside the boxes of detected people and "
        "vehicles that are moving do not count (someone walking past a sunlit orange wall); "
        "still ones are kept (a parked car can burn). A flame region lying mostly inside the "
        "box of a person, still or moving, is skin or clothing, not flames. Off, the cues rely "
        "on the image alone (and warm skin or clothes can then look like flames).",
    )
    work_width: int = Field(
        default=320,
        ge=160,
        le=1280,
        description="Frames are analysed for fire at this width in pixels (never enlarged). A "
        "flame must be about 3 pixels wide at this width to be seen; raise it for distant "
        "fires, at a cost roughly proportional to the pixel count.",
    )
    min_red: int = Field(
        default=200,
        ge=0,
        le=255,
        description="Red level (0-255) a flame-coloured pixel reaches at least; lower it for "
        "dark scenes whose flames the camera does not saturate.",
    )
    flicker_delta: int = Field(
        default=15,
        ge=1,
        le=255,
        description="Change of grey level between two analysed frames that counts as a "
        "flicker of a flame-coloured pixel; raise it on noisy (night, high-gain) cameras.",
    )
    min_area: float = Field(
        default=0.0004,
        gt=0,
        lt=1,
        description="Smallest flame region, as a fraction of the image area (0.0004 is 23 "
        "pixels at the 320-pixel working width).",
    )
    max_coherence: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Flames flicker unevenly: some pixels brighten while others darken. A "
        "region whose pixels mostly change together (median coherence above this, 1 = all "
        "together) is a lamp, a beacon or a change of light.",
    )
    max_periodicity: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="A region whose area or brightness repeats with a period (autocorrelation "
        "above this) is a rotating beacon or a flashing light, not flames.",
    )
    max_steadiness: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="A region whose flame-coloured pixels keep coming back to the same grey "
        "level (in more than this share of the frames) is a still warm surface that things pass "
        "in front of, not flames.",
    )
    max_travel: float = Field(
        default=1.5,
        gt=0,
        description="A flame region stays in place: one whose centre moves further than this "
        "many times its own size (headlights, their reflections) is rejected.",
    )


INFO = SituationInfo(
    id="fire_start",
    config=FireStartConfig,
    description="Flames or smoke appearing.",
    decree_wording="départs de feux",
    label="Fire start",
    short="fire",
    colour="#e377c2",
)
