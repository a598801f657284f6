"""MiDaS DPT-Large depth through transformers ``DPTForDepthEstimation``.

Scale: the original runs its own MiDaS v3 DPT-Large (ViT-L/16, 384) on the 384² frame scaled to [-1, 1] and divides the
relative inverse depth by 20, clamped to [0, 10]. ``Intel/dpt-large`` is the same network converted from the same MiDaS
v3 weights: same [-1, 1] input normalisation (its image processor uses mean = std = 0.5), same head (bilinear x2 with
``align_corners=True``, ReLU output), and ``predicted_depth`` at the input resolution. So ``predicted_depth`` is on the
original's scale and the same ``/ 20``, ``clamp(0, 10)`` applies. Frames go straight to the model (no image
processor): they are already 384² crops in [0, 1].
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from .base import ConditionExtractor, register_extractor


@register_extractor
class DepthExtractor(ConditionExtractor):
    """``(F, 1, H, W)`` MiDaS relative inverse depth / ``depth_std``, clamped to [0, ``depth_clamp``].

    Args:
        model: a hub id or local folder for ``DPTForDepthEstimation.from_pretrained``, or a built module called as
            ``model(pixel_values=x)`` returning ``.predicted_depth`` ``(B, h, w)``.
        depth_std, depth_clamp: the original's 20 and 10.
        batch_size: frames per forward pass.
    """

    name = "depth"

    def __init__(
        self,
        model: str | os.PathLike | torch.nn.Module = "Intel/dpt-large",
        depth_std: float = 20.0,
        depth_clamp: float = 10.0,
        batch_size: int = 4,
    ):
        if depth_std <= 0 or depth_clamp <= 0 or batch_size < 1:
            raise ValueError(
                f"depth_std, depth_clamp and batch_size must be positive, got {depth_std}, {depth_clamp}, {batch_size}"
            )
        if isinstance(model, (str, os.PathLike)):
            from transformers import DPTForDepthEstimation

            model = DPTForDepthEstimation.from_pretrained(os.fspath(model))
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model: expected a hub id, a local path or a torch.nn.Module, got {type(model).__name__}")
        self.model = model.eval().requires_grad_(False)
        self.depth_std = depth_std
        self.depth_clamp = depth_clamp
        self.batch_size = batch_size

    @torch.no_grad()
    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        parameter = next(self.model.parameters())
        depths = []
        for chunk in frames.split(self.batch_size):
            pixel_values = chunk.to(parameter.device, parameter.dtype) * 2.0 - 1.0
            depth = self.model(pixel_values=pixel_values).predicted_depth.unsqueeze(1).float()
            if depth.shape[-2:] != chunk.shape[-2:]:
                depth = F.interpolate(depth, size=chunk.shape[-2:], mode="bilinear", align_corners=False)
            depths.append((depth / self.depth_std).clamp_(0.0, self.depth_clamp).cpu())
        return torch.cat(depths)
