"""Motion control: does a generated video move as its motion condition says?

Two measures against a motion-vector condition ``(F, 2, H, W)`` (the ``motion`` extractor's layout: channel 0 = dx,
1 = dy, the forward displacement ``dst - src`` from frame ``t - 1``, written at the destination block centre of
frame ``t``, zero elsewhere and on I-frames):

- :func:`motion_vector_error` (weight-free): the same codec extractor (PyAV, MPEG-4 part 2 re-encode) on the
  generated frames, then the end-point error on the blocks that carry a vector in both fields;
- :func:`flow_error` (VideoComposer's "motion control"): the per-pixel Euclidean distance between the dense optical
  flow of the generated video and the condition, on the condition's vectors. The flow comes from any ``flow_fn``:
  RAFT (:class:`videocomposer.metrics.flow.RaftFlow`) as the paper, or weight-free Farneback.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .video import as_float_video, as_uint8_video
from .warping import farneback_flow

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def farneback_flows(frames_a: np.ndarray, frames_b: np.ndarray) -> np.ndarray:
    """Batched :func:`farneback_flow`: ``(N, H, W, 2)`` flows of uint8 ``(N, H, W, 3)`` pairs, ``a(p) ~ b(p + flow)``."""
    return np.stack([farneback_flow(a, b) for a, b in zip(frames_a, frames_b)])


def _condition(condition, frames: np.ndarray) -> np.ndarray:
    condition = np.asarray(condition.detach().cpu() if hasattr(condition, "detach") else condition, dtype=np.float32)
    expected = (frames.shape[0], 2, frames.shape[1], frames.shape[2])
    if condition.shape != expected:
        raise ValueError(f"condition: expected (F, 2, H, W) = {expected} to match the frames, got {condition.shape}")
    if not np.isfinite(condition).all():
        raise ValueError("condition: motion vectors must be finite")
    return condition


def motion_vector_error(frames: np.ndarray, condition, support: str = "both") -> float:
    """Mean end-point error (pixels) between the codec motion vectors of ``frames`` and ``condition``.

    Args:
        frames: ``(F, H, W, 3)`` uint8 or float in [0, 1], even ``H`` and ``W`` (MPEG-4).
        condition: ``(F, 2, H, W)`` motion vectors (numpy or torch), the ``motion`` extractor's output at this size.
        support: ``"both"`` (blocks where both fields hold a non-zero vector, as the issue defines it: sparse fields
            cannot tell a still block from one without a vector) or ``"either"`` (blocks where either does: a still
            generation then scores the condition's full magnitude instead of being left out).
    Returns:
        The mean EPE over the supported blocks of all frames; NaN when no block is supported.
    """
    if support not in ("both", "either"):
        raise ValueError(f"support: expected 'both' or 'either', got {support!r}")
    frames = as_float_video(frames, min_frames=2)
    condition = _condition(condition, frames)
    import torch

    from condition_extractors import MotionVectorExtractor

    generated = MotionVectorExtractor()(torch.from_numpy(frames).permute(0, 3, 1, 2)).numpy()
    has_generated = np.abs(generated).sum(axis=1) > 0
    has_condition = np.abs(condition).sum(axis=1) > 0
    mask = has_generated & has_condition if support == "both" else has_generated | has_condition
    if not mask.any():
        return float("nan")
    return float(np.linalg.norm(generated - condition, axis=1)[mask].mean())


def backward_flows(frames: np.ndarray, flow_fn: FlowFn | None = None) -> np.ndarray:
    """``(F - 1, H, W, 2)``: for ``t >= 1`` the flow from frame ``t`` back to ``t - 1`` (``frame_t(p) ~ frame_t-1(p +
    flow)``), i.e. minus the forward displacement at destination pixels, the condition's convention."""
    frames = as_uint8_video(frames, min_frames=2)
    flows = np.asarray((flow_fn or farneback_flows)(frames[1:], frames[:-1]), dtype=np.float32)
    expected = (len(frames) - 1, *frames.shape[1:3], 2)
    if flows.shape != expected:
        raise ValueError(f"flow_fn: expected flows of shape {expected}, got {flows.shape}")
    return flows


def flow_error(frames: np.ndarray, condition, flow_fn: FlowFn | None = None) -> float:
    """Mean Euclidean distance (pixels) between the generated video's optical flow and the condition's vectors.

    Args:
        frames: ``(F, H, W, 3)`` uint8 or float in [0, 1].
        condition: ``(F, 2, H, W)`` motion vectors; only pixels holding a non-zero vector in frames ``t >= 1`` count.
        flow_fn: ``(frames_a, frames_b) -> (N, H, W, 2)`` with ``a(p) ~ b(p + flow(p))`` (default: Farneback).
    Returns:
        The mean end-point error, NaN when the condition holds no vector.
    """
    frames = as_uint8_video(frames, min_frames=2)
    condition = _condition(condition, frames)[1:].transpose(0, 2, 3, 1)
    mask = np.abs(condition).sum(axis=-1) > 0
    if not mask.any():
        return float("nan")
    flows = backward_flows(frames, flow_fn)
    return float(np.linalg.norm(-flows - condition, axis=-1)[mask].mean())
