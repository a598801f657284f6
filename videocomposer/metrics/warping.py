"""Temporal flicker as warping error: how much frame t+1, warped back onto frame t by optical flow, differs from t.

Also the seam discontinuity of windowed generation: the warping error across given window boundaries relative to the
warping error of the other frame pairs.
"""

from __future__ import annotations

import cv2
import numpy as np

from .video import as_uint8_video


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


def pairwise_warping_errors(frames: np.ndarray) -> np.ndarray:
    """``(F - 1,)`` mean absolute errors (0-1 scale): frame t against frame t+1 warped back onto it (Farneback flow).

    Args:
        frames: `(F, H, W, 3)` uint8 or float in [0, 1], F >= 2.
    """
    frames = as_uint8_video(frames)
    if len(frames) < 2:
        raise ValueError(f"frames: warping error needs at least 2 frames, got {len(frames)}")
    errors = np.empty(len(frames) - 1)
    for t, (a, b) in enumerate(zip(frames[:-1], frames[1:])):
        warped = warp(b, farneback_flow(a, b))
        errors[t] = np.abs(warped.astype(np.float32) - a.astype(np.float32)).mean() / 255.0
    return errors


def warping_error(frames: np.ndarray) -> float:
    """Mean over consecutive pairs of :func:`pairwise_warping_errors`: 0 for perfectly flow-consistent frames."""
    return float(pairwise_warping_errors(frames).mean())


def seam_discontinuity(frames: np.ndarray, boundaries: list[int]) -> float:
    """Warping error across window boundaries divided by the warping error of all other consecutive pairs.

    Args:
        frames: `(F, H, W, 3)` uint8 or float in [0, 1].
        boundaries: first frame index of each new window (the pair ``(b - 1, b)`` crosses the seam), ``0 < b < F``.
    Returns:
        1.0 when seams are as smooth as the rest, above 1 when windows visibly jump (inf if the rest is exact).
    """
    return seam_ratio(pairwise_warping_errors(frames), boundaries)


def seam_ratio(pair_errors: np.ndarray, boundaries: list[int]) -> float:
    """:func:`seam_discontinuity` from already computed ``(F - 1,)`` :func:`pairwise_warping_errors`."""
    pair_errors = np.asarray(pair_errors, dtype=np.float64)
    if pair_errors.ndim != 1 or len(pair_errors) < 2:
        raise ValueError(f"pair_errors: expected (F - 1,) errors of at least 3 frames, got shape {pair_errors.shape}")
    num_frames = len(pair_errors) + 1
    seams = sorted({int(b) for b in boundaries})
    if not seams:
        raise ValueError("boundaries: give at least one window boundary")
    if seams[0] < 1 or seams[-1] > num_frames - 1:
        raise ValueError(f"boundaries: each must lie in [1, {num_frames - 1}] for {num_frames} frames, got {seams}")
    if len(seams) == num_frames - 1:
        raise ValueError(f"boundaries: every frame pair is a seam ({seams}); nothing left to compare against")
    at_seam = np.zeros(len(pair_errors), dtype=bool)
    at_seam[np.asarray(seams) - 1] = True
    elsewhere = pair_errors[~at_seam].mean()
    seam = pair_errors[at_seam].mean()
    return float(seam / elsewhere) if elsewhere > 0 else (1.0 if seam == 0 else float("inf"))
