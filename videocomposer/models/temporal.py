"""Temporal shift (TSM, Lin et al. 2019; StyleSV's discriminator): a parameter-free, FLOP-free mix of neighbouring
frames that moves a fraction of the channels one frame along time.

On frames laid out as ``(B * T, C, H, W)`` (``T`` consecutive per clip), with ``fold = C // fold_div``:

* channels ``[0, fold)`` of frame ``t`` come from frame ``t + 1`` (the last frame gets zeros),
* channels ``[fold, 2 fold)`` of frame ``t`` come from frame ``t - 1`` (the first frame gets zeros),
* the other channels stay.

Use it in a residual branch (``x + f(shift(x))``, TSM's "residual shift"), so that the identity path keeps every
frame's own features.
"""

from __future__ import annotations

import torch

DEFAULT_FOLD_DIV = 8


def temporal_shift(x: torch.Tensor, num_frames: int, fold_div: int = DEFAULT_FOLD_DIV) -> torch.Tensor:
    """Shift ``C // fold_div`` channels of ``x`` ``(B * num_frames, C, ...)`` back in time and as many forward.

    Returns a new tensor; ``x`` is not modified. Zero padding at both ends of each clip.
    """
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames: expected a positive int, got {num_frames!r}")
    if not isinstance(fold_div, int) or fold_div < 2:
        raise ValueError(f"fold_div: expected an int >= 2, got {fold_div!r}")
    if x.ndim < 2 or x.shape[0] % num_frames:
        raise ValueError(f"x: expected (B * {num_frames}, C, ...), got shape {tuple(x.shape)}")
    clips = x.reshape(x.shape[0] // num_frames, num_frames, *x.shape[1:])
    fold = x.shape[1] // fold_div
    out = torch.zeros_like(clips)
    out[:, :-1, :fold] = clips[:, 1:, :fold]  # from the next frame
    out[:, 1:, fold : 2 * fold] = clips[:, :-1, fold : 2 * fold]  # from the previous frame
    out[:, :, 2 * fold :] = clips[:, :, 2 * fold :]
    return out.reshape(x.shape)
