"""Temporal flicker as warping error: how much frame t+1, warped back onto frame t by optical flow, differs from t."""

from __future__ import annotations

import cv2
import numpy as np


def _uint8(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames: expected (F, H, W, 3), got {frames.shape}")
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def farneback_flow(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
    """Dense flow `(H, W, 2)` from `frame_a` to `frame_b` (OpenCV Farneback; weight-free): a(p) ~ b(p + flow(p))."""
    gray_a = cv2.cvtColor(frame_a, cv2.COLOR_RGB2GRAY)
    gray_b = cv2.cvtColor(frame_b, cv2.COLOR_RGB2GRAY)
    return cv2.calcOpticalFlowFarneback(gray_a, gray_b, None, 0.5, 3, 9, 3, 5, 1.1, 0)


def warp(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `frame` at `p + flow(p)` (bilinear, border replicated): warps frame b back onto frame a."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(frame, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warping_error(frames: np.ndarray) -> float:
    """Mean absolute error (0-1 scale) between each frame and the next one warped back onto it by Farneback flow.

    Args:
        frames: `(F, H, W, 3)` uint8 or float in [0, 1], F >= 2.
    """
    frames = _uint8(frames)
    if len(frames) < 2:
        raise ValueError(f"frames: warping error needs at least 2 frames, got {len(frames)}")
    errors = []
    for a, b in zip(frames[:-1], frames[1:]):
        warped = warp(b, farneback_flow(a, b))
        errors.append(np.abs(warped.astype(np.float32) - a.astype(np.float32)).mean() / 255.0)
    return float(np.mean(errors))
