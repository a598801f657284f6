"""Metrics for generated videos: control fidelity (object centroids, mask IoU) and temporal flicker (warping error)."""

from .control import centroid_error, color_mask, mask_centroids, mask_iou
from .warping import farneback_flow, warp, warping_error

__all__ = [
    "centroid_error",
    "color_mask",
    "farneback_flow",
    "mask_centroids",
    "mask_iou",
    "warp",
    "warping_error",
]
