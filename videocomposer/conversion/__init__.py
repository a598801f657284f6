"""Conversion of the original VideoComposer release (and ModelScope text-to-video) into diffusers folders.

Exports are lazy, so that the CLI can register its commands without importing torch.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "convert_original_unet": "videocomposer.conversion.original_unet",
    "export_original_state_dict": "videocomposer.conversion.original_unet",
    "RELEASE_ORIGINAL_CONFIG": "videocomposer.conversion.original_unet",
    "convert_open_clip": "videocomposer.conversion.open_clip_to_transformers",
    "build_open_clip_tokenizer": "videocomposer.conversion.open_clip_to_transformers",
    "build_clip_image_processor": "videocomposer.conversion.open_clip_to_transformers",
    "convert_sd_vae": "videocomposer.conversion.sd_vae",
    "convert_release": "videocomposer.conversion.release",
    "convert_modelscope": "videocomposer.conversion.modelscope",
    "load_checkpoint": "videocomposer.conversion.checkpoint",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'videocomposer.conversion' has no attribute {name!r}")
