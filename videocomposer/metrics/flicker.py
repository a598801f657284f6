"""Temporal flickering, VBench's definition: the mean absolute difference of consecutive frames.

VBench reports ``(255 - mean_abs_diff) / 255`` on uint8 frames, so 1 means no change at all between frames and
higher is better. :func:`temporal_flickering` returns that score (computed on [0, 1] values, so ``1 - mean``);
:func:`frame_difference` returns the raw mean difference (0 for a still video). VBench applies it to videos of static
scenes, where every change is flicker; on moving content it also counts motion.
"""

from __future__ import annotations

import numpy as np

from .video import as_float_video


def frame_difference(frames: np.ndarray) -> float:
    """Mean absolute difference (0-1 scale) between consecutive frames of ``(F, H, W, 3)`` frames, F >= 2."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) < 2:
        as_float_video(frames, min_frames=2)  # raises the shape / frame-count error
    total = 0.0
    for t in range(len(frames) - 1):  # pair by pair: the memory of two frames, not of the clip
        a, b = as_float_video(frames[t : t + 2])
        total += np.abs(b - a).mean(dtype=np.float64)
    return float(total / (len(frames) - 1))


def temporal_flickering(frames: np.ndarray) -> float:
    """VBench's temporal-flickering score ``(255 - mean |frame_t+1 - frame_t|) / 255``: 1 for a still video."""
    return 1.0 - frame_difference(frames)
