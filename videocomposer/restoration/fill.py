"""Filling detected defects: propagation from neighbouring frames first, then masked-video inpainting for the rest.

1. Propagation: for each hole pixel of frame T, the frames T-1 and T+1, then T-2 and T+2, ... up to `radius`, warped
   onto T along the flow (near the hole, where the defect corrupts the flow, the flow between T-k and T+k, halved,
   or the flow completed from around; see `hole_flow`), colour-matched to T. A source counts only where it lands
   inside its frame, outside that frame's own defects, and where it matches T around the hole; the valid sources of
   the nearest distance are averaged.
2. What no neighbour sees (a scratch that stays put, a defect in a still shot) is generated: a `filler` given the
   propagated clip and the remaining holes (`model_filler` runs the VideoComposer pipeline's masked-video inpainting
   with the clip's motion vectors, tile by tile over windows of the model's frame count; `spatial_filler` is OpenCV
   Telea, for a run without a model).
3. Only mask pixels change: every other pixel is returned exactly as it was (`deflicker=True`, which matches each
   frame's brightness to a temporally smoothed target, is the one option that touches the whole frame).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .detect import Compensator, match_brightness
from .motion import consistent, warp

Filler = Callable[[np.ndarray, np.ndarray], np.ndarray]


def complete_flow(flow: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The flow with its values inside `hole` replaced by a smooth fill from the hole's border (Telea per channel)."""
    if not hole.any():
        return flow
    hole8 = hole.astype(np.uint8)
    return np.stack([cv2.inpaint(np.ascontiguousarray(flow[..., c]), hole8, 3, cv2.INPAINT_TELEA) for c in range(2)],
                    axis=-1)  # fmt: skip


def hole_flow(compensator: Compensator, index: int, other: int, hole: np.ndarray, reach: int = 10) -> np.ndarray:
    """Flow from frame `index` to frame `other` that a defect of frame `index` does not pull.

    The direct flow is wrong on the defect and up to about the flow's window around it. There, when the mirror frame
    `2 * index - other` exists, the flow between it and `other` (which both lack this frame's defect), halved, stands
    in (constant velocity); otherwise the direct flow inside the hole and wherever it fails the forward-backward check
    is completed from the flow around.
    """
    direct = compensator.flow(index, other)
    near = cv2.dilate(hole.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    partner = 2 * index - other
    if 0 <= partner < len(compensator.luma):
        return np.where(near[..., None], 0.5 * compensator.flow(partner, other), direct)
    wide = cv2.dilate(hole.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    return complete_flow(direct, wide | ~consistent(direct, compensator.flow(other, index)))


def propagate(
    frames: np.ndarray, masks: np.ndarray, radius: int = 3, method: str = "farneback",
    compensator: Compensator | None = None, progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Fills mask pixels from motion-compensated neighbours. Returns `(frames, remaining)`: uint8 frames with the
    propagated pixels written (other pixels untouched) and the boolean mask of hole pixels no neighbour saw."""
    compensator = compensator or Compensator(frames, method)
    out = frames.copy()
    remaining = masks.copy()
    num_frames = len(frames)
    grow = np.ones((7, 7), np.uint8)
    for index in range(num_frames):
        hole = masks[index]
        if not hole.any():
            if progress is not None:
                progress(1)
            continue
        wide = cv2.dilate(hole.astype(np.uint8), grow) > 0
        total = np.zeros((*hole.shape, 3), np.float32)
        for distance in range(1, radius + 1):
            todo = remaining[index]
            if not todo.any():
                break
            count = np.zeros(hole.shape, np.float32)
            total[:] = 0
            for other in (index - distance, index + distance):
                if not 0 <= other < num_frames:
                    continue
                flow = hole_flow(compensator, index, other, hole)
                source = warp(frames[other].astype(np.float32), flow)
                blocked = warp(masks[other].astype(np.float32), flow) > 0.01
                trusted = ~(blocked | wide)
                source = match_colours(source, frames[index], trusted)
                valid = todo & ~blocked & inside(flow) & fits_border(source, frames[index], trusted, hole)
                total[valid] += source[valid]
                count[valid] += 1
            found = count > 0
            out[index][found] = np.clip(total[found] / count[found, None], 0, 255).round().astype(np.uint8)
            remaining[index] &= ~found
        if progress is not None:
            progress(1)
    return out, remaining


def match_colours(source: np.ndarray, target: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`source` with each channel mapped by the least-squares `a * x + b` onto `target` over the pixels `where`
    (middle 90% of the differences): the neighbour's flicker and colour cast become this frame's."""
    out = source.copy()
    for channel in range(3):
        if where.sum() >= 16:
            out[..., channel] = match_brightness(source[..., channel], target[..., channel].astype(np.float32), where)
    return out


def fits_border(
    source: np.ndarray, frame: np.ndarray, trusted: np.ndarray, hole: np.ndarray, window: int = 31
) -> np.ndarray:  # fmt: skip
    """Where the warped `source` matches `frame` around the hole: the mean absolute difference over the trusted
    pixels of a `window` box (normalised convolution) stays within twice the frame's typical compensation error
    + 4 grey levels. A flow that goes wrong near a hole shows on its border first. Deep inside a hole larger than the
    window, the mean over the ring of trusted pixels around its whole connected component decides instead."""
    error = np.abs(source - frame.astype(np.float32)).mean(axis=-1) * trusted
    weight = cv2.blur(trusted.astype(np.float32), (window, window))
    local = cv2.blur(error, (window, window)) / np.maximum(weight, 1e-6)
    tolerance = 2.0 * float(np.median(error[trusted])) + 4.0 if trusted.any() else 0.0
    fits = (weight > 0.02) & (local <= tolerance)
    deep = hole & (weight <= 0.02)
    if deep.any():
        count, labels = cv2.connectedComponents(hole.astype(np.uint8), connectivity=8)
        ring_labels = cv2.dilate(labels.astype(np.float32), np.ones((15, 15), np.uint8)).astype(np.int64)
        ring = trusted & (ring_labels > 0)
        sums = np.bincount(ring_labels[ring], weights=error[ring], minlength=count)
        counts = np.bincount(ring_labels[ring], minlength=count)
        component_fits = (counts > 0) & (sums <= tolerance * np.maximum(counts, 1))
        fits |= deep & component_fits[labels]
    return fits


def inside(flow: np.ndarray) -> np.ndarray:
    """Where `x + flow(x)` lies inside the frame."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width), np.arange(height))
    x, y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def spatial_filler(frames: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """OpenCV Telea inpainting of each frame's holes (the classic single-image baseline)."""
    return np.stack([cv2.inpaint(f, h.astype(np.uint8), 3, cv2.INPAINT_TELEA) if h.any() else f
                     for f, h in zip(frames, holes)])  # fmt: skip


def deflicker(frames: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Each frame's mean and std (per channel) matched to their Gaussian-smoothed (over `sigma` frames) values."""
    pixels = frames.astype(np.float32)
    means, stds = pixels.mean(axis=(1, 2)), pixels.std(axis=(1, 2)) + 1e-6
    radius = max(1, int(3 * sigma))
    weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)

    def smooth(values: np.ndarray) -> np.ndarray:
        padded = np.pad(values, ((radius, radius), (0, 0)), mode="edge")
        return np.stack([np.convolve(padded[:, c], weights / weights.sum(), mode="valid") for c in range(3)], 1)

    target_means, target_stds = smooth(means)[:, None, None], smooth(stds)[:, None, None]
    out = (pixels - means[:, None, None]) / stds[:, None, None] * target_stds + target_means
    return np.clip(out, 0, 255).round().astype(np.uint8)


def restore_clip(
    frames: np.ndarray, masks: np.ndarray, filler: Filler | None = None, radius: int = 3, method: str = "farneback",
    use_deflicker: bool = False, progress: Callable[[int], None] | None = None,
) -> np.ndarray:  # fmt: skip
    """Restores uint8 RGB `(F, H, W, 3)` frames inside boolean `(F, H, W)` masks; pixels outside stay exactly."""
    if frames.shape[:3] != masks.shape or masks.dtype != bool:
        raise ValueError(f"masks must be boolean {frames.shape[:3]}, got {masks.shape}, {masks.dtype}")
    filled, remaining = propagate(frames, masks, radius, method, progress=progress)
    if remaining.any() and filler is not None:
        generated = filler(filled, remaining)
        filled[remaining] = generated[remaining]
    out = frames.copy()
    out[masks] = filled[masks]
    return deflicker(out) if use_deflicker else out
