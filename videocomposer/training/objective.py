"""VideoComposer's training objective: eps-prediction MSE on VAE latents (original ``diffusion.loss``, mean_type eps).

    z0 = vae.encode(x).latent_dist.sample() * 0.18215      (per frame; the VAE config's scaling_factor)
    t ~ U{0, ..., T-1},  eps ~ N(0, I),  z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps   (DDPMScheduler.add_noise)
    loss = mean((unet(z_t, t, text, stc, style) - eps)^2)

The training scheduler is a ``DDPMScheduler`` with the design's schedule: scaled_linear betas 0.00085 -> 0.012 over
1000 steps, epsilon prediction (:data:`TRAINING_SCHEDULER_CONFIG`).

Data parallel runs: every random draw of a step is made for the whole global batch from a generator in the same state
on every process, and each process keeps its own rows (:class:`BatchShard`). N processes with per-device batch b then
draw exactly what one process with batch N*b draws, so their loss curves agree (within float tolerance).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler

from videocomposer.models.unet_3d import VideoComposerUNet3DModel

TRAINING_SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
}


def training_scheduler() -> DDPMScheduler:
    """The DDPM noise schedule VideoComposer was trained with."""
    return DDPMScheduler(**TRAINING_SCHEDULER_CONFIG)


@dataclass(frozen=True)
class BatchShard:
    """This process's rows ``start:start + size`` of a global batch of ``global_size`` samples."""

    start: int
    size: int
    global_size: int

    def __post_init__(self):
        if not 0 <= self.start < self.start + self.size <= self.global_size:
            raise ValueError(
                f"BatchShard: rows {self.start}:{self.start + self.size} not in a batch of {self.global_size}"
            )

    def take(self, values: torch.Tensor) -> torch.Tensor:
        """This process's rows of a tensor drawn for the global batch."""
        if values.shape[0] != self.global_size:
            raise ValueError(f"values: expected {self.global_size} rows (the global batch), got {values.shape[0]}")
        return values[self.start : self.start + self.size]

    def randn(self, generator: torch.Generator, sample_shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """Standard normal ``(size, *sample_shape)``: this process's rows of a ``(global_size, ...)`` draw."""
        return self.take(torch.randn((self.global_size, *sample_shape), generator=generator, dtype=dtype))


def _check_shard(shard: BatchShard | None, batch_size: int) -> BatchShard:
    shard = BatchShard(0, batch_size, batch_size) if shard is None else shard  # None: the whole batch
    if shard.size != batch_size:
        raise ValueError(f"shard: covers {shard.size} samples, the batch has {batch_size}")
    return shard


def encode_video_latents(
    vae: AutoencoderKL, pixel_values: torch.Tensor, generator: torch.Generator, shard: BatchShard | None = None
) -> torch.Tensor:
    """Frames ``(B, F, 3, H, W)`` in [-1, 1] -> scaled latents ``(B, C, F, h, w)``, one posterior sample per frame
    (``mean + std * eps``, ``eps`` from ``generator``: this process's ``shard`` of a draw for the global batch)."""
    if pixel_values.ndim != 5 or pixel_values.shape[2] != 3:
        raise ValueError(f"pixel_values: expected (B, F, 3, H, W), got {tuple(pixel_values.shape)}")
    batch, num_frames = pixel_values.shape[:2]
    shard = _check_shard(shard, batch)
    frames = pixel_values.flatten(0, 1).to(vae.device, vae.dtype)
    posterior = vae.encode(frames).latent_dist
    eps = shard.randn(generator, (num_frames, *posterior.mean.shape[1:]), posterior.mean.dtype)
    latents = posterior.mean + posterior.std * eps.flatten(0, 1).to(posterior.mean.device)
    latents = latents * vae.config.scaling_factor
    return latents.unflatten(0, (batch, num_frames)).permute(0, 2, 1, 3, 4)


@dataclass
class NoisedLatents:
    """What one training step feeds the UNet and the target it regresses to."""

    noisy_latents: torch.Tensor
    timesteps: torch.Tensor
    noise: torch.Tensor


def add_training_noise(
    scheduler: DDPMScheduler, latents: torch.Tensor, generator: torch.Generator, shard: BatchShard | None = None
) -> NoisedLatents:
    """Uniform timesteps and Gaussian noise from the CPU ``generator`` (this process's ``shard`` of draws for the
    global batch; moved to ``latents``' device), forward-diffused latents."""
    if scheduler.config.prediction_type != "epsilon":
        raise ValueError(f"scheduler: expected prediction_type 'epsilon', got {scheduler.config.prediction_type!r}")
    shard = _check_shard(shard, latents.shape[0])
    noise = shard.randn(generator, tuple(latents.shape[1:]), torch.float32).to(latents)
    timesteps = torch.randint(
        0, scheduler.config.num_train_timesteps, (shard.global_size,), generator=generator, device=generator.device
    )
    timesteps = shard.take(timesteps).to(latents.device)
    return NoisedLatents(scheduler.add_noise(latents, noise, timesteps), timesteps, noise)


def eps_prediction_loss(
    unet: VideoComposerUNet3DModel,
    noised: NoisedLatents,
    encoder_hidden_states: torch.Tensor,
    condition_latents: torch.Tensor | None = None,
    return_prediction: bool = False,
    image_embeds: torch.Tensor | None = None,
    image_token_scale: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Mean squared error (float32) between the UNet's noise prediction and the noise that was added (and, with
    ``return_prediction``, the prediction). ``image_embeds`` / ``image_token_scale``: the style token, computed in the
    UNet's forward (where FSDP gathers the token MLP's sharded weights), times the per-sample style keep mask."""
    prediction = unet(
        noised.noisy_latents,
        noised.timesteps,
        encoder_hidden_states=encoder_hidden_states,
        condition_latents=condition_latents,
        image_embeds=image_embeds,
        image_token_scale=image_token_scale,
    ).sample
    loss = F.mse_loss(prediction.float(), noised.noise.float(), reduction="mean")
    return (loss, prediction) if return_prediction else loss
