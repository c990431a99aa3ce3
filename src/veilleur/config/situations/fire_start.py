"""Parameters of `fire_start`."""

from __future__ import annotations

from veilleur.config.common import SituationConfig


class FireStartConfig(SituationConfig):
    """`fire_start`: flames or smoke appearing.

    This version accepts the situation in configuration but does not analyse it yet; it is
    reported as such at start-up.
    """
