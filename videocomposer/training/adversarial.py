"""An optional adversarial temporal loss (StyleSV's TSM discriminator) added to the denoising objective.

The generator side is the UNet's one-step estimate of the clean latents,
``x0 = (z_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)``, and the real side the clip's VAE latents: the
:class:`~videocomposer.models.temporal_discriminator.TemporalDiscriminator` runs on **latents, not decoded frames**:

* cost: decoding every step's estimate would run (and backpropagate through) the VAE decoder at full resolution for
  every frame, which dominates a training step; the latent discriminator is a few small convolutions at 1/8 size;
* the UNet's output lives in latent space: a flicker the decoder would show is already a frame-to-frame change of the
  latents, and a latent critic cannot be fooled by decoder artefacts that no UNet update can fix;
* sampling is unchanged: the loss only shapes what the UNet predicts, and the discriminator is thrown away after
  training (saved with the checkpoints only, so a run resumes exactly).

Samples whose timestep is ``>= max_timestep`` are left out of both sides: near pure noise the x0 estimate is a blurry
mean, which a critic would learn to tell from real latents by its blur, not by its motion.

Per optimizer micro-step: the generator term ``weight * L_G(D(x0))`` joins the denoising loss (from
``start_step`` on; the discriminator trains from the first step, so it is not random when the term starts); then the
discriminator takes one step of its own optimizer (Adam, betas (0, 0.99) as in StyleGAN) on ``L_D(D(real), D(x0))``
plus the R1 penalty ``r1_gamma / 2 * E ||grad_real D||^2``. Losses: ``hinge`` (D: relu(1 - real) + relu(1 + fake),
G: -fake) or ``non_saturating`` (D: softplus(-real) + softplus(fake), G: softplus(-fake)).

Checkpoints hold the discriminator (``temporal_discriminator/``, diffusers format) and its optimizer
(``discriminator_optimizer.pt``), written and read by accelerate's save / load hooks.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers import DDPMScheduler

from videocomposer.models.temporal_discriminator import TemporalDiscriminator

from .objective import NoisedLatents

ADVERSARIAL_LOSSES = ("hinge", "non_saturating")
DISCRIMINATOR_FOLDER = "temporal_discriminator"
DISCRIMINATOR_OPTIMIZER_NAME = "discriminator_optimizer.pt"


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Per-sample discriminator loss ``(B,)``."""
    if kind == "hinge":
        return F.relu(1.0 - real_logits) + F.relu(1.0 + fake_logits)
    if kind == "non_saturating":
        return F.softplus(-real_logits) + F.softplus(fake_logits)
    raise ValueError(f"kind: expected one of {ADVERSARIAL_LOSSES}, got {kind!r}")


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Per-sample generator loss ``(B,)``."""
    if kind == "hinge":
        return -fake_logits
    if kind == "non_saturating":
        return F.softplus(-fake_logits)
    raise ValueError(f"kind: expected one of {ADVERSARIAL_LOSSES}, got {kind!r}")


def predicted_clean_latents(scheduler: DDPMScheduler, noised: NoisedLatents, noise_prediction: torch.Tensor):
    """The one-step estimate ``x0 = (z_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)`` (float32)."""
    alphas = scheduler.alphas_cumprod.to(noised.noisy_latents.device)[noised.timesteps].float()
    alphas = alphas.view(-1, *([1] * (noised.noisy_latents.ndim - 1)))
    return (noised.noisy_latents.float() - (1.0 - alphas).sqrt() * noise_prediction.float()) / alphas.sqrt()


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


class TemporalAdversary:
    """The discriminator, its optimizer, and the hooks that put both into the training checkpoints.

    Args:
        discriminator: the critic (trained in float32 on the training device).
        loss: one of :data:`ADVERSARIAL_LOSSES`.
        weight: multiplier of the generator term.
        start_step: optimizer step from which the generator term is added.
        r1_gamma: R1 penalty weight (0: none).
        learning_rate: the discriminator's Adam learning rate.
        max_timestep: samples with a timestep at or above this are left out.
    """

    def __init__(
        self,
        discriminator: TemporalDiscriminator,
        loss: str,
        weight: float,
        start_step: int,
        r1_gamma: float,
        learning_rate: float,
        max_timestep: int,
    ) -> None:
        if loss not in ADVERSARIAL_LOSSES:
            raise ValueError(f"--adversarial_loss: expected one of {ADVERSARIAL_LOSSES}, got {loss!r}")
        if not weight > 0 or start_step < 0 or r1_gamma < 0 or not learning_rate > 0 or max_timestep < 1:
            raise ValueError(
                "--adversarial_weight / --adversarial_start_step / --r1_gamma / --discriminator_lr / "
                f"--adversarial_max_timestep: expected > 0, >= 0, >= 0, > 0, >= 1; got {weight}, {start_step}, "
                f"{r1_gamma}, {learning_rate}, {max_timestep}"
            )
        self.discriminator = discriminator.float().train()
        self.loss, self.weight, self.start_step = loss, weight, start_step
        self.r1_gamma, self.max_timestep = r1_gamma, max_timestep
        self.optimizer = torch.optim.Adam(discriminator.parameters(), lr=learning_rate, betas=(0.0, 0.99))
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def generator_term(
        self,
        scheduler: DDPMScheduler,
        noised: NoisedLatents,
        noise_prediction: torch.Tensor,
        latents: torch.Tensor,
        global_step: int,
    ) -> torch.Tensor:
        """The weighted generator loss of this batch (zero before ``start_step``); keeps the real / fake pair for
        :meth:`discriminator_step`."""
        fake = predicted_clean_latents(scheduler, noised, noise_prediction)
        mask = (noised.timesteps < self.max_timestep).float()
        self._pending = (latents.detach().float(), fake.detach(), mask)
        if global_step < self.start_step:
            return fake.new_zeros(())
        self.discriminator.requires_grad_(False)
        logits = self.discriminator(fake)
        self.discriminator.requires_grad_(True)
        return self.weight * _masked_mean(generator_loss(self.loss, logits), mask)

    def discriminator_step(self, accelerator: Accelerator) -> dict[str, float]:
        """One optimizer step of the discriminator on the pair of the last :meth:`generator_term`; returns its loss
        terms, ``{"discriminator": L_D, "r1": the weighted R1 penalty}`` (this process's batch; they are summed).

        Every process steps (with gradients averaged over processes), whatever its batch's timesteps."""
        if self._pending is None:
            raise RuntimeError("discriminator_step: call generator_term first")
        real, fake, mask = self._pending
        self._pending = None
        self.optimizer.zero_grad(set_to_none=True)
        real.requires_grad_(self.r1_gamma > 0)
        real_logits = self.discriminator(real)
        loss = _masked_mean(discriminator_loss(self.loss, real_logits, self.discriminator(fake)), mask)
        penalty = loss.new_zeros(())
        if self.r1_gamma > 0:
            (gradient,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            penalty = self.r1_gamma / 2 * _masked_mean(gradient.pow(2).flatten(1).sum(1), mask)
        (loss + penalty).backward()
        if accelerator.num_processes > 1:
            for parameter in self.discriminator.parameters():
                parameter.grad = accelerator.reduce(parameter.grad, reduction="mean")
        self.optimizer.step()
        return {"discriminator": loss.item(), "r1": penalty.item()}

    def register_checkpoint_hooks(self, accelerator: Accelerator) -> None:
        """Write the discriminator and its optimizer into every checkpoint folder and read them back on resume."""

        def save_hook(models: list, weights: list, output_dir: str) -> None:
            if accelerator.is_main_process:
                self.discriminator.save_pretrained(str(Path(output_dir) / DISCRIMINATOR_FOLDER))
                torch.save(self.optimizer.state_dict(), Path(output_dir) / DISCRIMINATOR_OPTIMIZER_NAME)

        def load_hook(models: list, input_dir: str) -> None:
            folder = Path(input_dir) / DISCRIMINATOR_FOLDER
            if not folder.is_dir():
                raise ValueError(
                    f"--resume_from_checkpoint: {input_dir!r} has no {DISCRIMINATOR_FOLDER}/ (a run without "
                    "--adversarial_weight cannot be resumed with it)"
                )
            loaded = TemporalDiscriminator.from_pretrained(str(folder))
            self.discriminator.load_state_dict(loaded.state_dict())
            state = torch.load(Path(input_dir) / DISCRIMINATOR_OPTIMIZER_NAME, map_location="cpu", weights_only=True)
            self.optimizer.load_state_dict(state)

        accelerator.register_save_state_pre_hook(save_hook)
        accelerator.register_load_state_pre_hook(load_hook)


def build_adversary(args, latent_channels: int, accelerator: Accelerator) -> TemporalAdversary:
    """The adversary of a training run (``args`` from :func:`~.arguments.parse_args`), on the accelerator's device,
    with its checkpoint hooks registered. Its initial weights depend on ``args.seed`` only (the same on every process).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        discriminator = TemporalDiscriminator(in_channels=latent_channels).to(accelerator.device)
    adversary = TemporalAdversary(
        discriminator,
        loss=args.adversarial_loss,
        weight=args.adversarial_weight,
        start_step=args.adversarial_start_step,
        r1_gamma=args.r1_gamma,
        learning_rate=args.discriminator_lr,
        max_timestep=args.adversarial_max_timestep,
    )
    adversary.register_checkpoint_hooks(accelerator)
    return adversary
