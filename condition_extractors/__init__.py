"""Condition extractors: real videos and images -> VideoComposer condition tensors (see docs/architecture.md).

Never imports ``videocomposer.models``, ``pipelines`` or training code. Model-backed extractors import transformers /
controlnet_aux only when built from a path.
"""

from .base import (
    ENTRY_POINT_GROUP,
    ConditionExtractor,
    available_extractors,
    extract_conditions,
    get_extractor,
    register_extractor,
)
from .canny import CannyExtractor
from .depth import DepthExtractor
from .image import ImageExtractor, load_image
from .mask import MaskGenerator
from .motion_vectors import MotionVectorExtractor, motion_field_from_vectors
from .sketch import SingleSketchExtractor, SketchExtractor
from .video import load_video, resize_center_crop

__all__ = [
    "ENTRY_POINT_GROUP",
    "CannyExtractor",
    "ConditionExtractor",
    "DepthExtractor",
    "ImageExtractor",
    "MaskGenerator",
    "MotionVectorExtractor",
    "SingleSketchExtractor",
    "SketchExtractor",
    "available_extractors",
    "extract_conditions",
    "get_extractor",
    "load_image",
    "load_video",
    "motion_field_from_vectors",
    "register_extractor",
    "resize_center_crop",
]
