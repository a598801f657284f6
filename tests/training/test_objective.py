"""The training objective against independent computations of the original's formulas."""

import pytest
import torch
import torch.nn.functional as F

from videocomposer.training.objective import (
    BatchShard,
    NoisedLatents,
    add_training_noise,
    encode_video_latents,
    eps_prediction_loss,
    training_scheduler,
)


def test_schedule_is_the_originals_linear_sd():
    # The original's `linear_sd`: a linspace over square roots, squared.
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    scheduler = training_scheduler()
    # float32 roots from a linspace, squared: a few ulps of the largest root (0.11) relative to the smallest (0.029)
    torch.testing.assert_close(scheduler.betas.double(), betas, rtol=1e-5, atol=1e-9)
    assert scheduler.config.prediction_type == "epsilon"


def test_forward_diffusion_matches_the_closed_form():
    scheduler = training_scheduler()
    latents = torch.randn(3, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    noised = add_training_noise(scheduler, latents, torch.Generator().manual_seed(1))
    abar = torch.cumprod(1 - scheduler.betas.double(), 0)[noised.timesteps].view(-1, 1, 1, 1, 1)
    expected = abar.sqrt() * latents.double() + (1 - abar).sqrt() * noised.noise.double()
    torch.testing.assert_close(noised.noisy_latents.double(), expected, rtol=1e-5, atol=1e-6)
    assert noised.timesteps.shape == (3,) and noised.timesteps.min() >= 0 and noised.timesteps.max() < 1000
    again = add_training_noise(scheduler, latents, torch.Generator().manual_seed(1))
    assert torch.equal(again.noise, noised.noise) and torch.equal(again.timesteps, noised.timesteps)


def test_video_latents_are_scaled_per_frame_posterior_samples(make_tiny_components):
    vae = make_tiny_components()["vae"]
    frames = torch.rand(2, 3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1  # (B, F, 3, H, W)
    latents = encode_video_latents(vae, frames, torch.Generator().manual_seed(5))
    assert latents.shape == (2, 4, 3, 4, 4)
    with torch.no_grad():
        posterior = vae.encode(frames.reshape(6, 3, 32, 32)).latent_dist
    generator = torch.Generator().manual_seed(5)
    noise = torch.randn(posterior.mean.shape, generator=generator)
    expected = (posterior.mean + posterior.std * noise) * 0.18215
    torch.testing.assert_close(latents.detach(), expected.reshape(2, 3, 4, 4, 4).permute(0, 2, 1, 3, 4))
    with pytest.raises(ValueError, match="pixel_values"):
        encode_video_latents(vae, frames[:, 0], torch.Generator())


def test_style_token_scale_zeroes_dropped_tokens_inside_the_unet_forward(make_tiny_components):
    """Style dropout acts on the token after the MLP, inside the UNet's forward (where FSDP gathers the MLP's
    weights): a kept sample is the plain `image_embeds` path, a dropped one sees a zero token appended to its text."""
    unet = make_tiny_components()["unet"]
    g = torch.Generator().manual_seed(0)
    noised = NoisedLatents(
        torch.randn(2, 4, 2, 4, 4, generator=g), torch.tensor([10, 700]), torch.randn(2, 4, 2, 4, 4)
    )
    text = torch.randn(2, 16, 32, generator=g)
    image_embeds = torch.randn(2, unet.config.image_embed_dim, generator=g)
    with torch.no_grad():
        kept = unet(noised.noisy_latents, noised.timesteps, text, image_embeds=image_embeds).sample
        zero_token = torch.cat([text, torch.zeros(2, 1, 32)], dim=1)
        dropped = unet(noised.noisy_latents, noised.timesteps, zero_token).sample
        scaled = unet(
            noised.noisy_latents, noised.timesteps, text, image_embeds=image_embeds,
            image_token_scale=torch.tensor([0.0, 1.0]),
        ).sample  # fmt: skip
        torch.testing.assert_close(scaled[0], dropped[0])
        torch.testing.assert_close(scaled[1], kept[1])
        assert not torch.allclose(kept[0], dropped[0])
        loss = eps_prediction_loss(unet, noised, text, image_embeds=image_embeds, image_token_scale=torch.ones(2))
        assert loss.item() == pytest.approx(F.mse_loss(kept, noised.noise).item(), rel=1e-5)  # float32, size ~1
    with pytest.raises(ValueError, match="image_token_scale: scales the style token, which needs image_embeds"):
        unet(noised.noisy_latents, noised.timesteps, text, image_token_scale=torch.ones(2))
    with pytest.raises(ValueError, match=r"image_token_scale: expected a \(2,\) tensor, got \(3,\)"):
        unet(noised.noisy_latents, noised.timesteps, text, image_embeds=image_embeds, image_token_scale=torch.ones(3))


def test_loss_is_the_mse_to_the_added_noise(make_tiny_components):
    unet = make_tiny_components()["unet"]
    g = torch.Generator().manual_seed(0)
    noised = NoisedLatents(torch.randn(1, 4, 2, 4, 4, generator=g), torch.tensor([500]), torch.randn(1, 4, 2, 4, 4))
    text = torch.randn(1, 16, 32, generator=g)
    with torch.no_grad():
        expected = F.mse_loss(unet(noised.noisy_latents, 500, text).sample, noised.noise)
        assert eps_prediction_loss(unet, noised, text).item() == pytest.approx(expected.item(), rel=1e-5)  # float32


def test_shards_of_the_global_batch_draw_what_the_whole_batch_draws(make_tiny_components):
    """Two processes with one clip each (same generator state) get the rows one process with both clips gets."""
    vae, scheduler = make_tiny_components()["vae"], training_scheduler()
    frames = torch.rand(2, 3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        whole_generator = torch.Generator().manual_seed(7)
        whole_latents = encode_video_latents(vae, frames, whole_generator)
        whole = add_training_noise(scheduler, whole_latents, whole_generator)
        for rank in (0, 1):
            shard, generator = BatchShard(rank, 1, 2), torch.Generator().manual_seed(7)
            latents = encode_video_latents(vae, frames[rank : rank + 1], generator, shard)
            torch.testing.assert_close(latents, whole_latents[rank : rank + 1], rtol=1e-5, atol=1e-6)
            noised = add_training_noise(scheduler, latents, generator, shard)
            assert torch.equal(noised.noise, whole.noise[rank : rank + 1])
            assert torch.equal(noised.timesteps, whole.timesteps[rank : rank + 1])
            assert torch.equal(generator.get_state(), whole_generator.get_state())  # in step on every process
    with pytest.raises(ValueError, match="shard: covers 1 samples, the batch has 2"):
        add_training_noise(scheduler, whole_latents, torch.Generator(), BatchShard(0, 1, 2))
    with pytest.raises(ValueError, match="BatchShard: rows 2:3 not in a batch of 2"):
        BatchShard(2, 1, 2)
