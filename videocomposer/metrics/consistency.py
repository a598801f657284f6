"""Consistency of per-frame features: the arithmetic shared by CLIP frame consistency and DINO subject consistency."""

from __future__ import annotations

import numpy as np


def _unit(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features: expected (F, D) with F >= 2, got shape {features.shape}")
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("features: a frame has an all-zero feature vector; its direction is undefined")
    return features / norms


def consecutive_similarity(features: np.ndarray) -> float:
    """Mean cosine similarity of consecutive frames' features ``(F, D)`` (VideoComposer's frame consistency).

    Symmetric in time: a video and its reversal score the same.
    """
    unit = _unit(features)
    return float((unit[1:] * unit[:-1]).sum(axis=1).mean())


def first_and_previous_similarity(features: np.ndarray) -> float:
    """VBench's subject-consistency arithmetic (Huang et al. 2024, ``subject_consistency.py``): the mean over frames
    ``t >= 1`` of ``(max(0, cos(f_t, f_t-1)) + max(0, cos(f_t, f_0))) / 2``, each cosine clamped on its own."""
    unit = _unit(features)
    previous = np.maximum(0.0, (unit[1:] * unit[:-1]).sum(axis=1))
    first = np.maximum(0.0, unit[1:] @ unit[0])
    return float(((previous + first) / 2.0).mean())
