"""Parameters of `crowd_movement`."""

from __future__ import annotations

from veilleur.config.common import SituationConfig


class CrowdMovementConfig(SituationConfig):
    """`crowd_movement`: a sudden collective change of motion.

    This version accepts the situation in configuration but does not analyse it yet; it is
    reported as such at start-up.
    """
