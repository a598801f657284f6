"""Initial noise for long videos: random, FreeNoise's shuffled context, or StyleSV-style B-spline anchors.

All three return standard normal noise per frame (unit variance at every frame); they differ in how frames far apart
relate:

* ``"random"``: i.i.d. per frame (what the pipeline draws for one window).
* ``"shuffle_context"`` (FreeNoise, Qiu et al. 2023, "noise rescheduling"; diffusers' name): the first ``context_length`` frames are drawn;
  then every block of ``context_stride`` frames starting at frame ``i >= context_length`` reuses, in a random order,
  the noise of the frames ``i - context_length .. i - context_length + context_stride - 1``. Every window then holds a
  permutation of the first window's noise (long-range coherence of content).
* ``"bspline"`` (StyleSV's motion codes, arXiv 2212.07413): independent anchor noises ``c_j`` every ``k`` frames, and
  frame ``t`` (``tau = t / k``, ``j = floor(tau)``, ``u = tau - j``) gets the uniform quadratic B-spline blend with the
  weights renormalised to keep unit variance:
  ``eps_t = (w0(u) c_j + w1(u) c_{j+1} + w2(u) c_{j+2}) / sqrt(w0^2 + w1^2 + w2^2)``. Noise varies smoothly in time
  (C1 in ``t`` up to the renormalisation) and frames more than ``3k`` apart are independent: no repetition.
"""

from __future__ import annotations

import torch
from diffusers.utils.torch_utils import randn_tensor

from videocomposer.models.temporal_windows import TemporalWindows
from videocomposer.motion.bspline import uniform_quadratic_weights

NOISE_TYPES = ("random", "shuffle_context", "bspline")


def freenoise_noise(
    shape: tuple[int, ...],
    windows: TemporalWindows,
    generator: torch.Generator | list[torch.Generator] | None,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """FreeNoise-rescheduled noise of `shape` `(B, C, F, h, w)` (see the module docstring)."""
    noise = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
    num_frames, length, stride = shape[2], windows.context_length, windows.context_stride
    permutation_generator = generator[0] if isinstance(generator, list) else generator
    for start in range(length, num_frames, stride):
        block = min(stride, num_frames - start)
        order = torch.randperm(
            block, generator=permutation_generator, device=getattr(permutation_generator, "device", "cpu")
        )
        source = start - length + order.to(device)
        noise[:, :, start : start + block] = noise[:, :, source]
    return noise


def bspline_noise(
    shape: tuple[int, ...],
    anchor_spacing: int,
    generator: torch.Generator | list[torch.Generator] | None,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Unit-variance B-spline blend of anchor noises every `anchor_spacing` frames (see the module docstring)."""
    if not isinstance(anchor_spacing, int) or anchor_spacing < 1:
        raise ValueError(f"anchor_spacing: expected a positive int, got {anchor_spacing!r}")
    batch, channels, num_frames, *spatial = shape
    num_anchors = (num_frames - 1) // anchor_spacing + 3
    anchors = randn_tensor((batch, channels, num_anchors, *spatial), generator=generator, device=device, dtype=dtype)
    times = torch.arange(num_frames, dtype=torch.float64) / anchor_spacing
    first = times.floor().long()
    weights = torch.from_numpy(uniform_quadratic_weights((times - first).numpy()))  # (F, 3)
    weights = weights / weights.square().sum(dim=1, keepdim=True).sqrt()
    blend = torch.zeros(num_frames, num_anchors, dtype=torch.float64)
    for offset in range(3):
        blend[torch.arange(num_frames), first + offset] = weights[:, offset]
    return torch.einsum("fa,bcahw->bcfhw", blend.to(device=device, dtype=dtype), anchors)


def long_video_noise(
    shape: tuple[int, ...],
    noise_type: str,
    windows: TemporalWindows,
    anchor_spacing: int,
    generator: torch.Generator | list[torch.Generator] | None,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Initial noise `(B, C, F, h, w)` of the given `noise_type` (one of `NOISE_TYPES`)."""
    if noise_type == "random":
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)
    if noise_type == "shuffle_context":
        return freenoise_noise(shape, windows, generator, device, dtype)
    if noise_type == "bspline":
        return bspline_noise(shape, anchor_spacing, generator, device, dtype)
    raise ValueError(f"noise_type: expected one of {NOISE_TYPES}, got {noise_type!r}")
