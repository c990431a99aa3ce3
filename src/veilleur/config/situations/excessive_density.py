"""Parameters of `excessive_density`."""

from __future__ import annotations

from veilleur.config.common import SituationConfig


class ExcessiveDensityConfig(SituationConfig):
    """`excessive_density`: too many people per m² or per zone.

    This version accepts the situation in configuration but does not analyse it yet; it is
    reported as such at start-up.
    """
