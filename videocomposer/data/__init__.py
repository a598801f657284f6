"""Video datasets: a folder of videos with captions (``video_dataset``) and synthetic moving shapes (``synthetic``)."""

from importlib import import_module
from typing import Any

_LAZY = {
    "VideoTextDataset": "videocomposer.data.video_dataset",
    "UnusableClipError": "videocomposer.data.video_dataset",
    "collate_video_text": "videocomposer.data.video_dataset",
    "read_captions": "videocomposer.data.video_dataset",
    "write_cache_index": "videocomposer.data.video_dataset",
    "write_condition_cache": "videocomposer.data.video_dataset",
    "SyntheticClip": "videocomposer.data.synthetic",
    "clip_seeds": "videocomposer.data.synthetic",
    "generate_clip": "videocomposer.data.synthetic",
    "load_ground_truth": "videocomposer.data.synthetic",
    "write_dataset": "videocomposer.data.synthetic",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'videocomposer.data' has no attribute {name!r}")
