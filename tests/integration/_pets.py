"""What the PETS 2009 S2L1 ground truth covers, shared by the tests that score against it.

The truth (A. Milan's annotation) boxes the people on the plaza. It has no box at all for the
people walking on the far path at the top of the picture (the lowest annotated foot is at
y = 154 px), whom any detector finds: predictions whose foot is above y = 150 px are therefore
ignored, as MOTChallenge ignores predictions in its ignore regions. Everything else is scored.
"""

from __future__ import annotations

import numpy as np

UNANNOTATED_FOOT_Y = 150.0


def annotated(xyxy: np.ndarray) -> np.ndarray:
    """Mask of the boxes whose foot lies where the ground truth annotates people."""
    return np.asarray(xyxy)[:, 3] >= UNANNOTATED_FOOT_Y
