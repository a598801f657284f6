"""Low-rank temporal modulation (StyleSV's low-rank motion branch, carried to attention projections).

A wrapped projection ``W`` computes, for frame ``t`` of its input ``(N, T, C_in)`` (the frame axis is the sequence
axis of the UNet's temporal attention)::

    y_t = W x_t + A diag(g(e_t)) B x_t,      g(e) = 1 + e

``A`` ``(C_out, r)`` starts at zero and ``B`` ``(r, C_in)`` random (LoRA's init: one factor zero, never both, so
``A`` gets a gradient from the first step and ``B`` from the second). ``e_t`` ``(r,)`` is a frame-time code: learned
anchor codes ``c_k`` placed every ``anchor_spacing`` frames, blended with StyleSV's uniform quadratic B-spline
(:func:`videocomposer.motion.bspline.uniform_quadratic_weights`) at ``s = (frame_offset + t * frame_step) /
anchor_spacing``: ``e_t = w0(u) c_k + w1(u) c_{k+1} + w2(u) c_{k+2}``, ``k = floor(s)``, ``u = s - k``. It is C1 in
time and defined at any length and frame rate (``frame_step`` = training fps / sampling fps; ``frame_offset`` for a
window that starts later in a long video). Codes start at zero (every frame gets the same static low-rank delta
until trained) and anchors past the last learned one count as zero, so frames beyond the trained span fall back to
the static delta ``A B`` smoothly.

At init ``A = 0``: the wrapped model computes exactly what it computed before. Saved and loaded as an adapter:
:class:`videocomposer.training.adapters.LowRankTemporal`, :func:`videocomposer.training.adapters.load_adapter` (which
wraps e.g. ``pipeline.unet``).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from videocomposer.motion.bspline import uniform_quadratic_weights

#: Full names (``re.fullmatch``) of the UNet's temporal attention projections: both attentions of every temporal
#: transformer block, in ``transformer_in`` and every ``temp_attentions.{i}``.
TEMPORAL_ATTENTION_PROJECTIONS = (
    r"(transformer_in|.*\.temp_attentions\.\d+)\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
)


@dataclass(frozen=True)
class LowRankTemporalConfig:
    """Where and how large the modulated low-rank deltas are."""

    rank: int = 4
    num_anchors: int = 8
    anchor_spacing: float = 4.0
    target_modules: str = TEMPORAL_ATTENTION_PROJECTIONS

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"rank: expected a positive int, got {self.rank!r}")
        if not isinstance(self.num_anchors, int) or self.num_anchors < 3:
            raise ValueError(f"num_anchors: expected an int >= 3 (one quadratic span), got {self.num_anchors!r}")
        if not self.anchor_spacing > 0:
            raise ValueError(f"anchor_spacing: expected a positive number of frames, got {self.anchor_spacing!r}")
        re.compile(self.target_modules)

    def to_dict(self) -> dict:
        """The fields, as saved in ``lowrank_temporal_config.json`` (the name of peft's ``LoraConfig.to_dict``)."""
        return asdict(self)


class LowRankTemporalLinear(nn.Module):
    """A frozen ``nn.Linear`` plus the frame-modulated low-rank delta ``A diag(1 + e_t) B``."""

    def __init__(self, base: nn.Linear, config: LowRankTemporalConfig) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base: expected an nn.Linear, got {type(base).__name__}")
        self.base = base
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.down = nn.Parameter(torch.empty(config.rank, base.in_features, **factory))  # B
        nn.init.kaiming_uniform_(self.down, a=math.sqrt(5))  # nn.Linear's (and peft's lora_A) init
        self.up = nn.Parameter(torch.zeros(base.out_features, config.rank, **factory))  # A
        self.anchors = nn.Parameter(torch.zeros(config.num_anchors, config.rank, **factory))
        self.anchor_spacing = float(config.anchor_spacing)
        self.frame_offset = 0.0
        self.frame_step = 1.0

    def frame_codes(self, num_frames: int) -> torch.Tensor:
        """``e_t`` for ``t = 0 .. num_frames - 1`` -> ``(num_frames, rank)``."""
        times = (self.frame_offset + np.arange(num_frames) * self.frame_step) / self.anchor_spacing
        if np.any(times < 0):
            raise ValueError(f"frame_offset: frame times must be >= 0, got offset {self.frame_offset}")
        first = np.floor(times).astype(np.int64)
        weights = torch.from_numpy(uniform_quadratic_weights(times - first)).to(self.anchors)  # (T, 3)
        index = torch.from_numpy(first[:, None] + np.arange(3)).to(self.anchors.device)  # (T, 3)
        inside = index < self.anchors.shape[0]
        codes = self.anchors[index.clamp(max=self.anchors.shape[0] - 1)]  # (T, 3, r); outside: weight 0
        return torch.einsum("tj,tjr->tr", weights * inside, codes)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if hidden_states.ndim != 3:
            raise ValueError(f"hidden_states: expected (N, frames, C), got shape {tuple(hidden_states.shape)}")
        gates = 1.0 + self.frame_codes(hidden_states.shape[1])
        return self.base(hidden_states) + F.linear(F.linear(hidden_states, self.down) * gates, self.up)


def add_lowrank_temporal(unet: nn.Module, config: LowRankTemporalConfig) -> list[nn.Parameter]:
    """Wrap every ``nn.Linear`` of ``unet`` whose name fully matches ``config.target_modules``; freeze everything
    else. Returns the new parameters (``down``, ``up``, ``anchors`` of each wrapper)."""
    targets = [
        name
        for name, module in unet.named_modules()
        if isinstance(module, nn.Linear) and re.fullmatch(config.target_modules, name)
    ]
    if not targets:
        raise ValueError(f"unet: no nn.Linear matches target_modules {config.target_modules!r}")
    unet.requires_grad_(False)
    parameters = []
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = unet.get_submodule(parent_name)
        wrapper = LowRankTemporalLinear(getattr(parent, child), config)
        setattr(parent, child, wrapper)
        parameters += wrapper.parameters(recurse=False)  # down, up, anchors
    return parameters


def set_frame_times(unet: nn.Module, frame_offset: float = 0.0, frame_step: float = 1.0) -> None:
    """Frame ``t`` of the next forwards sits at ``frame_offset + t * frame_step`` training frames (``frame_step`` =
    training fps / sampling fps)."""
    if frame_offset < 0 or not frame_step > 0:
        raise ValueError(f"frame_offset / frame_step: expected >= 0 and > 0, got {frame_offset}, {frame_step}")
    wrappers = [m for m in unet.modules() if isinstance(m, LowRankTemporalLinear)]
    if not wrappers:
        raise ValueError("unet: has no low-rank temporal modulation (add_lowrank_temporal / load it first)")
    for module in wrappers:
        module.frame_offset, module.frame_step = float(frame_offset), float(frame_step)
