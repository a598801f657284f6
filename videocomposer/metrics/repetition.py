"""Repetition in long videos: a self-similarity profile over frame distance, and its most prominent peak.

Frames are reduced to ``size x size`` (area averaging, colour kept) and compared as ``1 - mean |a - b|`` (0-1 scale).
``profile[k]`` averages that similarity over all pairs ``k`` frames apart. A video that drifts on decreases with ``k``;
one that loops (a StyleSV failure mode: periodic motion, texture sticking) rises again at the loop length. The peak's
prominence is the rise above the lowest similarity at a shorter lag: 0 when nothing ever comes back.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from .video import as_float_video


class RepetitionPeak(NamedTuple):
    """The most prominent local maximum of the self-similarity profile: its lag (0 if none) and prominence."""

    lag: int
    prominence: float


def self_similarity_profile(frames: np.ndarray, max_lag: int | None = None, size: int = 32) -> np.ndarray:
    """``(max_lag + 1,)`` mean similarity ``1 - mean |frame_t - frame_t+k|`` for lags ``k = 0 .. max_lag``.

    Args:
        frames: ``(F, H, W, 3)`` uint8 or float in [0, 1], F >= 2.
        max_lag: largest lag, default ``F // 2`` (so every lag averages at least ``F / 2`` pairs); at most ``F - 1``.
        size: side of the thumbnails compared (small: robust to noise, fast).
    """
    return profile_of_thumbnails(thumbnails(as_float_video(frames, min_frames=2), size), max_lag)


def thumbnails(frames: np.ndarray, size: int = 32) -> np.ndarray:
    """``(F, size * size * 3)`` float32 area-averaged thumbnails of ``(F, H, W, 3)`` frames (a streaming reader can
    reduce chunk by chunk and keep only these: 12 KB per frame at the default size)."""
    if size < 1:
        raise ValueError(f"size: expected a positive int, got {size}")
    frames = np.asarray(frames)
    if frames.ndim != 4:
        as_float_video(frames)  # raises the shape error
    small = [cv2.resize(as_float_video(f[None])[0], (size, size), interpolation=cv2.INTER_AREA) for f in frames]
    return np.stack(small).reshape(len(frames), -1)


def profile_of_thumbnails(thumbs: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """:func:`self_similarity_profile` from :func:`thumbnails` ``(F, D)``."""
    thumbs = np.asarray(thumbs)
    if thumbs.ndim != 2 or len(thumbs) < 2:
        raise ValueError(f"thumbnails: expected (F, D) with F >= 2, got shape {thumbs.shape}")
    max_lag = len(thumbs) // 2 if max_lag is None else max_lag
    if not isinstance(max_lag, int) or not 1 <= max_lag <= len(thumbs) - 1:
        raise ValueError(f"max_lag: expected an int in [1, {len(thumbs) - 1}], got {max_lag!r}")
    profile = np.empty(max_lag + 1)
    profile[0] = 1.0
    for lag in range(1, max_lag + 1):
        pairs = len(thumbs) - lag
        total = sum(  # blocks of 32 pairs: temporaries stay small for long videos
            np.abs(
                thumbs[start + lag : min(start + 32, pairs) + lag].astype(np.float64)
                - thumbs[start : min(start + 32, pairs)]
            ).sum()
            for start in range(0, pairs, 32)
        )
        profile[lag] = 1.0 - total / (pairs * thumbs.shape[1])
    return profile


def repetition_peak(profile: np.ndarray, min_lag: int = 2) -> RepetitionPeak:
    """The lag ``>= min_lag`` whose similarity rises most above the minimum at shorter lags, if it is a local maximum.

    A lag counts when its similarity is above the previous lag's and not below the next one's (the last lag only
    needs the first). Returns ``RepetitionPeak(0, 0.0)`` for a profile that never rises again.
    """
    profile = np.asarray(profile, dtype=np.float64)
    if profile.ndim != 1 or len(profile) < 2:
        raise ValueError(f"profile: expected a 1-D profile over at least lags 0 and 1, got shape {profile.shape}")
    if min_lag < 1:
        raise ValueError(f"min_lag: expected >= 1, got {min_lag}")
    best = RepetitionPeak(0, 0.0)
    for lag in range(max(min_lag, 2), len(profile)):
        rising = profile[lag] > profile[lag - 1]
        if not rising or (lag + 1 < len(profile) and profile[lag + 1] > profile[lag]):
            continue
        prominence = float(profile[lag] - profile[1:lag].min())
        if prominence > best.prominence:
            best = RepetitionPeak(lag, prominence)
    return best
