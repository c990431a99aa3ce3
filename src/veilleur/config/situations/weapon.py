"""Parameters of `weapon`."""

from __future__ import annotations

from veilleur.config.common import SituationConfig


class WeaponConfig(SituationConfig):
    """`weapon`: a weapon held or visible.

    This version accepts the situation in configuration but does not analyse it yet; it is
    reported as such at start-up.
    """
