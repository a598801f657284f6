"""The adversarial temporal loss: loss formulas, the x0 estimate, the discriminator step (R1 included), masking by
timestep, the start step, and argument checks. (Bit-exact resume after SIGKILL: test_kill_and_resume.py.)"""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from videocomposer.models.temporal_discriminator import TemporalDiscriminator
from videocomposer.training.adversarial import (
    TemporalAdversary,
    discriminator_loss,
    generator_loss,
    predicted_clean_latents,
)
from videocomposer.training.arguments import parse_args
from videocomposer.training.objective import add_training_noise, training_scheduler


def test_loss_formulas():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 3.0])
    assert discriminator_loss("hinge", real, fake).tolist() == [0.0, 1.5, 6.0]
    assert generator_loss("hinge", fake).tolist() == [2.0, -0.0, -3.0]
    expected = torch.log1p(torch.exp(-real)) + torch.log1p(torch.exp(fake))
    torch.testing.assert_close(discriminator_loss("non_saturating", real, fake), expected)
    torch.testing.assert_close(generator_loss("non_saturating", fake), torch.log1p(torch.exp(-fake)))
    with pytest.raises(ValueError, match="kind: expected one of"):
        generator_loss("wasserstein", fake)


def test_the_x0_estimate_inverts_the_forward_noise():
    scheduler = training_scheduler()
    latents = torch.randn(3, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    noised = add_training_noise(scheduler, latents, torch.Generator().manual_seed(1))
    torch.testing.assert_close(predicted_clean_latents(scheduler, noised, noised.noise), latents, rtol=0, atol=2e-4)
    wrong = predicted_clean_latents(scheduler, noised, torch.zeros_like(noised.noise))
    abar = scheduler.alphas_cumprod[noised.timesteps].view(-1, 1, 1, 1, 1)
    torch.testing.assert_close(wrong, noised.noisy_latents / abar.sqrt())


def make_adversary(**overrides) -> TemporalAdversary:
    torch.manual_seed(0)
    discriminator = TemporalDiscriminator(block_out_channels=(8, 16), fusion_resolution=2)
    options = dict(loss="hinge", weight=0.5, start_step=2, r1_gamma=0.3, learning_rate=1e-3, max_timestep=600)
    return TemporalAdversary(discriminator, **{**options, **overrides})


def batch(timesteps: list[int]):
    generator = torch.Generator().manual_seed(3)
    latents = torch.randn(len(timesteps), 4, 3, 4, 4, generator=generator)
    noisy = torch.randn(latents.shape, generator=generator)
    noise_prediction = torch.randn(latents.shape, generator=generator, requires_grad=True)
    noised = SimpleNamespace(noisy_latents=noisy, timesteps=torch.tensor(timesteps), noise=None)
    return latents, noised, noise_prediction


def test_generator_term_masks_timesteps_starts_late_and_leaves_the_discriminator_without_gradients():
    adversary = make_adversary()
    scheduler = training_scheduler()
    latents, noised, prediction = batch([100, 900, 599])
    assert adversary.generator_term(scheduler, noised, prediction, latents, global_step=1).item() == 0.0

    term = adversary.generator_term(scheduler, noised, prediction, latents, global_step=2)
    fake = predicted_clean_latents(scheduler, noised, prediction)
    with torch.no_grad():
        logits = adversary.discriminator(fake)
    expected = 0.5 * (-logits[0] - logits[2]) / 2  # sample 1 (t = 900 >= 600) is left out
    torch.testing.assert_close(term.detach(), expected)
    term.backward()
    assert prediction.grad[1].abs().max() == 0 and prediction.grad[0].abs().max() > 0
    assert all(p.grad is None for p in adversary.discriminator.parameters())


def test_discriminator_step_equals_hinge_plus_r1_and_updates_the_weights():
    adversary = make_adversary()
    reference = copy.deepcopy(adversary.discriminator)
    scheduler = training_scheduler()
    latents, noised, prediction = batch([10, 20, 999])
    adversary.generator_term(scheduler, noised, prediction, latents, global_step=0)
    loss = adversary.discriminator_step(SimpleNamespace(num_processes=1))

    real = latents[:2].clone().requires_grad_(True)
    fake = predicted_clean_latents(scheduler, noised, prediction).detach()[:2]
    real_logits = reference(real)
    (gradient,) = torch.autograd.grad(real_logits.sum(), real)
    expected = (F.relu(1 - real_logits) + F.relu(1 + reference(fake))).mean()
    penalty = 0.3 / 2 * gradient.pow(2).flatten(1).sum(1).mean()
    assert loss["discriminator"] == pytest.approx(expected.item(), rel=1e-5, abs=1e-7)
    assert loss["r1"] == pytest.approx(penalty.item(), rel=1e-5, abs=1e-9) and loss["r1"] > 0
    pairs = zip(adversary.discriminator.parameters(), reference.parameters())
    assert all(not torch.equal(a, b) for a, b in pairs if a.ndim > 1)  # every weight (a bias's hinge terms may cancel)
    with pytest.raises(RuntimeError, match="call generator_term first"):
        adversary.discriminator_step(SimpleNamespace(num_processes=1))


def test_bad_adversary_settings_are_refused():
    with pytest.raises(ValueError, match="--adversarial_loss"):
        make_adversary(loss="wgan")
    with pytest.raises(ValueError, match="--adversarial_weight"):
        make_adversary(weight=0.0)


def test_adversarial_arguments_are_checked(tmp_path):
    base = ["--pretrained_model_name_or_path", "m", "--train_data_dir", str(tmp_path), "--captions_file", "c.csv",
            "--stage", "t2v"]  # fmt: skip
    args = parse_args(base)
    assert args.adversarial_weight == 0.0 and args.adversarial_loss == "hinge"
    with pytest.raises(ValueError, match="--adversarial_weight"):
        parse_args([*base, "--adversarial_weight", "-1"])
    with pytest.raises(ValueError, match="--adversarial_max_timestep"):
        parse_args([*base, "--adversarial_max_timestep", "0"])
    with pytest.raises(SystemExit):
        parse_args([*base, "--adversarial_loss", "wgan"])
    with pytest.raises(
        ValueError, match="--r1_gamma, --adversarial_max_timestep: only used with --adversarial_weight"
    ):
        parse_args([*base, "--r1_gamma", "1", "--adversarial_max_timestep", "300"])
    with pytest.raises(ValueError, match="--lowrank_anchor_spacing: only used with --trainable lowrank_temporal"):
        parse_args([*base, "--lowrank_anchor_spacing", "2"])
    assert parse_args([*base, "--adversarial_weight", "0.1", "--r1_gamma", "1"]).r1_gamma == 1.0
