"""Control-fidelity metrics: where is the object, and does it follow the conditioning trajectory or mask."""

from __future__ import annotations

import numpy as np


def color_mask(frames: np.ndarray, color: tuple[int, int, int] | np.ndarray, tolerance: float = 60.0) -> np.ndarray:
    """Pixels within `tolerance` (Euclidean RGB distance, 0-255 scale) of `color`.

    Args:
        frames: `(F, H, W, 3)` uint8, or float in [0, 1].
    Returns:
        `(F, H, W)` bool.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames: expected (F, H, W, 3), got {frames.shape}")
    values = frames.astype(np.float32) * (255.0 if frames.dtype != np.uint8 else 1.0)
    distance = np.linalg.norm(values - np.asarray(color, dtype=np.float32), axis=-1)
    return distance <= tolerance


def mask_centroids(masks: np.ndarray) -> np.ndarray:
    """Centroid `(x, y)` in pixels of each frame's mask; NaN where a mask is empty.

    Args:
        masks: `(F, H, W)` bool.
    Returns:
        `(F, 2)` float.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks: expected (F, H, W), got {masks.shape}")
    ys, xs = np.mgrid[: masks.shape[1], : masks.shape[2]]
    area = masks.sum(axis=(1, 2)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (masks * xs).sum(axis=(1, 2)) / area
        cy = (masks * ys).sum(axis=(1, 2)) / area
    return np.stack([cx, cy], axis=-1)


def centroid_error(predicted: np.ndarray, target: np.ndarray, missing: float) -> float:
    """Mean Euclidean distance in pixels between per-frame centroids `(F, 2)` and the target trajectory `(F, 2)`.

    Frames where the object was not found (NaN centroid) count as `missing` pixels (pass the frame diagonal), so
    losing the object is never better than finding it far away.
    """
    predicted, target = np.asarray(predicted, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if predicted.shape != target.shape or predicted.ndim != 2 or predicted.shape[1] != 2:
        raise ValueError(f"predicted and target: expected equal (F, 2) shapes, got {predicted.shape}, {target.shape}")
    if not np.isfinite(target).all():
        raise ValueError("target: the trajectory must be finite")
    distance = np.linalg.norm(predicted - target, axis=-1)
    return float(np.where(np.isnan(distance), missing, distance).mean())


def mask_iou(predicted: np.ndarray, target: np.ndarray) -> float:
    """Intersection over union of two boolean masks of equal shape (all frames pooled); 1.0 when both are empty."""
    predicted, target = np.asarray(predicted, dtype=bool), np.asarray(target, dtype=bool)
    if predicted.shape != target.shape:
        raise ValueError(f"predicted and target: shapes differ, {predicted.shape} vs {target.shape}")
    union = np.logical_or(predicted, target).sum()
    return 1.0 if union == 0 else float(np.logical_and(predicted, target).sum() / union)
