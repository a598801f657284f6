"""The demo model's training loop: compositional VideoComposer training on pre-extracted synthetic clips.

The objective and the condition dropout are the project's (``videocomposer.training.objective`` and
``condition_dropout``: eps-prediction MSE, the original's per-sample dropout of text and every STC branch). What this
loop adds for a 2-core CPU: VAE latents and text embeddings are computed once, not per step, and weights are
averaged (EMA). One difference on purpose: a dropped caption becomes the empty prompt's embedding (what the
pipeline's classifier-free guidance feeds the unconditional branch), not a zero embedding.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from condition_extractors import MaskGenerator

from .training_data import DemoClips


@torch.no_grad()
def encode_latents(vae, frames: np.ndarray, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled posterior mean and std ``(N, C, F, h, w)`` of clips ``(N, F, H, W, 3)`` uint8."""
    num_clips, num_frames = frames.shape[:2]
    flat = torch.from_numpy(frames.reshape(-1, *frames.shape[2:])).permute(0, 3, 1, 2)
    means, stds = [], []
    for chunk in flat.split(batch_size):
        posterior = vae.encode(chunk.float() / 127.5 - 1.0).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    scale = vae.config.scaling_factor

    def layout(parts: list[torch.Tensor]) -> torch.Tensor:
        latents = torch.cat(parts) * scale
        return latents.reshape(num_clips, num_frames, *latents.shape[1:]).permute(0, 2, 1, 3, 4).contiguous()

    return layout(means), layout(stds)


class DemoTrainer:
    """Trains ``pipeline.unet`` and ``pipeline.stc_encoder`` on ``clips``; ``ema_pipeline()`` gives the averaged model.

    Args:
        pipeline: a ``VideoComposerPipeline`` with the fitted VAE and the frozen text encoder.
        clips: the pre-extracted training clips.
        batch_size, learning_rate, warmup_steps, ema_decay: optimisation settings.
        stc_lr_scale: learning-rate multiplier of the STC encoder (its sparse inputs, e.g. ~3 motion vectors a
            frame, give small gradients).
        stroke_motion_prob: probability that a sample's motion condition is its stroke-rendered trajectory
            (``DemoClips.stroke_motion``) instead of its codec vectors.
        conditions: the STC conditions fed during training (default: all of the encoder's); the others are always
            absent, as if dropped.
        seed: seed of batches, noise, timesteps, masks and dropout.
    """

    def __init__(
        self,
        pipeline,
        clips: DemoClips,
        batch_size: int = 8,
        learning_rate: float = 5e-4,
        warmup_steps: int = 100,
        ema_decay: float = 0.995,
        stc_lr_scale: float = 1.0,
        conditions: Sequence[str] | None = None,
        stroke_motion_prob: float = 0.0,
        seed: int = 0,
    ):
        from videocomposer.training.objective import training_scheduler

        self.pipeline = pipeline
        self.clips = clips
        self.batch_size = batch_size
        self.ema_decay = ema_decay
        self.generator = torch.Generator().manual_seed(seed)
        self.masks = MaskGenerator(seed=seed)
        if not 0.0 <= stroke_motion_prob <= 1.0:
            raise ValueError(f"stroke_motion_prob: expected a probability in [0, 1], got {stroke_motion_prob}")
        self.stroke_motion_prob = stroke_motion_prob
        self.scheduler = training_scheduler()
        self.latent_mean, self.latent_std = encode_latents(pipeline.vae, clips.frames)
        captions = sorted(set(clips.captions))
        with torch.no_grad():
            embeddings, empty = pipeline.encode_prompt(captions, torch.device("cpu"), 1, True, negative_prompt="")
        self.text = embeddings[[captions.index(c) for c in clips.captions]]
        self.empty_text = empty[:1]
        self.trained = torch.nn.ModuleDict({"unet": pipeline.unet, "stc_encoder": pipeline.stc_encoder})
        self.ema = copy.deepcopy(self.trained).requires_grad_(False)
        known = pipeline.stc_encoder.conditions
        self.conditions = tuple(known if conditions is None else conditions)
        unknown = sorted(set(self.conditions) - set(known))
        if unknown or not self.conditions:
            raise ValueError(f"conditions: expected a non-empty subset of {list(known)}, got {list(self.conditions)}")
        groups = [
            {"params": list(pipeline.unet.parameters()), "lr": learning_rate},
            {"params": list(pipeline.stc_encoder.parameters()), "lr": learning_rate * stc_lr_scale},
        ]
        self.optimizer = torch.optim.AdamW(groups, weight_decay=1e-2)
        self.lr_schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: min(1.0, (step + 1) / warmup_steps)
        )
        self.step = 0

    def batch_conditions(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """The pipeline keyword conditions ``(B, C, F, H, W)`` of clips ``index``: motion vectors, sketch, depth,
        a random inpainting mask with its masked video, and the first frame as the local image."""
        clips = self.clips
        idx = index.numpy()
        frames = (
            torch.from_numpy(clips.condition_frames[idx]).permute(0, 4, 1, 2, 3).float() / 255.0
        )  # (B, 3, F, S, S)
        # Codec vectors, or with probability stroke_motion_prob the trajectory rendered as a stroke would be.
        use_stroke = torch.rand(len(idx), generator=self.generator).numpy() < self.stroke_motion_prob
        motion = np.where(use_stroke[:, None, None, None, None], clips.stroke_motion[idx], clips.motion[idx])
        masked = torch.stack([self.masks(video.transpose(0, 1)).transpose(0, 1) for video in frames])
        return {
            "motion_vectors": torch.from_numpy(motion.astype(np.float32)).transpose(1, 2),
            "sketch": torch.from_numpy(clips.sketch[idx].astype(np.float32))[:, None],
            "depth": torch.from_numpy(clips.depth[idx].astype(np.float32))[:, None],
            "masked_video": masked[:, :3],
            "mask": masked[:, 3:],
            "image": frames[:, :, :1].expand_as(frames),
        }

    def train_step(self) -> float:
        from videocomposer.training.condition_dropout import sample_condition_keep_masks
        from videocomposer.training.objective import add_training_noise, eps_prediction_loss

        self.trained.train()
        index = torch.randint(len(self.clips), (self.batch_size,), generator=self.generator)
        stc_inputs = self.pipeline.prepare_conditions(self.batch_conditions(index), self.batch_size, "cpu")
        stc_inputs = {name: stc_inputs[name] for name in self.conditions}
        keep = sample_condition_keep_masks(["text", *stc_inputs], self.batch_size, self.generator)
        noise = torch.randn(self.latent_mean[index].shape, generator=self.generator)
        latents = self.latent_mean[index] + self.latent_std[index] * noise
        text_keep = keep.pop("text").view(-1, 1, 1)
        text = self.text[index] * text_keep + self.empty_text * (1 - text_keep)
        noised = add_training_noise(self.scheduler, latents, self.generator)
        condition_latents = self.pipeline.stc_encoder(stc_inputs, latent_size=tuple(latents.shape[-2:]),
                                                      condition_scale=keep)  # fmt: skip
        loss = eps_prediction_loss(self.pipeline.unet, noised, text, condition_latents)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trained.parameters(), 1.0)
        self.optimizer.step()
        self.lr_schedule.step()
        self.step += 1
        decay = min(self.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for average, current in zip(self.ema.parameters(), self.trained.parameters()):
                average.lerp_(current, 1 - decay)
        return loss.item()

    def ema_pipeline(self):
        """A copy of the pipeline whose UNet and STC encoder hold the averaged weights, in eval mode."""
        components = dict(self.pipeline.components)
        components["unet"] = copy.deepcopy(self.ema["unet"]).eval()
        components["stc_encoder"] = copy.deepcopy(self.ema["stc_encoder"]).eval()
        return type(self.pipeline)(**components)

    def train(
        self, max_minutes: float, max_steps: int | None = None, every: int = 200,
        on_checkpoint: Callable[[int, float], None] | None = None, log: Callable[[str], None] = print,
    ) -> float:  # fmt: skip
        """Train until ``max_minutes`` or ``max_steps``; call ``on_checkpoint(step, loss)`` every ``every`` steps and
        at the end. Returns the mean loss of the last 100 steps."""
        start, recent = time.time(), []
        while time.time() - start < max_minutes * 60 and (max_steps is None or self.step < max_steps):
            recent = (recent + [self.train_step()])[-100:]
            if self.step % 25 == 0:
                log(f"step {self.step} loss {np.mean(recent):.4f} {time.time() - start:.0f}s")
            if on_checkpoint is not None and self.step % every == 0:
                on_checkpoint(self.step, float(np.mean(recent)))
        final = float(np.mean(recent)) if recent else float("nan")
        if on_checkpoint is not None and self.step % every:
            on_checkpoint(self.step, final)
        return final
