"""Fit the demo's ``AutoencoderKL`` on synthetic training frames: L2 reconstruction + a small KL term.

    loss = mean((D(z) - x)^2) + kl_weight * KL(q(z | x) || N(0, I)) / (H * W * 3),   z ~ q(z | x)

Afterwards ``scaling_factor`` is set to ``1 / std`` of the latents of held-back frames, so that scaled latents have
unit variance as the diffusion schedule assumes (Stable Diffusion's 0.18215 was found the same way).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ..atomic_files import umask_modes


def fit_vae(
    vae,
    frames: np.ndarray,
    output_dir: str | Path,
    max_minutes: float,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    kl_weight: float = 1e-3,
    save_every: int = 100,
    seed: int = 0,
    log=print,
) -> float:
    """Train ``vae`` on ``frames`` ((N, H, W, 3) uint8) for ``max_minutes``; save it to ``output_dir`` every
    ``save_every`` steps and at the end. Returns the final (last 50 steps mean) reconstruction MSE in [-1, 1] units."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected (N, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
    data = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
    held_back, data = data[:256], data[256:]
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate, weight_decay=0.0)
    vae.train()
    start, step, recent = time.time(), 0, []
    while time.time() - start < max_minutes * 60:
        index = torch.randint(len(data), (batch_size,), generator=generator)
        x = data[index].float() / 127.5 - 1.0
        if torch.rand((), generator=generator) < 0.5:  # horizontal flips: shapes and textures are symmetric
            x = x.flip(-1)
        posterior = vae.encode(x).latent_dist
        reconstruction = vae.decode(posterior.sample(generator=generator)).sample
        mse = torch.mean((reconstruction - x) ** 2)
        kl = posterior.kl().mean() / (x.shape[1] * x.shape[2] * x.shape[3])
        loss = mse + kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        recent = (recent + [mse.item()])[-50:]
        if step % 25 == 0:
            log(f"vae step {step} mse {np.mean(recent):.5f} kl {kl.item():.3f} {time.time() - start:.0f}s")
        if step % save_every == 0:
            _save(vae, held_back, output_dir)
    _save(vae, held_back, output_dir)
    vae.eval()
    return float(np.mean(recent)) if recent else math.nan


@torch.no_grad()
def latent_scaling_factor(vae, frames: torch.Tensor) -> float:
    """``1 / std`` of the posterior means of ``frames`` ((N, 3, H, W) uint8)."""
    latents = vae.encode(frames.float() / 127.5 - 1.0).latent_dist.mean
    return float(1.0 / latents.std())


def _save(vae, held_back: torch.Tensor, output_dir: str | Path) -> None:
    was_training = vae.training
    vae.eval()
    vae.register_to_config(scaling_factor=latent_scaling_factor(vae, held_back))
    output_dir = Path(output_dir)
    partial = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with umask_modes(partial):  # diffusers writes safetensors through 0600 temporary files
        vae.save_pretrained(partial)
    shutil.rmtree(output_dir, ignore_errors=True)
    os.replace(partial, output_dir)
    vae.train(was_training)
