"""Output of `VideoComposerPipeline`."""

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers.utils import BaseOutput


@dataclass
class VideoComposerPipelineOutput(BaseOutput):
    r"""
    Output of [`VideoComposerPipeline`].

    Args:
        frames (`torch.Tensor`, `np.ndarray` or `list[list[PIL.Image.Image]]`):
            The generated videos: `np.ndarray` `(B, F, H, W, 3)` in [0, 1] for `output_type="np"`, `torch.Tensor`
            `(B, F, 3, H, W)` in [0, 1] for `"pt"`, a list of `B` lists of `F` PIL images for `"pil"`, or the final
            latents `(B, 4, F, H / 8, W / 8)` for `"latent"`.
    """

    frames: torch.Tensor | np.ndarray | list[list[PIL.Image.Image]]
