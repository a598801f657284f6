"""A small temporal discriminator over video frames, after StyleSV's: a 2D ResNet discriminator that runs every frame
through the same convolutions, mixes neighbouring frames by a temporal shift in the residual branch of each block
above a fusion resolution, and fuses the frames by their mean there.

::

    (B, C, T, H, W) -> frames (B*T, C, H, W) -> conv_in
      -> blocks (skip: 1x1 conv + 2x avg-pool;  residual: [shift] -> conv3x3 -> lrelu -> conv3x3 -> 2x avg-pool;
                 out = (skip + residual) / sqrt(2))
         the shift (fold C/8, zero padding at the clip ends) only in blocks whose input is above `fusion_resolution`
      -> at the first block input <= `fusion_resolution` (or after the last block): mean over T -> (B, C', h, w)
      -> remaining blocks per clip -> lrelu -> global sum pool -> linear -> (B,) logits

The temporal mean makes the fused part order-blind; only the shift before fusion sees the frame order. With
`temporal_shift=False` the discriminator is frame-wise (a bag of frames): shuffling frames does not change its output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ..atomic_files import UmaskModesOnSave
from .temporal import DEFAULT_FOLD_DIV, temporal_shift


class DiscriminatorBlock(nn.Module):
    """ResNet discriminator block that halves the resolution; optional residual-branch temporal shift."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.conv0 = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, num_frames: int | None) -> torch.Tensor:
        """``num_frames`` set: shift the residual branch's input over clips of that many frames."""
        skip = F.avg_pool2d(self.skip(x), 2, ceil_mode=True)
        residual = temporal_shift(x, num_frames) if num_frames is not None else x
        residual = F.leaky_relu(self.conv0(residual), 0.2)
        residual = F.avg_pool2d(self.conv1(residual), 2, ceil_mode=True)
        return (skip + residual) / math.sqrt(2.0)


class TemporalDiscriminator(UmaskModesOnSave, ModelMixin, ConfigMixin):
    r"""
    Clip-level real/fake logits for videos `(B, in_channels, T, H, W)` (latents or frames).

    Parameters:
        in_channels (`int`, defaults to 4): channels per frame (4: VAE latents).
        block_out_channels (`tuple[int, ...]`, defaults to `(64, 128)`): one halving block per entry; `conv_in`
            outputs `block_out_channels[0]`.
        fusion_resolution (`int`, defaults to 4): frames are averaged at the first block whose input height and width
            are both `<=` this; blocks above it shift in time.
        temporal_shift (`bool`, defaults to `True`): `False` gives the frame-wise baseline (no shift).
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        block_out_channels: tuple[int, ...] = (64, 128),
        fusion_resolution: int = 4,
        temporal_shift: bool = True,
    ):
        super().__init__()
        if in_channels < 1 or not block_out_channels or min(block_out_channels) < DEFAULT_FOLD_DIV:
            raise ValueError(
                f"in_channels / block_out_channels: expected a positive channel count and channels >= "
                f"{DEFAULT_FOLD_DIV} (the shift moves channels // {DEFAULT_FOLD_DIV}), got {in_channels}, "
                f"{block_out_channels}"
            )
        if fusion_resolution < 1:
            raise ValueError(f"fusion_resolution: expected a positive int, got {fusion_resolution}")
        channels = (block_out_channels[0], *block_out_channels)
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.blocks = nn.ModuleList(DiscriminatorBlock(channels[i], channels[i + 1]) for i in range(len(channels) - 1))
        self.proj_out = nn.Linear(channels[-1], 1)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """``video`` ``(B, C, T, H, W)`` -> logits ``(B,)``."""
        if video.ndim != 5 or video.shape[1] != self.config.in_channels:
            raise ValueError(
                f"video: expected (B, {self.config.in_channels}, T, H, W), got shape {tuple(video.shape)}"
            )
        batch, channels, num_frames, height, width = video.shape
        x = self.conv_in(video.permute(0, 2, 1, 3, 4).reshape(batch * num_frames, channels, height, width))
        fused = False
        for block in self.blocks:
            if not fused and max(x.shape[-2:]) <= self.config.fusion_resolution:
                x, fused = self._fuse(x, num_frames), True
            shift = not fused and self.config.temporal_shift
            x = block(x, num_frames if shift else None)
        if not fused:
            x = self._fuse(x, num_frames)
        return self.proj_out(F.leaky_relu(x, 0.2).sum(dim=(2, 3))).squeeze(1)

    @staticmethod
    def _fuse(x: torch.Tensor, num_frames: int) -> torch.Tensor:
        return x.reshape(-1, num_frames, *x.shape[1:]).mean(dim=1)
