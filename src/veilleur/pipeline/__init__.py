"""One camera's analysis loop."""

from veilleur.pipeline.camera import STAGES, CameraPipeline, StageClock
from veilleur.pipeline.prefetch import prefetch

__all__ = ["STAGES", "CameraPipeline", "StageClock", "prefetch"]
