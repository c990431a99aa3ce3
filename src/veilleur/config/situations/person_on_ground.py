"""Parameters of `person_on_ground`."""

from __future__ import annotations

from veilleur.config.common import SituationConfig


class PersonOnGroundConfig(SituationConfig):
    """`person_on_ground`: a person on the ground after a fall.

    This version accepts the situation in configuration but does not analyse it yet; it is
    reported as such at start-up.
    """
