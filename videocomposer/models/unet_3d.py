"""VideoComposerUNet3DModel: the ModelScope / VideoComposer 3D UNet with STC input channels and a style token.

Weight layout (original release ``UNetSD_temporal`` -> this model; the converter in ``videocomposer.conversion``
implements it):

| original key prefix | ours |
|---|---|
| ``time_embed.{0,2}`` | ``time_embedding.linear_{1,2}`` |
| ``pre_image_condition.{0,2}`` | ``image_embedding.linear_{1,2}`` |
| ``input_blocks.0.0`` (Conv 12->320) | ``conv_in`` (latent channels then the 8 STC channels) |
| ``input_blocks.0.1`` (temporal transformer) | ``transformer_in`` (Conv1d projections -> Linear) |
| ``input_blocks.{i}.{0,1,2}`` | ``down_blocks.{b}.{resnets,attentions,temp_attentions}.{l}`` |
| ``...temopral_conv`` | ``...temp_convs.{l}`` |
| ``input_blocks.{3,6,9}.op`` | ``down_blocks.{0,1,2}.downsamplers.0.conv`` |
| ``middle_block.{0,1,2,3}`` | ``mid_block.{resnets.0, attentions.0, temp_attentions.0, resnets.1}`` |
| ``output_blocks.{i}.*`` | ``up_blocks.{b}.*``, upsample convs -> ``up_blocks.{b}.upsamplers.0.conv`` |
| ``out.{0,2}`` | ``conv_norm_out``, ``conv_out`` |

Spatial transformers use Linear projections, as the original and diffusers' ``UNet3DConditionModel``; the temporal
transformers' Conv1d(k=1) projections become Linear ``(C_out, C_in)``. The STC branches live in ``STCEncoder``.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import AttentionMixin
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel
from diffusers.models.unets.unet_3d_condition import UNet3DConditionModel, UNet3DConditionOutput
from torch import nn

from ..atomic_files import UmaskModesOnSave
from .attention_slicing import AttentionSlicingMixin
from .unet_3d_blocks import LayerOptions, VideoComposerDownBlock3D, VideoComposerMidBlock3D, VideoComposerUpBlock3D

_DOWN_TYPES = {"CrossAttnDownBlock3D": True, "DownBlock3D": False}
_UP_TYPES = {"CrossAttnUpBlock3D": True, "UpBlock3D": False}


class VideoComposerUNet3DModel(UmaskModesOnSave, ModelMixin, AttentionMixin, AttentionSlicingMixin, ConfigMixin):
    r"""
    The VideoComposer 3D UNet: a ModelScope-style text-to-video UNet whose input is the noisy latent concatenated with
    the STC encoder's output, and whose cross-attention context is the text embedding plus an optional style token
    (CLIP image embedding through a Linear-SiLU-Linear MLP).

    The default config is the released VideoComposer model (1,413,435,636 parameters together with the default
    [`STCEncoder`]).

    Parameters:
        sample_size (`int`, *optional*): Native latent size; the pipeline's default video size is
            `sample_size * vae_scale_factor`.
        num_frames (`int`, defaults to 16): frames per clip the model was trained on (the release: 16); the default
            video length of the pipeline and the default temporal window of long-video sampling.
        in_channels (`int`, defaults to 4): Latent channels.
        condition_channels (`int`, defaults to 8): STC channels concatenated to the latent.
        out_channels (`int`, defaults to 4): Predicted noise channels.
        down_block_types / up_block_types (`tuple[str]`): `"CrossAttnDownBlock3D"` / `"CrossAttnUpBlock3D"` levels
            have spatial + temporal attention; `"DownBlock3D"` / `"UpBlock3D"` do not (the original's `attn_scales`).
        block_out_channels (`tuple[int]`, defaults to `(320, 640, 1280, 1280)`): `dim * dim_mult` of the original.
        layers_per_block (`int`, defaults to 2): `num_res_blocks`.
        norm_num_groups (`int`, defaults to 32), norm_eps (`float`, defaults to 1e-5): GroupNorm settings.
        cross_attention_dim (`int`, defaults to 1024): `context_dim`.
        attention_head_dim (`int`, defaults to 64): `head_dim`; spatial and temporal layers have `C // 64` heads.
        transformer_in_num_heads (`int`, defaults to 8): `num_heads` of the first temporal transformer.
        image_embed_dim (`int`, *optional*, defaults to 1024): width of the CLIP image embedding fed to the style-token
            MLP; `None` builds no MLP.
        dropout (`float`, defaults to 0.1): dropout of the res blocks and temporal convs (training only).
    """

    _supports_gradient_checkpointing = True
    _skip_layerwise_casting_patterns = ["norm", "time_embedding"]

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        num_frames: int = 16,
        in_channels: int = 4,
        condition_channels: int = 8,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlock3D",
            "CrossAttnDownBlock3D",
            "CrossAttnDownBlock3D",
            "DownBlock3D",
        ),
        up_block_types: tuple[str, ...] = (
            "UpBlock3D",
            "CrossAttnUpBlock3D",
            "CrossAttnUpBlock3D",
            "CrossAttnUpBlock3D",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        cross_attention_dim: int = 1024,
        attention_head_dim: int = 64,
        transformer_in_num_heads: int = 8,
        image_embed_dim: int | None = 1024,
        dropout: float = 0.1,
    ):
        super().__init__()
        if len(down_block_types) != len(block_out_channels) or len(up_block_types) != len(block_out_channels):
            raise ValueError(
                "down_block_types, up_block_types and block_out_channels must have the same length, got "
                f"{len(down_block_types)}, {len(up_block_types)} and {len(block_out_channels)}"
            )
        for name, types, known in (("down_block_types", down_block_types, _DOWN_TYPES),
                                   ("up_block_types", up_block_types, _UP_TYPES)):  # fmt: skip
            unknown = [t for t in types if t not in known]
            if unknown:
                raise ValueError(f"{name}: unknown block types {unknown}; expected one of {sorted(known)}")
        if not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f"num_frames: expected a positive int, got {num_frames!r}")
        for channels in block_out_channels:
            if channels % attention_head_dim or channels % norm_num_groups:
                raise ValueError(
                    f"block_out_channels: {channels} must be divisible by attention_head_dim={attention_head_dim} "
                    f"and norm_num_groups={norm_num_groups}"
                )

        time_embed_dim = block_out_channels[0] * 4
        self.conv_in = nn.Conv2d(in_channels + condition_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.time_proj = Timesteps(block_out_channels[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim, act_fn="silu")
        self.image_embedding = (
            TimestepEmbedding(image_embed_dim, cross_attention_dim, act_fn="silu") if image_embed_dim else None
        )
        self.transformer_in = TransformerTemporalModel(
            num_attention_heads=transformer_in_num_heads,
            attention_head_dim=attention_head_dim,
            in_channels=block_out_channels[0],
            num_layers=1,
            norm_num_groups=norm_num_groups,
        )

        layer = LayerOptions(
            temb_channels=time_embed_dim,
            attention_head_dim=attention_head_dim,
            cross_attention_dim=cross_attention_dim,
            norm_num_groups=norm_num_groups,
            norm_eps=norm_eps,
            dropout=dropout,
        )
        # level i: channels[i-1] -> channels[i] down, the reverse up (skips from channels[i+1]); the last: no resampling
        last = len(block_out_channels) - 1
        self.down_blocks = nn.ModuleList(
            VideoComposerDownBlock3D(
                block_out_channels[max(i - 1, 0)],
                block_out_channels[i],
                num_layers=layers_per_block,
                add_attention=_DOWN_TYPES[block_type],
                add_downsample=i < last,
                layer=layer,
            )
            for i, block_type in enumerate(down_block_types)
        )

        self.mid_block = VideoComposerMidBlock3D(block_out_channels[-1], layer)

        reversed_channels = list(reversed(block_out_channels))
        self.up_blocks = nn.ModuleList(
            VideoComposerUpBlock3D(
                reversed_channels[min(i + 1, last)],
                reversed_channels[max(i - 1, 0)],
                reversed_channels[i],
                num_layers=layers_per_block + 1,
                add_attention=_UP_TYPES[block_type],
                add_upsample=i < last,
                resolution_idx=i,
                layer=layer,
            )
            for i, block_type in enumerate(up_block_types)
        )

        self.conv_norm_out = nn.GroupNorm(num_groups=norm_num_groups, num_channels=block_out_channels[0], eps=norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(block_out_channels[0], out_channels, kernel_size=3, padding=1)

    def _set_gradient_checkpointing(self, enable: bool = True, gradient_checkpointing_func=None) -> None:
        # Checkpoint whole layers only; the transformers inside them must not checkpoint a second time.
        for block in (*self.down_blocks, self.mid_block, *self.up_blocks):
            block.gradient_checkpointing = enable
            block._gradient_checkpointing_func = gradient_checkpointing_func

    def _temporal_attentions(self) -> list[nn.Module]:
        return [
            module.attn1
            for transformer in self.modules()
            if isinstance(transformer, TransformerTemporalModel)
            for module in transformer.transformer_blocks
        ]

    def enable_frame_chunking(self, chunk_size: int = 8) -> None:
        """Run the per-frame layers (resnets, spatial transformers, down/upsamplers) on `chunk_size` frames (of all
        videos in the batch, `B * F` in all) at a time: same result, intermediate memory bounded by the chunk."""
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size: expected a positive int, got {chunk_size!r}")
        for block in (*self.down_blocks, self.mid_block, *self.up_blocks):
            block.frame_chunk_size = chunk_size

    def disable_frame_chunking(self) -> None:
        """Run the per-frame layers on all frames at once again."""
        for block in (*self.down_blocks, self.mid_block, *self.up_blocks):
            block.frame_chunk_size = None

    def enable_forward_chunking(self, chunk_size: int | None = None, dim: int = 0) -> None:
        r"""
        Runs the feed-forward layers of every transformer block in chunks (as `UNet3DConditionModel`).

        Args:
            chunk_size (`int`, *optional*, defaults to 1): Chunk length along `dim`; it must divide that dimension.
            dim (`int`, defaults to 0): 0 chunks over batch x frames (spatial) / batch x positions (temporal), 1 over
                the token sequence.
        """
        if dim not in (0, 1):
            raise ValueError(f"dim: expected 0 or 1, got {dim!r}")
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"chunk_size: expected a positive int or None, got {chunk_size!r}")
        UNet3DConditionModel.enable_forward_chunking(self, chunk_size, dim)

    # diffusers' `UNet3DConditionModel` methods, which work on the same block and attention attributes.
    disable_forward_chunking = UNet3DConditionModel.disable_forward_chunking
    disable_freeu = UNet3DConditionModel.disable_freeu

    fuse_qkv_projections = UNet3DConditionModel.fuse_qkv_projections

    def unfuse_qkv_projections(self) -> None:
        """Restores the separate projections and the attention processors used before `fuse_qkv_projections`."""
        if getattr(self, "original_attn_processors", None) is None:
            raise ValueError("unfuse_qkv_projections: the projections are not fused (call fuse_qkv_projections first)")
        for module in self.modules():
            if isinstance(module, Attention) and module.fused_projections:
                for name in ("to_qkv", "to_kv"):
                    if hasattr(module, name):
                        delattr(module, name)
                module.fused_projections = False
        self.set_attn_processor(self.original_attn_processors)
        self.original_attn_processors = None

    def enable_freeu(self, s1: float, s2: float, b1: float, b2: float) -> None:
        r"""
        Enables FreeU (arXiv 2309.11497) in the two lowest-resolution up blocks, as `UNet3DConditionModel` does.

        Args:
            s1, s2 (`float`): Scale of the skip features' low frequencies in up block 0 / 1 (attenuates them).
            b1, b2 (`float`): Scale of the first half of the backbone channels in up block 0 / 1 (amplifies them).
        """
        for name, value in (("s1", s1), ("s2", s2), ("b1", b1), ("b2", b2)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name}: expected a float, got {type(value).__name__}")
        UNet3DConditionModel.enable_freeu(self, float(s1), float(s2), float(b1), float(b2))

    @classmethod
    def from_unet3d(cls, unet3d: UNet3DConditionModel, image_embed_dim: int | None = 1024, **config_overrides):
        """Build a VideoComposer UNet from a diffusers `UNet3DConditionModel` (e.g. ModelScope text-to-video).

        Every weight is copied; the 8 STC input channels of `conv_in` are zero, so with `condition_latents=None` and
        `image_embeds=None` the result computes exactly what `unet3d` computes. The style-token MLP (if any) is fresh.
        """
        if not isinstance(unet3d, UNet3DConditionModel):
            raise TypeError(f"unet3d: expected a diffusers UNet3DConditionModel, got {type(unet3d).__name__}")
        src = unet3d.config
        if not isinstance(src.attention_head_dim, int):
            raise ValueError(f"unet3d: per-block attention_head_dim {src.attention_head_dim} is not supported")
        config = dict(
            sample_size=src.sample_size,
            in_channels=src.in_channels,
            out_channels=src.out_channels,
            down_block_types=tuple(src.down_block_types),
            up_block_types=tuple(src.up_block_types),
            block_out_channels=tuple(src.block_out_channels),
            layers_per_block=src.layers_per_block,
            norm_num_groups=src.norm_num_groups,
            norm_eps=src.norm_eps,
            cross_attention_dim=src.cross_attention_dim,
            attention_head_dim=src.attention_head_dim,
            transformer_in_num_heads=unet3d.transformer_in.num_attention_heads,
            image_embed_dim=image_embed_dim,
        )
        config.update(config_overrides)
        model = cls(**config).to(device=unet3d.device, dtype=unet3d.dtype)

        state = dict(unet3d.state_dict())
        conv_in = torch.zeros_like(model.conv_in.weight)
        conv_in[:, : src.in_channels] = state.pop("conv_in.weight")
        state["conv_in.weight"] = conv_in
        if model.image_embedding is not None:
            state.update({f"image_embedding.{k}": v for k, v in model.image_embedding.state_dict().items()})
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"unet3d: weights do not match; missing {missing[:8]}, unexpected {unexpected[:8]}")
        return model

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        condition_latents: torch.Tensor | None = None,
        image_embeds: torch.Tensor | None = None,
        return_dict: bool = True,
        image_token_scale: torch.Tensor | None = None,
    ) -> UNet3DConditionOutput | tuple[torch.Tensor]:
        r"""
        Args:
            sample (`torch.Tensor` of shape `(B, in_channels, F, h, w)`): noisy latents.
            timestep (`torch.Tensor`, `float` or `int`): a number, a `()` or `(1,)` tensor (broadcast over the batch),
                or one timestep per batch element `(B,)`.
            encoder_hidden_states (`torch.Tensor` of shape `(B, L, cross_attention_dim)`): text embeddings, or
                `(B, F, L, cross_attention_dim)`: one context per frame (e.g. prompts changing over a long video).
            condition_latents (`torch.Tensor` of shape `(B, condition_channels, F, h, w)`, *optional*): STC output;
                `None` means zeros, as the original does for absent conditions.
            image_embeds (`torch.Tensor` of shape `(B, image_embed_dim)`, *optional*): CLIP image embedding; when
                given, `MLP(image_embeds)` is appended to the context as one extra token.
            return_dict (`bool`, defaults to `True`): return a `UNet3DConditionOutput` instead of a tuple.
            image_token_scale (`torch.Tensor` of shape `(B,)`, *optional*): multiplies each sample's style token
                (after the MLP; training's per-sample style dropout, 0 giving a zero token). Needs `image_embeds`.
        """
        batch, _, num_frames, height, width = self._check_forward_inputs(
            sample, timestep, encoder_hidden_states, condition_latents, image_embeds, image_token_scale
        )

        if condition_latents is None:
            condition_latents = sample.new_zeros(batch, self.config.condition_channels, num_frames, height, width)
        hidden_states = torch.cat([sample, condition_latents.to(sample.dtype)], dim=1)

        timesteps = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(batch)
        temb = self.time_embedding(self.time_proj(timesteps).to(dtype=sample.dtype))

        # Context per frame: (B * F, L, D), frame-major within each video like the hidden states below.
        if encoder_hidden_states.ndim == 4:
            context = encoder_hidden_states.reshape(batch * num_frames, *encoder_hidden_states.shape[2:])
        else:
            context = encoder_hidden_states.repeat_interleave(num_frames, dim=0)
        if image_embeds is not None:
            image_token = self.image_embedding(image_embeds.to(dtype=context.dtype))
            if image_token_scale is not None:
                image_token = image_token * image_token_scale.to(image_token).view(-1, 1)
            context = torch.cat([context, image_token.repeat_interleave(num_frames, dim=0)[:, None]], dim=1)

        temb = temb.repeat_interleave(num_frames, dim=0)

        # (B, C, F, h, w) -> (B*F, C, h, w): spatial layers see frames as images, temporal layers regroup them.
        hidden_states = hidden_states.permute(0, 2, 1, 3, 4).reshape(batch * num_frames, -1, height, width)
        hidden_states = self.conv_in(hidden_states)
        hidden_states = self.transformer_in(hidden_states, num_frames=num_frames, return_dict=False)[0]

        skips = (hidden_states,)
        for down_block in self.down_blocks:
            hidden_states, res_samples = down_block(hidden_states, temb, context, num_frames)
            skips += res_samples

        hidden_states = self.mid_block(hidden_states, temb, context, num_frames)

        for up_block in self.up_blocks:
            res_samples = skips[-len(up_block.resnets) :]
            skips = skips[: -len(up_block.resnets)]
            upsample_size = skips[-1].shape[2:] if skips else None
            hidden_states = up_block(hidden_states, res_samples, temb, context, num_frames, upsample_size)

        hidden_states = self.conv_norm_out(hidden_states)
        hidden_states = self.conv_act(hidden_states)
        hidden_states = self.conv_out(hidden_states)

        sample = hidden_states.reshape(batch, num_frames, -1, height, width).permute(0, 2, 1, 3, 4)
        if not return_dict:
            return (sample,)
        return UNet3DConditionOutput(sample=sample)

    def _check_forward_inputs(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        condition_latents: torch.Tensor | None,
        image_embeds: torch.Tensor | None,
        image_token_scale: torch.Tensor | None = None,
    ) -> torch.Size:
        config = self.config
        if not isinstance(sample, torch.Tensor) or sample.ndim != 5 or sample.shape[1] != config.in_channels:
            got = tuple(sample.shape) if isinstance(sample, torch.Tensor) else type(sample).__name__
            raise ValueError(f"sample: expected a (B, {config.in_channels}, F, h, w) tensor, got {got}")
        batch, _, num_frames, height, width = sample.shape
        if isinstance(timestep, torch.Tensor) and timestep.shape not in ((), (1,), (batch,)):
            raise ValueError(f"timestep: expected a scalar, shape (1,) or ({batch},), got {tuple(timestep.shape)}")
        ehs = encoder_hidden_states
        text_width = config.cross_attention_dim
        # (B, L, D) or (B, F, L, D): all but the token count L fixed
        if not (
            isinstance(ehs, torch.Tensor)
            and ehs.ndim in (3, 4)
            and (*ehs.shape[:-2], ehs.shape[-1]) in ((batch, text_width), (batch, num_frames, text_width))
        ):
            got = tuple(getattr(ehs, "shape", ())) or type(ehs).__name__
            raise ValueError(
                f"encoder_hidden_states: expected ({batch}, L, {text_width}) or "
                f"({batch}, {num_frames}, L, {text_width}), got {got}"
            )
        if condition_latents is not None:
            expected = (batch, config.condition_channels, num_frames, height, width)
            if tuple(condition_latents.shape) != expected:
                raise ValueError(f"condition_latents: expected shape {expected}, got {tuple(condition_latents.shape)}")
        if image_embeds is not None:
            if self.image_embedding is None:
                raise ValueError("image_embeds: this UNet was built with image_embed_dim=None (no style token)")
            if tuple(image_embeds.shape) != (batch, config.image_embed_dim):
                raise ValueError(
                    f"image_embeds: expected shape ({batch}, {config.image_embed_dim}), got {tuple(image_embeds.shape)}"
                )
        if image_token_scale is not None:
            if image_embeds is None:
                raise ValueError("image_token_scale: scales the style token, which needs image_embeds")
            if not isinstance(image_token_scale, torch.Tensor) or tuple(image_token_scale.shape) != (batch,):
                got = tuple(getattr(image_token_scale, "shape", ())) or type(image_token_scale).__name__
                raise ValueError(f"image_token_scale: expected a ({batch},) tensor, got {got}")
        return sample.shape
