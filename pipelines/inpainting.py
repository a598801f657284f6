"""Inpainting that keeps the frame (`preserve_unmasked=True`): latent blending while sampling, pixel composite at the end.

- Latent blending (RePaint, Lugmayr et al. 2022; Blended Latent Diffusion, Avrahami et al. 2023): the source video is
  encoded once; after every denoising step the latents outside the hole are replaced by the source latents noised to
  the noise level the step reached (`scheduler.add_noise` with the next timestep; the clean source after the last
  step), so the generated hole grows to fit its border.
- Composite: the decoded frames outside the hole are replaced by the source pixels, so the known region is the source
  exactly (up to the 1/255 of the output's quantisation) when the masked video is given at the output size; otherwise
  source and mask are resized to it first. The latent mask is the pixel hole max-pooled to the latent grid, so every
  latent cell that touches the hole is generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor


def per_frame(fn, video: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """`fn` applied to the frames `(B * F, C, H, W)` of `video` `(B, C, F, H, W)`, `chunk_size` frames a call (all at
    once when `None`), its outputs `(n, C', H', W')` regrouped as `(B, C', F, H', W')`."""
    frames = video.permute(0, 2, 1, 3, 4).flatten(0, 1)
    frames = torch.cat([fn(chunk) for chunk in frames.split(chunk_size or len(frames))])
    return frames.unflatten(0, (video.shape[0], video.shape[2])).permute(0, 2, 1, 3, 4)


def to_output_size(
    video: torch.Tensor, mask: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Source video `(B, 3, F, H', W')` in [0, 1] and mask `(B, 1, F, H', W')` at `height x width`: the video
    bilinear (antialiased), the hole grown to every output pixel that any hole pixel touches (area resize > 0)."""
    if video.shape[-2:] == (height, width):
        return video, (mask > 0).to(video.dtype)
    size = (height, width)
    frames = per_frame(lambda x: F.interpolate(x, size, mode="bilinear", antialias=True, align_corners=False), video)
    holes = per_frame(lambda x: F.interpolate(x, size, mode="area") > 0, mask.to(video.dtype))
    return frames.clamp(0, 1), holes.to(video.dtype)


def latent_hole(mask: torch.Tensor, latent_size: tuple[int, int]) -> torch.Tensor:
    """Pixel hole `(B, 1, F, H, W)` -> latent hole `(B, 1, F, h, w)`: 1 where the cell's pixels touch the hole."""
    return per_frame(lambda x: F.adaptive_max_pool2d(x.float(), latent_size) > 0, mask).to(mask.dtype)


@dataclass
class LatentBlend:
    """The known region's clean latents, the latent keep-mask and the fixed noise used to re-noise them."""

    source_latents: torch.Tensor  # (N, 4, F, h, w), scaled by the VAE's scaling factor
    keep: torch.Tensor  # (N, 1, F, h, w): 1 outside the hole
    noise: torch.Tensor
    source: torch.Tensor  # (1 or N, 3, F, H, W) in [0, 1] at the output size
    hole: torch.Tensor  # (1 or N, 1, F, H, W)

    def blend(self, latents: torch.Tensor, scheduler, next_timestep: torch.Tensor | None) -> torch.Tensor:
        """Latents after a step: outside the hole the source noised to `next_timestep` (`None`: the last step, the
        clean source)."""
        if next_timestep is None:
            known = self.source_latents
        else:
            known = scheduler.add_noise(self.source_latents, self.noise, next_timestep.reshape(1))
        keep = self.keep.to(latents.dtype)
        return keep * known.to(latents.dtype) + (1.0 - keep) * latents

    def composite(self, video: torch.Tensor) -> torch.Tensor:
        """Decoded video `(N, 3, F, H, W)` in [-1, 1] with the source outside the hole."""
        hole = self.hole.to(video.device, video.dtype)
        return hole * video + (1.0 - hole) * (self.source.to(video.device, video.dtype) * 2.0 - 1.0)


def prepare_latent_blend(
    vae, masked_video: torch.Tensor, mask: torch.Tensor, height: int, width: int, latents: torch.Tensor,
    num_videos_per_prompt: int, generator: torch.Generator | list[torch.Generator] | None,
) -> LatentBlend:  # fmt: skip
    """Encodes the source at the output size (the VAE's mean latent) and draws the re-noising noise."""
    device = latents.device
    source, hole = to_output_size(
        masked_video.to(device, torch.float32), mask.to(device, torch.float32), height, width
    )
    encode = lambda frames: vae.encode(frames.to(vae.dtype)).latent_dist.mean  # noqa: E731
    source_latents = per_frame(encode, source * 2.0 - 1.0, 1) * vae.config.scaling_factor  # one frame per VAE call
    keep = 1.0 - latent_hole(hole, tuple(latents.shape[-2:]))
    total = latents.shape[0]

    def per_video(x: torch.Tensor) -> torch.Tensor:
        return x.expand(total, -1, -1, -1, -1) if x.shape[0] == 1 else x.repeat_interleave(num_videos_per_prompt, 0)

    noise = randn_tensor(tuple(latents.shape), generator=generator, device=device, dtype=latents.dtype)
    return LatentBlend(per_video(source_latents), per_video(keep), noise, per_video(source), per_video(hole))
