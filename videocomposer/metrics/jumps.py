"""Teleports in long videos: the largest frame-to-frame step against the typical (median) step.

A long video generated window by window can jump at a seam: between two frames the object, or the whole content,
moves or changes far more than anywhere else in the clip, although each window is smooth on its own.
:func:`jump_ratio` measures that from any per-pair step sizes ``s_t`` (pair ``t`` = frames ``t`` and ``t + 1``)::

    ratio = max_t s_t / median_t s_t

about 1-3 for smooth motion (steps of similar size), large (10 or more) for a single teleport. Two sources of steps:

- :func:`content_steps` (weight-free, any video): the mean absolute difference (0-1) of consecutive area-averaged
  32x32 thumbnails, i.e. how much the picture changes; a teleporting object or a cut stands out;
- :func:`centroid_steps`: the displacement in pixels of an object's centroid (e.g. from
  :func:`videocomposer.metrics.control.mask_centroids`), frames where it is missing skipped.

Not a published metric: a diagnostic for seams (with :func:`videocomposer.metrics.warping.seam_discontinuity`, which
asks the same of known window boundaries).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .repetition import thumbnails


class Jump(NamedTuple):
    """The largest step: its pair index ``t`` (frames ``t`` -> ``t + 1``), size, the median step, and their ratio."""

    pair: int
    largest: float
    median: float
    ratio: float


def jump_ratio(steps: np.ndarray) -> Jump:
    """The largest of ``(N,)`` step sizes against their median (NaN steps are skipped).

    Returns ``ratio = largest / median``; 1.0 when every step is zero, inf when only the median is zero.
    """
    steps = np.asarray(steps, dtype=np.float64)
    if steps.ndim != 1:
        raise ValueError(f"steps: expected a 1-D array of step sizes, got shape {steps.shape}")
    valid = np.flatnonzero(~np.isnan(steps))
    if len(valid) < 2:
        raise ValueError(f"steps: need at least 2 finite steps, got {len(valid)} of {len(steps)}")
    if (steps[valid] < 0).any() or np.isinf(steps[valid]).any():
        raise ValueError("steps: step sizes must be finite and >= 0")
    pair = int(valid[np.argmax(steps[valid])])
    largest, median = float(steps[pair]), float(np.median(steps[valid]))
    if median > 0:
        ratio = largest / median
    else:
        ratio = 1.0 if largest == 0 else float("inf")
    return Jump(pair, largest, median, ratio)


def content_steps(frames: np.ndarray, size: int = 32) -> np.ndarray:
    """``(F - 1,)`` mean absolute difference (0-1) of consecutive ``size x size`` thumbnails of ``(F, H, W, 3)``."""
    return steps_of_thumbnails(thumbnails(frames, size))


def steps_of_thumbnails(thumbs: np.ndarray) -> np.ndarray:
    """:func:`content_steps` from thumbnails ``(F, D)`` (:func:`videocomposer.metrics.repetition.thumbnails`)."""
    thumbs = np.asarray(thumbs)
    if thumbs.ndim != 2 or len(thumbs) < 2:
        raise ValueError(f"thumbnails: expected (F, D) with F >= 2, got shape {thumbs.shape}")
    return np.array([np.abs(b.astype(np.float64) - a).mean() for a, b in zip(thumbs[:-1], thumbs[1:])])


def centroid_steps(centroids: np.ndarray) -> np.ndarray:
    """``(F - 1,)`` pixel displacements of ``(F, 2)`` centroids between consecutive frames (NaN: one is missing)."""
    centroids = np.asarray(centroids, dtype=np.float64)
    if centroids.ndim != 2 or centroids.shape[1] != 2 or len(centroids) < 2:
        raise ValueError(f"centroids: expected (F, 2) with F >= 2, got shape {centroids.shape}")
    return np.linalg.norm(np.diff(centroids, axis=0), axis=1)
