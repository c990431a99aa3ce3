"""One camera's analysis loop."""

from veilleur.pipeline.camera import STAGES, CameraPipeline, StageClock

__all__ = ["STAGES", "CameraPipeline", "StageClock"]
