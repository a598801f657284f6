"""Overlapping temporal windows: run a frame-sequence operation on windows of the trained length and fuse the outputs.

A model trained on `L`-frame clips attends over `L` frames; on a longer sequence its temporal attention would attend
over frames it never saw together. Here the sequence of `F` frames is cut into windows of `context_length = L` frames,
`context_stride` apart (the last one aligned to the end), the operation runs on each window, and every frame's output
is the weighted mean of its windows' outputs:

    out[f] = sum_w  a_w(f) * op(x[window w])[f - start_w],    a_w(f) = r(f - start_w) / sum_v r(f - start_v)

where `r` is the weighting ("flat": r = 1; "pyramid": r(i) = min(i + 1, L - i), which trusts a window least at its
edges, as FreeNoise does) and the sum over `v` runs over the windows holding `f`, so the weights of a frame sum to one.
With `F <= L` there is one window and `op` runs on the sequence unchanged (bit for bit the un-windowed result).

`WindowedAttnProcessor` applies this to a diffusers `Attention` (temporal self-attention over `(N, F, C)`), wrapping
whatever processor the module had; `set_temporal_windows` installs or removes it on a set of attention modules. The
UNet's temporal transformers and the STC encoder's temporal attention both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.models.attention_processor import Attention

WEIGHTINGS = ("flat", "pyramid")


@dataclass(frozen=True)
class TemporalWindows:
    """Windowing of a frame axis: `context_length` frames per window, `context_stride` frames between window starts.

    `context_stride` must lie in `[1, context_length]` so that consecutive windows overlap or touch (no frame is left
    out); `weighting` is one of `WEIGHTINGS`.
    """

    context_length: int
    context_stride: int = 4
    weighting: str = "pyramid"

    def __post_init__(self) -> None:
        if (
            not isinstance(self.context_length, int)
            or isinstance(self.context_length, bool)
            or self.context_length < 1
        ):
            raise ValueError(f"context_length: expected a positive int, got {self.context_length!r}")
        if (
            not isinstance(self.context_stride, int)
            or isinstance(self.context_stride, bool)
            or not 1 <= self.context_stride <= self.context_length
        ):
            raise ValueError(
                f"context_stride: expected an int in [1, context_length={self.context_length}] (windows must overlap "
                f"or touch), got {self.context_stride!r}"
            )
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting: expected one of {WEIGHTINGS}, got {self.weighting!r}")

    def windows(self, num_frames: int) -> list[tuple[int, int]]:
        """`(start, end)` of every window over `num_frames` frames (see `context_windows`)."""
        return context_windows(num_frames, self.context_length, self.context_stride)


def context_windows(num_frames: int, context_length: int, context_stride: int) -> list[tuple[int, int]]:
    """Windows `(start, end)` of `context_length` frames at starts 0, s, 2s, ..., plus one ending at the last frame.

    `num_frames <= context_length` gives the single window `(0, num_frames)`.
    """
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames: expected a positive int, got {num_frames!r}")
    if num_frames <= context_length:
        return [(0, num_frames)]
    starts = list(range(0, num_frames - context_length + 1, context_stride))
    if starts[-1] + context_length < num_frames:
        starts.append(num_frames - context_length)
    return [(start, start + context_length) for start in starts]


def window_profile(length: int, weighting: str) -> torch.Tensor:
    """Unnormalised weight `r(i)` of position `i` in a window of `length` frames: flat 1, pyramid min(i+1, L-i)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting: expected one of {WEIGHTINGS}, got {weighting!r}")
    if weighting == "flat":
        return torch.ones(length, dtype=torch.float64)
    positions = torch.arange(length, dtype=torch.float64)
    return torch.minimum(positions + 1, length - positions)


def fusion_weights(num_frames: int, windows: list[tuple[int, int]], weighting: str) -> torch.Tensor:
    """`(num_windows, num_frames)` float64 weights a_w(f): zero outside window w, each frame's column sums to one.

    Raises `ValueError` if some frame lies in no window.
    """
    weights = torch.zeros(len(windows), num_frames, dtype=torch.float64)
    for index, (start, end) in enumerate(windows):
        weights[index, start:end] = window_profile(end - start, weighting)
    total = weights.sum(dim=0)
    if (total == 0).any():
        missing = torch.nonzero(total == 0).flatten().tolist()
        raise ValueError(f"windows: frames {missing[:8]} lie in no window")
    return weights / total


def fuse_windows(
    fn: Callable[[int, int], torch.Tensor], num_frames: int, windows: TemporalWindows, dim: int = 1
) -> torch.Tensor:
    """Fused output over overlapping windows of a `num_frames` frame axis: `fn(start, end)` computes the output of
    frames `start:end` (with `end - start` frames on `dim`), and each frame's outputs are averaged with the weights
    `fusion_weights`. One window (frames <= `context_length`) returns `fn(0, num_frames)` itself.
    """
    spans = windows.windows(num_frames)
    if len(spans) == 1:
        return fn(0, num_frames)
    weights = fusion_weights(num_frames, spans, windows.weighting)
    output = None
    for index, (start, end) in enumerate(spans):
        window_out = fn(start, end)
        if output is None:
            shape = list(window_out.shape)
            shape[dim] = num_frames
            output = window_out.new_zeros(shape)
        view = [1] * window_out.ndim
        view[dim] = end - start
        scale = weights[index, start:end].to(device=window_out.device, dtype=window_out.dtype).view(view)
        output.narrow(dim, start, end - start).add_(window_out * scale)
    return output


class WindowedAttnProcessor:
    """Attention processor running the wrapped `processor` over overlapping frame windows of `(N, F, C)` input.

    For temporal self-attention only: `encoder_hidden_states` and `attention_mask` must be `None`.
    """

    def __init__(self, processor: Any, windows: TemporalWindows) -> None:
        if isinstance(processor, WindowedAttnProcessor):
            raise TypeError("processor: already a WindowedAttnProcessor; wrap its .processor instead")
        if not isinstance(windows, TemporalWindows):
            raise TypeError(f"windows: expected TemporalWindows, got {type(windows).__name__}")
        self.processor = processor
        self.windows = windows

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("WindowedAttnProcessor: temporal self-attention only (no encoder_hidden_states or mask)")
        if hidden_states.ndim != 3:
            raise ValueError(
                f"WindowedAttnProcessor: expected (N, F, C) hidden states, got {tuple(hidden_states.shape)}"
            )
        num_frames = hidden_states.shape[1]

        def window(start: int, end: int) -> torch.Tensor:
            frames = hidden_states if end - start == num_frames else hidden_states[:, start:end]
            return self.processor(attn, frames, **kwargs)

        return fuse_windows(window, num_frames, self.windows, dim=1)


def set_temporal_windows(attentions: Iterable[Attention], windows: TemporalWindows | None) -> None:
    """Wrap each attention's current processor in a `WindowedAttnProcessor` (`None`: unwrap it again)."""
    if windows is not None and not isinstance(windows, TemporalWindows):
        raise TypeError(f"windows: expected TemporalWindows or None, got {type(windows).__name__}")
    for attn in attentions:
        processor = attn.processor
        if isinstance(processor, WindowedAttnProcessor):
            processor = processor.processor
        attn.set_processor(processor if windows is None else WindowedAttnProcessor(processor, windows))


def temporal_windows_of(attentions: Iterable[Attention]) -> TemporalWindows | None:
    """The windowing installed on the attentions (`None` if none is); all must agree."""
    found = {
        attn.processor.windows if isinstance(attn.processor, WindowedAttnProcessor) else None for attn in attentions
    }
    if len(found) > 1:
        raise RuntimeError(f"attention modules disagree on their temporal windows: {found}")
    return next(iter(found), None)
