"""videocomposer: compositional, motion-controllable video synthesis, diffusers-native."""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "VideoComposerUNet3DModel": "videocomposer.models.unet_3d",
    "STCEncoder": "videocomposer.models.stc_encoder",
    "VideoComposerPipeline": "pipelines.pipeline_videocomposer",
    "VideoComposerPipelineOutput": "pipelines.pipeline_output",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'videocomposer' has no attribute {name!r}")
