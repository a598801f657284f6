"""Warping error (Lai et al. 2018), its L1 variant, and the seam discontinuity of windowed generation.

:func:`warping_error` is the published definition (W.-S. Lai et al., "Learning Blind Video Temporal Consistency",
ECCV 2018, Eq. 7; the meaning EvalCrafter uses): for each consecutive pair, frame ``t + 1`` warped back onto frame
``t`` by the forward optical flow ``t -> t + 1``, the squared difference (RGB in [0, 1]) averaged over the
non-occluded pixels and channels, then averaged over pairs::

    E_warp = 1 / (F - 1) * sum_t  sum_p M_t(p) * ||V_t(p) - warp(V_t+1)(p)||^2 / (3 * sum_p M_t(p))

``M_t`` (1 = visible) comes from Ruder et al. 2016's forward-backward check, as Lai et al.'s code computes it: a
pixel is occluded when ``|f(p) + b(p + f(p))|^2 > 0.01 (|f|^2 + |b(p + f(p))|^2) + 0.5`` (f forward, b backward flow)
or lies on a motion boundary, ``|grad f_x|^2 + |grad f_y|^2 > 0.01 |f|^2 + 0.002`` (forward differences). When
every pixel is occluded the pair is averaged over all pixels, as their code does. The flow is any ``flow_fn``
(RAFT by :class:`videocomposer.metrics.flow.RaftFlow` as in EvalCrafter; Farneback weight-free by default).

:func:`mean_abs_warping_error` is this project's earlier, lighter variant (mean absolute difference, no occlusion
mask, Farneback): not comparable with published warping errors, still used for seams (:func:`seam_discontinuity`).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .video import as_uint8_video

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def farneback_flow(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
    """Dense flow `(H, W, 2)` from `frame_a` to `frame_b` (OpenCV Farneback; weight-free): a(p) ~ b(p + flow(p))."""
    gray_a = cv2.cvtColor(frame_a, cv2.COLOR_RGB2GRAY)
    gray_b = cv2.cvtColor(frame_b, cv2.COLOR_RGB2GRAY)
    return cv2.calcOpticalFlowFarneback(gray_a, gray_b, None, 0.5, 3, 9, 3, 5, 1.1, 0)


def farneback_flows(frames_a: np.ndarray, frames_b: np.ndarray) -> np.ndarray:
    """Batched :func:`farneback_flow`: ``(N, H, W, 2)`` flows of uint8 ``(N, H, W, 3)`` pairs, a(p) ~ b(p + flow)."""
    return np.stack([farneback_flow(a, b) for a, b in zip(frames_a, frames_b)])


def warp(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `frame` at `p + flow(p)` (bilinear, border replicated): warps frame b back onto frame a."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(frame, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool, True where occluded: Ruder et al. 2016's forward-backward check plus motion boundaries.

    Args:
        forward: ``(H, W, 2)`` flow ``t -> t + 1``; backward: ``(H, W, 2)`` flow ``t + 1 -> t``.
    """
    forward, backward = np.asarray(forward, np.float32), np.asarray(backward, np.float32)
    back_at_target = warp(backward, forward)
    squared = lambda flow: (flow.astype(np.float64) ** 2).sum(axis=-1)  # noqa: E731
    inconsistent = squared(forward + back_at_target) > 0.01 * (squared(forward) + squared(back_at_target)) + 0.5
    gradients = np.zeros(forward.shape[:2])
    for channel in range(2):
        component = forward[..., channel].astype(np.float64)
        du, dv = np.zeros_like(component), np.zeros_like(component)
        du[:, :-1] = component[:, :-1] - component[:, 1:]
        dv[:-1] = component[:-1] - component[1:]
        gradients += du**2 + dv**2
    boundary = gradients > 0.01 * squared(forward) + 0.002
    return inconsistent | boundary


def pair_flows(frames: np.ndarray, flow_fn: FlowFn | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(forward, backward)`` ``(F - 1, H, W, 2)`` flows of consecutive pairs: ``t -> t + 1`` and ``t + 1 -> t``.

    Args:
        frames: ``(F, H, W, 3)`` uint8 or float in [0, 1], F >= 2.
        flow_fn: ``(frames_a, frames_b) -> (N, H, W, 2)`` with ``a(p) ~ b(p + flow(p))`` (default: Farneback).
    """
    frames = as_uint8_video(frames, min_frames=2)
    flow_fn = flow_fn or farneback_flows
    forward = np.asarray(flow_fn(frames[:-1], frames[1:]), dtype=np.float32)
    backward = np.asarray(flow_fn(frames[1:], frames[:-1]), dtype=np.float32)
    expected = (len(frames) - 1, *frames.shape[1:3], 2)
    if forward.shape != expected or backward.shape != expected:
        raise ValueError(f"flow_fn: expected flows of shape {expected}, got {forward.shape}")
    return forward, backward


def lai_pair_errors(frames: np.ndarray, flow_fn: FlowFn | None = None, flows=None) -> np.ndarray:
    """``(F - 1,)`` Lai et al. 2018 warping errors of each consecutive pair (see the module docstring).

    Args:
        frames: ``(F, H, W, 3)`` uint8 or float in [0, 1], F >= 2.
        flow_fn: ``(frames_a, frames_b) -> (N, H, W, 2)`` with ``a(p) ~ b(p + flow(p))`` (default: Farneback).
        flows: already computed :func:`pair_flows` of ``frames`` (then ``flow_fn`` is not used).
    """
    frames = as_uint8_video(frames, min_frames=2)
    forward, backward = pair_flows(frames, flow_fn) if flows is None else flows
    errors = np.empty(len(frames) - 1)
    for t in range(len(frames) - 1):
        visible = ~occlusion_mask(forward[t], backward[t])
        if not visible.any():
            visible[:] = True
        warped = warp(frames[t + 1].astype(np.float32) / 255.0, forward[t])
        squared = (warped - frames[t].astype(np.float32) / 255.0).astype(np.float64) ** 2
        errors[t] = squared[visible].sum() / (3 * visible.sum())
    return errors


def warping_error(frames: np.ndarray, flow_fn: FlowFn | None = None) -> float:
    """Lai et al. 2018 warping error: mean over pairs of :func:`lai_pair_errors`; 0 for flow-consistent frames."""
    return float(lai_pair_errors(frames, flow_fn).mean())


def pairwise_warping_errors(frames: np.ndarray, forward: np.ndarray | None = None) -> np.ndarray:
    """``(F - 1,)`` mean absolute errors (0-1 scale): frame t against frame t+1 warped back onto it (Farneback flow,
    no occlusion mask; the L1 variant behind :func:`mean_abs_warping_error` and :func:`seam_discontinuity`).

    Args:
        frames: `(F, H, W, 3)` uint8 or float in [0, 1].
        forward: already computed Farneback flows ``t -> t + 1`` (``pair_flows(frames)[0]``), to share them.
    """
    frames = as_uint8_video(frames)
    if len(frames) < 2:
        raise ValueError(f"frames: warping error needs at least 2 frames, got {len(frames)}")
    errors = np.empty(len(frames) - 1)
    for t, (a, b) in enumerate(zip(frames[:-1], frames[1:])):
        warped = warp(b, farneback_flow(a, b) if forward is None else forward[t])
        errors[t] = np.abs(warped.astype(np.float32) - a.astype(np.float32)).mean() / 255.0
    return errors


def mean_abs_warping_error(frames: np.ndarray) -> float:
    """Mean over pairs of :func:`pairwise_warping_errors` (L1, no occlusion mask): not Lai et al.'s scale."""
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
