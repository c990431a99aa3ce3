"""Parameters of `person_on_ground`."""

from __future__ import annotations

from pydantic import Field

from veilleur.config.common import SituationConfig
from veilleur.config.situations.registry import SituationInfo


class PersonOnGroundConfig(SituationConfig):
    """`person_on_ground`: a person goes from upright to lying and stays down.

    Zones are optional: with none the whole image is watched (the signal's zone is then null).
    """

    min_duration_s: float = Field(
        default=5.0,
        ge=0,
        description="How long the person must stay down after the fall before a signal, in "
        "seconds. 5 s leaves out people who trip and get straight back up, and most children "
        "throwing themselves on the ground in play; someone hurt stays down far longer.",
    )
    cooldown_s: float = Field(
        default=30.0,
        ge=0,
        description="After a signal, no new signal in the same zone for this many seconds.",
    )
    require_fall: bool = Field(
        default=True,
        description="Signal only a person seen upright (standing or sitting up) shortly before "
        "lying (see fall_window_s). Set to false to signal anyone lying for min_duration_s, "
        "including people already lying when first seen (asleep on a lawn or a bench) or who "
        "lay down slowly.",
    )
    fall_window_s: float = Field(
        default=2.0,
        gt=0,
        description="Longest time between the last upright posture and the first lying one for "
        "the change to count as a fall (UP-Fall falls take 0.5-0.8 s); lying down slowly "
        "(sitting first, then stretching out) takes longer and does not count.",
    )
    min_lying_score: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="How much one observation must look like lying (0..1, the mean of the "
        "torso angle, legs-versus-hips, box shape and box height cues) to count as lying.",
    )
    min_lying_share: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Share of the observations since the fall that must look lying; the rest "
        "may be unsure postures (keypoints missed, the person shifting on the ground).",
    )
    max_motion: float = Field(
        default=1.0,
        gt=0,
        description="How far the person may move while down, in upright body heights (between "
        "the positions of the first and last halves of the time down): someone who rolls and "
        "stands up elsewhere, or a wrong link between two people, moves more.",
    )
    min_keypoint_score: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Keypoints scored below this are ignored; when too few remain the posture "
        "is judged on the box shape and height alone.",
    )
    hold_s: float = Field(
        default=2.0,
        gt=0,
        description="How long a person not seen (missed by both the detector and the pose "
        "model) keeps their posture history before it is forgotten.",
    )


INFO = SituationInfo(
    id="person_on_ground",
    config=PersonOnGroundConfig,
    description="A person on the ground after a fall.",
    decree_wording="présence d'une personne au sol à la suite d'une chute",
    label="Person on the ground",
    short="on ground",
    colour="#ff7f0e",
    needs_pose=True,
)
