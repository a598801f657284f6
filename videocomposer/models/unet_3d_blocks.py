"""Down, mid and up blocks of the VideoComposer 3D UNet.

Each layer is the ModelScope / VideoComposer sequence ``ResBlock -> temporal conv -> [spatial transformer -> temporal
transformer]``. Parameter names equal those of diffusers' 3D down / mid / up blocks, so ModelScope text-to-video
weights in diffusers format load as they are. Unlike those, these blocks support gradient checkpointing (one checkpoint
per layer) and frame chunking: with ``frame_chunk_size`` set, the per-frame layers (resnets, spatial transformers,
down/upsamplers) run on that many frames at a time, bounding their activations by the chunk, not the video length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers.models.resnet import Downsample2D, ResnetBlock2D, TemporalConvLayer, Upsample2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel
from diffusers.utils.torch_utils import apply_freeu
from torch import nn


@dataclass(frozen=True)
class LayerOptions:
    """What every layer of the UNet's blocks shares; :meth:`add_layer` builds one layer into a block."""

    temb_channels: int
    attention_head_dim: int
    cross_attention_dim: int
    norm_num_groups: int
    norm_eps: float
    dropout: float

    def add_layer(self, block: nn.Module, in_channels: int, out_channels: int, add_attention: bool) -> None:
        """Append one resnet + temporal conv (+ spatial and temporal transformer) to ``block``'s module lists."""
        groups, heads = self.norm_num_groups, out_channels // self.attention_head_dim
        block.resnets.append(
            ResnetBlock2D(
                in_channels=in_channels,
                out_channels=out_channels,
                temb_channels=self.temb_channels,
                eps=self.norm_eps,
                groups=groups,
                dropout=self.dropout,
                non_linearity="silu",
            )
        )
        block.temp_convs.append(
            TemporalConvLayer(out_channels, out_channels, dropout=self.dropout, norm_num_groups=groups)
        )
        if add_attention:
            block.attentions.append(
                Transformer2DModel(
                    heads,
                    self.attention_head_dim,
                    in_channels=out_channels,
                    num_layers=1,
                    cross_attention_dim=self.cross_attention_dim,
                    norm_num_groups=groups,
                    use_linear_projection=True,
                )
            )
            block.temp_attentions.append(
                TransformerTemporalModel(
                    heads, self.attention_head_dim, in_channels=out_channels, num_layers=1, norm_num_groups=groups
                )
            )


class _Block3D(nn.Module):
    """Shared forward of one UNet layer, with optional gradient checkpointing. Layer ``i`` is resnet ``i`` and temporal
    conv ``i``, then spatial and temporal transformer ``i`` when the block has them (the mid block has one, after its
    first resnet: diffusers' ``UNetMidBlock3DCrossAttn`` order)."""

    def __init__(self) -> None:
        super().__init__()
        self.resnets = nn.ModuleList()
        self.temp_convs = nn.ModuleList()
        self.attentions = nn.ModuleList()
        self.temp_attentions = nn.ModuleList()
        self.gradient_checkpointing = False
        self._gradient_checkpointing_func: Callable | None = None
        self.frame_chunk_size: int | None = None

    def _per_frame(self, fn: Callable[..., torch.Tensor], hidden_states: torch.Tensor, *frame_args) -> torch.Tensor:
        """``fn(hidden_states, *frame_args)`` for a per-frame ``fn`` whose tensor arguments share the frame axis (dim 0,
        ``B * F``; ``None`` passes through); with ``frame_chunk_size`` set, that many frames at a time into one output.
        """
        chunk, total = self.frame_chunk_size, hidden_states.shape[0]
        if chunk is None or chunk >= total:
            return fn(hidden_states, *frame_args)
        output = None
        for start in range(0, total, chunk):
            piece = fn(*(a if a is None else a[start : start + chunk] for a in (hidden_states, *frame_args)))
            if output is None:
                output = piece.new_empty((total, *piece.shape[1:]))
            output[start : start + chunk] = piece
        return output

    def _run_layer(
        self,
        index: int,
        hidden_states: torch.Tensor,
        temb: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        num_frames: int,
    ) -> torch.Tensor:
        hidden_states = self._per_frame(self.resnets[index], hidden_states, temb)
        hidden_states = self.temp_convs[index](hidden_states, num_frames=num_frames)
        if index < len(self.attentions):  # spatial (cross-)attention, then temporal self-attention over frames
            hidden_states = self._per_frame(
                lambda h, context: self.attentions[index](h, encoder_hidden_states=context, return_dict=False)[0],
                hidden_states,
                encoder_hidden_states,
            )
            hidden_states = self.temp_attentions[index](hidden_states, num_frames=num_frames, return_dict=False)[0]
        return hidden_states

    def _layer(self, *args) -> torch.Tensor:
        """``_run_layer(*args)``, as one gradient checkpoint when checkpointing is on."""
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(self._run_layer, *args)
        return self._run_layer(*args)


class VideoComposerDownBlock3D(_Block3D):
    """``num_layers`` layers at one resolution, then an optional stride-2 conv (the original's ``input_blocks``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_layers: int,
        add_attention: bool,
        add_downsample: bool,
        layer: LayerOptions,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer.add_layer(self, in_channels if i == 0 else out_channels, out_channels, add_attention)
        self.downsamplers = (
            nn.ModuleList([Downsample2D(out_channels, use_conv=True, out_channels=out_channels, padding=1, name="op")])
            if add_downsample
            else None
        )

    def forward(
        self,
        hidden_states: torch.Tensor,
        temb: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        num_frames: int,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        output_states = ()
        for index in range(len(self.resnets)):
            hidden_states = self._layer(index, hidden_states, temb, encoder_hidden_states, num_frames)
            output_states += (hidden_states,)
        if self.downsamplers is not None:
            hidden_states = self._per_frame(self.downsamplers[0], hidden_states)
            output_states += (hidden_states,)
        return hidden_states, output_states


class VideoComposerMidBlock3D(_Block3D):
    """Resnet, then (spatial transformer, temporal transformer, resnet); the original's ``middle_block``."""

    def __init__(self, channels: int, layer: LayerOptions) -> None:
        super().__init__()
        # the transformers the second call adds are the first layer's: they run after the first resnet
        layer.add_layer(self, channels, channels, add_attention=False)
        layer.add_layer(self, channels, channels, add_attention=True)

    def forward(
        self,
        hidden_states: torch.Tensor,
        temb: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        num_frames: int,
    ) -> torch.Tensor:
        for index in range(len(self.resnets)):
            hidden_states = self._layer(index, hidden_states, temb, encoder_hidden_states, num_frames)
        return hidden_states


class VideoComposerUpBlock3D(_Block3D):
    """``num_layers`` layers fed with skip connections, then an optional nearest x2 upsample + conv.

    ``s1, s2, b1, b2``: FreeU's factors, as in diffusers' ``UpBlock3D`` (set by the UNet's ``enable_freeu``, ``None``
    when off); blocks ``resolution_idx`` 0 and 1 apply them to the backbone and skip features before each concatenation.
    """

    def __init__(
        self,
        in_channels: int,
        prev_output_channel: int,
        out_channels: int,
        num_layers: int,
        add_attention: bool,
        add_upsample: bool,
        layer: LayerOptions,
        resolution_idx: int | None = None,
    ) -> None:
        super().__init__()
        self.resolution_idx = resolution_idx
        self.s1 = self.s2 = self.b1 = self.b2 = None
        for i in range(num_layers):
            skip_channels = in_channels if i == num_layers - 1 else out_channels
            resnet_in_channels = prev_output_channel if i == 0 else out_channels
            layer.add_layer(self, resnet_in_channels + skip_channels, out_channels, add_attention)
        self.upsamplers = (
            nn.ModuleList([Upsample2D(out_channels, use_conv=True, out_channels=out_channels)])
            if add_upsample
            else None
        )

    def forward(
        self,
        hidden_states: torch.Tensor,
        res_hidden_states_tuple: tuple[torch.Tensor, ...],
        temb: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        num_frames: int,
        upsample_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        for index in range(len(self.resnets)):
            res_hidden_states = res_hidden_states_tuple[-1 - index]
            if self.s1 is not None:
                hidden_states, res_hidden_states = apply_freeu(
                    self.resolution_idx,
                    hidden_states,
                    res_hidden_states,
                    s1=self.s1,
                    s2=self.s2,
                    b1=self.b1,
                    b2=self.b2,
                )
            hidden_states = torch.cat([hidden_states, res_hidden_states], dim=1)
            hidden_states = self._layer(index, hidden_states, temb, encoder_hidden_states, num_frames)
        if self.upsamplers is not None:
            hidden_states = self._per_frame(lambda h: self.upsamplers[0](h, upsample_size), hidden_states)
        return hidden_states
