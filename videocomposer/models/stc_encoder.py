"""STCEncoder: VideoComposer's Spatio-Temporal Condition encoder.

One unshared branch per condition (the paper's STC-encoder, the original's ``{name}_embedding`` +
``{name}_embedding_after``)::

    (B, C, F, H, W) -> per frame: conv3x3 -> SiLU -> adaptive avg-pool to (4h, 4w) -> conv3x3/2 -> SiLU -> conv3x3/2
                    -> (B, 8, F, h, w) -> at every position, a one-layer pre-norm transformer over the F frames

The branch outputs are summed (an absent condition contributes zero). The original pools to a fixed 128x128, which is
4x the 32x32 latent of its 256x256 videos; pooling to 4x the latent size reproduces that and works at any size.

Weight layout (original -> ours): ``{name}_embedding.{0,3,5}`` -> ``branches.{name}.{conv_in,conv_mid,conv_out}``;
``{name}_embedding_after.layers.0.0.norm`` -> ``branches.{name}.norm``; ``...0.0.fn.to_qkv`` (fused, no bias) ->
``branches.{name}.attn.to_{q,k,v}``; ``...0.0.fn.to_out.0`` -> ``branches.{name}.attn.to_out.0``;
``...0.1.net.{0.0,2}`` -> ``branches.{name}.ff.net.{0.proj,2}``. The masked-video branch's transformer is named
``mask_embedding_after`` in the original.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import AttentionMixin, FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..atomic_files import UmaskModesOnSave
from ..conditions import BUILT_IN_CONDITIONS, RELEASE_CONDITION_NAMES, summation_order
from .attention_slicing import AttentionSlicingMixin
from .temporal import temporal_shift

#: Conditions of the original code and their input channels, in the order the original sums them.
KNOWN_CONDITIONS: dict[str, int] = {spec.name: spec.channels for spec in BUILT_IN_CONDITIONS}

#: The conditions of the released checkpoint.
RELEASE_CONDITIONS: dict[str, int] = {name: KNOWN_CONDITIONS[name] for name in RELEASE_CONDITION_NAMES}


class STCBranch(nn.Module):
    """One condition's encoder: a small strided CNN per frame, then self-attention over frames at each position."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        num_attention_heads: int,
        attention_head_dim: int,
        ff_mult: int,
        dropout: float,
        shift: bool = False,
    ) -> None:
        super().__init__()
        self.shift = shift
        self.conv_in = nn.Conv2d(in_channels, hidden_channels, 3, padding=1)
        self.conv_mid = nn.Conv2d(hidden_channels, hidden_channels, 3, stride=2, padding=1)
        self.conv_out = nn.Conv2d(hidden_channels, out_channels, 3, stride=2, padding=1)
        self.act = nn.SiLU()
        self.norm = nn.LayerNorm(out_channels)
        self.attn = Attention(
            query_dim=out_channels,
            heads=num_attention_heads,
            dim_head=attention_head_dim,
            dropout=dropout,
            bias=False,
            out_bias=True,
        )
        self.ff = FeedForward(out_channels, mult=ff_mult, dropout=dropout, activation_fn="gelu")

    def forward(self, condition: torch.Tensor, latent_size: tuple[int, int]) -> torch.Tensor:
        batch, channels, num_frames, height, width = condition.shape
        x = condition.permute(0, 2, 1, 3, 4).reshape(batch * num_frames, channels, height, width)
        x = self.act(self.conv_in(x))
        x = F.adaptive_avg_pool2d(x, (4 * latent_size[0], 4 * latent_size[1]))
        if self.shift:  # TSM: conv_mid sees C/8 channels of each neighbouring frame (parameter-free)
            x = temporal_shift(x, num_frames)
        x = self.act(self.conv_mid(x))
        x = self.conv_out(x)

        # (B*F, C, h, w) -> (B*h*w, F, C): attention over frames at every latent position.
        _, out_channels, h, w = x.shape
        x = (
            x.reshape(batch, num_frames, out_channels, h, w)
            .permute(0, 3, 4, 1, 2)
            .reshape(-1, num_frames, out_channels)
        )
        x = x + self.attn(self.norm(x))
        x = x + self.ff(x)  # the original's feed-forward has no norm
        return x.reshape(batch, h, w, num_frames, out_channels).permute(0, 4, 3, 1, 2)


@dataclass
class STCEncoderOutput(BaseOutput):
    r"""
    Output of [`STCEncoder`].

    Args:
        sample (`torch.Tensor` of shape `(B, out_channels, F, h, w)`): the condition latent the UNet gets concatenated
            to its input.
    """

    sample: torch.Tensor


class STCEncoder(UmaskModesOnSave, ModelMixin, AttentionMixin, AttentionSlicingMixin, ConfigMixin):
    r"""
    The STC encoder: one [`STCBranch`] per condition, outputs summed into `(B, out_channels, F, h, w)`.

    Parameters:
        condition_channels (`dict[str, int]`): condition name -> input channels. Defaults to the release: depth 1,
            local_image 3, motion 2, sketch 1, single_sketch 1, masked 4. Branches are summed in the original's order
            (`videocomposer.conditions.summation_order`), then any other names alphabetically; a name registered with
            `videocomposer.conditions.register_condition` is fed by the pipeline.
        out_channels (`int`, defaults to 8): the original's `concat_dim`.
        hidden_channels (`int`, defaults to 32): `concat_dim * 4` in the original.
        num_attention_heads (`int`, defaults to 2), attention_head_dim (`int`, defaults to 8): temporal attention.
        ff_mult (`int`, defaults to 4): feed-forward width multiplier.
        dropout (`float`, defaults to 0.05): attention and feed-forward dropout (training only).
        temporal_shift (`bool`, defaults to `False`): shift C/8 channels from each neighbouring frame (TSM, zero
            padding at the ends) before every branch's `conv_mid`: a parameter-free temporal mixer (Latent-Shift).
        output_gate (`bool`, defaults to `False`): multiply the summed output by a learnable per-channel gate that
            starts at zero (StyleSV's `motion_mask`, ControlNet's zero convs): a new encoder adds nothing until
            trained.
    """

    @register_to_config
    def __init__(
        self,
        condition_channels: dict[str, int] | None = None,
        out_channels: int = 8,
        hidden_channels: int = 32,
        num_attention_heads: int = 2,
        attention_head_dim: int = 8,
        ff_mult: int = 4,
        dropout: float = 0.05,
        temporal_shift: bool = False,
        output_gate: bool = False,
    ):
        super().__init__()
        condition_channels = dict(RELEASE_CONDITIONS if condition_channels is None else condition_channels)
        if not condition_channels:
            raise ValueError("condition_channels: expected at least one condition")
        for name, channels in condition_channels.items():
            if not isinstance(channels, int) or channels < 1:
                raise ValueError(f"condition_channels: {name!r} needs a positive int channel count, got {channels!r}")
        order = summation_order(condition_channels)  # configs save sorted keys
        condition_channels = {name: condition_channels[name] for name in order}
        self.register_to_config(condition_channels=condition_channels)
        self.branches = nn.ModuleDict(
            {
                name: STCBranch(
                    channels,
                    out_channels,
                    hidden_channels,
                    num_attention_heads,
                    attention_head_dim,
                    ff_mult,
                    dropout,
                    shift=temporal_shift,
                )
                for name, channels in condition_channels.items()
            }
        )
        self.gate = nn.Parameter(torch.zeros(out_channels)) if output_gate else None

    def _temporal_attentions(self) -> list[nn.Module]:
        return [branch.attn for branch in self.branches.values()]  # the convolutions and feed-forwards are per frame

    @property
    def conditions(self) -> tuple[str, ...]:
        """Names of the conditions this encoder was built with, in summation order."""
        return tuple(self.config.condition_channels)

    def forward(
        self,
        conditions: dict[str, torch.Tensor | None],
        latent_size: tuple[int, int],
        condition_scale: float | dict[str, float | torch.Tensor] = 1.0,
        return_dict: bool = True,
    ) -> STCEncoderOutput | tuple[torch.Tensor]:
        r"""
        Args:
            conditions (`dict[str, torch.Tensor | None]`): STC name -> `(B, C, F, H, W)` tensor, or `None` for absent.
                Any `H, W` (pooled to `4 * latent_size`). At least one tensor must be given.
            latent_size (`tuple[int, int]`): `(h, w)` of the latent.
            condition_scale (`float` or `dict`): multiplies each branch output; a dict maps names to a float or a
                per-sample `(B,)` tensor (0/1 entries give the original's per-sample condition dropout).
            return_dict (`bool`, defaults to `True`): return an [`STCEncoderOutput`] instead of a 1-tuple.
        """
        given = self._check_conditions(conditions, latent_size, condition_scale)
        output = None
        for name in self.conditions:  # the original's summation order
            if name not in given:
                continue
            branch_out = self.branches[name](given[name], latent_size)
            scale = condition_scale.get(name, 1.0) if isinstance(condition_scale, dict) else condition_scale
            if isinstance(scale, torch.Tensor):
                scale = scale.to(branch_out).view(-1, 1, 1, 1, 1)
            branch_out = branch_out * scale  # exact for 1.0
            output = branch_out if output is None else output + branch_out
        if self.gate is not None:
            output = output * self.gate.to(output).view(1, -1, 1, 1, 1)
        if not return_dict:
            return (output,)
        return STCEncoderOutput(sample=output)

    def _check_conditions(
        self,
        conditions: dict[str, torch.Tensor | None],
        latent_size: tuple[int, int],
        condition_scale: float | dict[str, float | torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        if not isinstance(conditions, dict):
            raise TypeError(f"conditions: expected a dict of name -> tensor, got {type(conditions).__name__}")
        if not (isinstance(latent_size, (tuple, list)) and len(latent_size) == 2
                and all(isinstance(s, int) and s > 0 for s in latent_size)):  # fmt: skip
            raise ValueError(f"latent_size: expected (h, w) positive ints, got {latent_size!r}")
        channels = self.config.condition_channels
        scales = condition_scale if isinstance(condition_scale, dict) else {}
        for arg, names in (("conditions", conditions), ("condition_scale", scales)):
            unknown = sorted(set(names) - set(channels))
            if unknown:
                raise ValueError(f"{arg}: unknown condition(s) {unknown}; this encoder has {list(channels)}")
        given = {name: value for name, value in conditions.items() if value is not None}
        if not given:
            raise ValueError(
                "conditions: expected at least one condition tensor (pass condition_latents=None instead)"
            )
        reference = None
        for name, value in given.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"conditions[{name!r}]: expected a torch.Tensor, got {type(value).__name__}")
            if value.ndim != 5 or value.shape[1] != channels[name]:
                raise ValueError(
                    f"conditions[{name!r}]: expected shape (B, {channels[name]}, F, H, W), got {tuple(value.shape)}"
                )
            reference = reference or (name, value.shape[0], value.shape[2])
            if (value.shape[0], value.shape[2]) != reference[1:]:
                raise ValueError(
                    f"conditions[{name!r}]: batch {value.shape[0]} and frames {value.shape[2]} differ from "
                    f"conditions[{reference[0]!r}] (batch {reference[1]}, frames {reference[2]})"
                )
        for name, scale in scales.items():
            if isinstance(scale, torch.Tensor) and scale.shape != (reference[1],):
                raise ValueError(f"condition_scale[{name!r}]: expected a float or a ({reference[1]},) tensor, "
                                 f"got shape {tuple(scale.shape)}")  # fmt: skip
        return given
