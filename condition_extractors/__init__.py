"""Condition extractors: real videos and images -> VideoComposer condition tensors (see DESIGN.md).

Never imports ``videocomposer.models``, ``pipelines`` or training code.
"""

from .base import (
    ENTRY_POINT_GROUP,
    ConditionExtractor,
    available_extractors,
    extract_conditions,
    get_extractor,
    register_extractor,
)
from .motion_vectors import MotionVectorExtractor, motion_field_from_vectors
from .video import load_video, resize_center_crop

__all__ = [
    "ENTRY_POINT_GROUP",
    "ConditionExtractor",
    "MotionVectorExtractor",
    "available_extractors",
    "extract_conditions",
    "get_extractor",
    "load_video",
    "motion_field_from_vectors",
    "register_extractor",
    "resize_center_crop",
]
