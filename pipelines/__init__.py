"""Diffusers pipelines of videocomposer."""

from .pipeline_output import VideoComposerPipelineOutput
from .pipeline_videocomposer import VideoComposerPipeline

__all__ = ["VideoComposerPipeline", "VideoComposerPipelineOutput"]
