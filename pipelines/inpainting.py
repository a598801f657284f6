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


def to_output_size(
    video: torch.Tensor, mask: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Source video `(B, 3, F, H', W')` in [0, 1] and mask `(B, 1, F, H', W')` at `height x width`: the video
    bilinear (antialiased), the hole grown to every output pixel that any hole pixel touches (area resize > 0)."""
    if video.shape[-2:] == (height, width):
        return video, (mask > 0).to(video.dtype)
    b, c, f = video.shape[:3]
    frames = video.permute(0, 2, 1, 3, 4).reshape(b * f, c, *video.shape[-2:])
    frames = F.interpolate(frames, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    holes = mask.permute(0, 2, 1, 3, 4).reshape(mask.shape[0] * f, 1, *mask.shape[-2:]).to(video.dtype)
    holes = (F.interpolate(holes, size=(height, width), mode="area") > 0).to(video.dtype)
    back = lambda x, n: x.reshape(n, f, *x.shape[1:]).permute(0, 2, 1, 3, 4)  # noqa: E731
    return back(frames, b).clamp(0, 1), back(holes, mask.shape[0])


def latent_hole(mask: torch.Tensor, latent_size: tuple[int, int]) -> torch.Tensor:
    """Pixel hole `(B, 1, F, H, W)` -> latent hole `(B, 1, F, h, w)`: 1 where the cell's pixels touch the hole."""
    b, _, f, height, width = mask.shape
    flat = mask.permute(0, 2, 1, 3, 4).reshape(b * f, 1, height, width).float()
    pooled = F.adaptive_max_pool2d(flat, latent_size)
    return (pooled > 0).to(mask.dtype).reshape(b, f, 1, *latent_size).permute(0, 2, 1, 3, 4)


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
    b, c, f = source.shape[:3]
    frames = source.permute(0, 2, 1, 3, 4).reshape(b * f, c, height, width) * 2.0 - 1.0
    encoded = torch.cat([vae.encode(frames[i : i + 1].to(vae.dtype)).latent_dist.mean for i in range(b * f)])
    encoded = encoded * vae.config.scaling_factor
    source_latents = encoded.reshape(b, f, *encoded.shape[1:]).permute(0, 2, 1, 3, 4)
    keep = 1.0 - latent_hole(hole, tuple(latents.shape[-2:]))
    total = latents.shape[0]

    def per_video(x: torch.Tensor) -> torch.Tensor:
        return x.expand(total, -1, -1, -1, -1) if x.shape[0] == 1 else x.repeat_interleave(num_videos_per_prompt, 0)

    noise = randn_tensor(tuple(latents.shape), generator=generator, device=device, dtype=latents.dtype)
    return LatentBlend(per_video(source_latents), per_video(keep), noise, per_video(source), per_video(hole))
