"""Parameters of `abandoned_object`."""

from __future__ import annotations

from veilleur.config.common import SituationConfig


class AbandonedObjectConfig(SituationConfig):
    """`abandoned_object`: an object left still with nobody near it.

    This version accepts the situation in configuration but does not analyse it yet; it is
    reported as such at start-up.
    """
