"""Attention slicing, default processors and temporal windows for the UNet and the STC encoder (diffusers `Attention`
layers), as `DiffusionPipeline.enable_attention_slicing`, diffusers' model tests and long-video sampling call them."""

from __future__ import annotations

from diffusers.models.attention_processor import Attention, AttnProcessor
from torch import nn

from .temporal_windows import TemporalWindows, set_temporal_windows, temporal_windows_of


class AttentionSlicingMixin:
    """`set_attention_slice` and `set_default_attn_processor` over every diffusers `Attention` in the model;
    `set_temporal_windows` / `temporal_windows` over the temporal self-attentions its `_temporal_attentions` lists."""

    def _sliceable_attentions(self: nn.Module) -> list[Attention]:
        layers = [module for module in self.modules() if isinstance(module, Attention)]
        if not layers:
            raise ValueError(f"{type(self).__name__} has no attention layers to slice.")
        return layers

    def set_attention_slice(self, slice_size: str | int | list[int] | None) -> None:
        r"""
        Computes attention in slices of `slice_size` (batch x head) rows at a time, to save memory.

        Args:
            slice_size (`str`, `int`, `list[int]` or `None`): `"auto"` halves each layer's head count (at least 1),
                `"max"` runs one slice at a time, an int is used for every layer, a list gives one size per attention
                layer (in `modules()` order), `None` turns slicing off (back to the default processor).
        """
        layers = self._sliceable_attentions()
        heads = [layer.sliceable_head_dim for layer in layers]
        if slice_size == "auto":
            sizes = [max(1, h // 2) for h in heads]
        elif slice_size == "max":
            sizes = [1] * len(layers)
        elif slice_size is None or (isinstance(slice_size, int) and not isinstance(slice_size, bool)):
            sizes = [slice_size] * len(layers)
        elif isinstance(slice_size, list):
            if len(slice_size) != len(layers):
                raise ValueError(
                    f"slice_size: a list needs one size per attention layer ({len(layers)}), got {len(slice_size)}."
                )
            sizes = slice_size
        else:
            raise ValueError(
                f"slice_size: expected 'auto', 'max', an int, a list of ints or None, got {slice_size!r}."
            )
        for size, head_count in zip(sizes, heads, strict=True):
            if size is not None and not (isinstance(size, int) and 1 <= size <= head_count):
                raise ValueError(f"slice_size: {size!r} has to be an int in [1, {head_count}] (the layer's heads).")
        for layer, size in zip(layers, sizes, strict=True):
            layer.set_attention_slice(size)

    def set_default_attn_processor(self) -> None:
        """Replaces every attention processor by diffusers' plain `AttnProcessor` (no SDPA, slicing or xformers)."""
        for layer in self._sliceable_attentions():
            layer.set_processor(AttnProcessor())

    def set_temporal_windows(self, windows: TemporalWindows | None) -> None:
        """Run every temporal self-attention over overlapping frame windows (`None`: over all frames again); a sequence
        no longer than `windows.context_length` is computed exactly as without (`models.temporal_windows`)."""
        set_temporal_windows(self._temporal_attentions(), windows)

    @property
    def temporal_windows(self) -> TemporalWindows | None:
        """The windowing of the temporal attention, or `None`."""
        return temporal_windows_of(self._temporal_attentions())
