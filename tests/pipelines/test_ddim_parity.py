"""The pipeline computes what the original sampler computes: a DDIM loop written out here from the formulas.

Original (artist/ops/diffusion.py, inference_single.py): betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2,
timesteps 981, 961, ..., 1 for 50 steps, alpha_prev = alphas_cumprod[max(t - 20, 0)], eps prediction, eta 0, no
clipping; guidance u + s * (c - u) with two separate model calls, the unconditional one with the "" embedding (or the
negative prompt) and a zero style embedding, every STC condition identical in both.
"""

import pytest
import torch
from diffusers.callbacks import SDCFGCutoffCallback

NUM_STEPS = 50


def original_alphas_cumprod() -> torch.Tensor:
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def original_timesteps(num_steps: int) -> list[int]:
    stride = 1000 // num_steps
    return [1 + i * stride for i in reversed(range(num_steps))]


def ddim_reference(unet, latents, text, uncond, condition_latents, image_embeds, guidance_scale, num_steps):
    """x0 = (x - sqrt(1 - a) eps) / sqrt(a);  x <- sqrt(a_prev) x0 + sqrt(1 - a_prev) eps   (eta = 0).

    `guidance_scale` is one float, or a list with the scale of every step."""
    alphas_cumprod = original_alphas_cumprod()
    stride = 1000 // num_steps
    scales = guidance_scale if isinstance(guidance_scale, list) else [guidance_scale] * num_steps
    x = latents
    for t, guidance_scale in zip(original_timesteps(num_steps), scales, strict=True):
        eps = unet(x, t, text, condition_latents=condition_latents, image_embeds=image_embeds).sample
        if guidance_scale > 1.0:
            zero_style = None if image_embeds is None else torch.zeros_like(image_embeds)
            eps_uncond = unet(x, t, uncond, condition_latents=condition_latents, image_embeds=zero_style).sample
            eps = eps_uncond + guidance_scale * (eps - eps_uncond)
        a = alphas_cumprod[t].item()
        a_prev = alphas_cumprod[max(t - stride, 0)].item()
        x0 = (x - (1 - a) ** 0.5 * eps) / a**0.5
        x = a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps
    return x


def assert_latents_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def random_inputs(pipe, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    width = pipe.unet.config.cross_attention_dim
    return (
        torch.randn(batch, 4, 4, 4, 4, generator=g),
        torch.randn(batch, 16, width, generator=g),
        torch.randn(batch, 16, width, generator=g),
        torch.randn(batch, pipe.unet.config.image_embed_dim, generator=g),
    )


def test_default_scheduler_has_the_original_timesteps(pipe):
    pipe.scheduler.set_timesteps(NUM_STEPS)
    assert pipe.scheduler.timesteps.tolist() == original_timesteps(NUM_STEPS)
    assert original_timesteps(NUM_STEPS)[:2] == [981, 961] and original_timesteps(NUM_STEPS)[-1] == 1
    # float32 cumprod of 1000 factors: ~1e-6 relative here; every value >= 0.0047, none near 0 (no atol needed)
    torch.testing.assert_close(pipe.scheduler.alphas_cumprod.double(), original_alphas_cumprod(), rtol=1e-5, atol=0)
    assert pipe.scheduler.final_alpha_cumprod.item() == pipe.scheduler.alphas_cumprod[0].item()


@torch.no_grad()
def test_latents_equal_the_written_out_ddim_loop_with_all_conditions_and_style(pipe, conditions, call_kwargs):
    latents, text, uncond, style = random_inputs(pipe, batch=2)
    out = pipe(
        prompt_embeds=text,
        negative_prompt_embeds=uncond,
        image_embeds=style,
        latents=latents,
        **conditions,
        **call_kwargs(num_inference_steps=NUM_STEPS, generator=None),
    ).frames

    condition_latents = all_condition_latents(pipe, conditions, batch=2)
    expected = ddim_reference(pipe.unet, latents, text, uncond, condition_latents, style, 9.0, NUM_STEPS)
    assert_latents_close(out, expected)


@torch.no_grad()
def test_absent_conditions_equal_zero_condition_latents_and_uncond_is_the_empty_prompt(pipe, call_kwargs):
    latents, *_ = random_inputs(pipe, batch=1)
    out = pipe("a red cat", latents=latents, **call_kwargs(num_inference_steps=10, generator=None)).frames

    def encode(text: str) -> torch.Tensor:
        ids = pipe.tokenizer(text, padding="max_length", max_length=16, truncation=True, return_tensors="pt")
        return pipe.text_encoder(ids.input_ids).last_hidden_state

    zeros = torch.zeros(1, 8, 4, 4, 4)
    expected = ddim_reference(pipe.unet, latents, encode("a red cat"), encode(""), zeros, None, 9.0, 10)
    assert_latents_close(out, expected)


@torch.no_grad()
def test_guidance_scale_one_runs_only_the_conditional_branch(pipe, conditions, call_kwargs):
    latents, text, _, style = random_inputs(pipe, batch=1)
    depth = conditions["depth"]
    out = pipe(
        prompt_embeds=text,
        image_embeds=style,
        depth=depth,
        latents=latents,
        guidance_scale=1.0,
        **call_kwargs(num_inference_steps=10, generator=None),
    ).frames
    condition_latents = pipe.stc_encoder({"depth": depth}, latent_size=(4, 4)).sample
    expected = ddim_reference(pipe.unet, latents, text, None, condition_latents, style, 1.0, 10)
    assert_latents_close(out, expected)


def all_condition_latents(pipe, conditions, batch: int) -> torch.Tensor:
    mask, video = conditions["mask"], conditions["masked_video"]
    stc_inputs = {
        "motion": conditions["motion_vectors"],
        "depth": conditions["depth"],
        "sketch": conditions["sketch"],
        "single_sketch": conditions["single_sketch"],
        "masked": torch.cat([(2 * video - 1) * (1 - mask), 1 - mask], dim=1),
        "local_image": conditions["image"],
    }
    return pipe.stc_encoder({k: x.expand(batch, -1, -1, -1, -1) for k, x in stc_inputs.items()}, latent_size=(4, 4)).sample


@pytest.mark.parametrize("cutoff", [0, 3])
@torch.no_grad()
def test_cfg_cutoff_callback_continues_without_guidance_with_conditions_and_style(
    pipe, conditions, call_kwargs, cutoff
):
    """diffusers' SDCFGCutoffCallback sets `_guidance_scale` to 0 and keeps the conditional `prompt_embeds` after step
    `cutoff`; the doubled condition latents and style embeddings must follow (they used to stay doubled and crash)."""
    latents, text, uncond, style = random_inputs(pipe, batch=1)
    out = pipe(
        prompt_embeds=text,
        negative_prompt_embeds=uncond,
        image_embeds=style,
        latents=latents,
        **conditions,
        callback_on_step_end=SDCFGCutoffCallback(cutoff_step_ratio=None, cutoff_step_index=cutoff),
        callback_on_step_end_tensor_inputs=["prompt_embeds"],
        **call_kwargs(num_inference_steps=6, generator=None),
    ).frames
    assert pipe.guidance_scale == 0.0 and not pipe.do_classifier_free_guidance
    scales = [9.0] * (cutoff + 1) + [0.0] * (5 - cutoff)  # the callback runs after step `cutoff`
    condition_latents = all_condition_latents(pipe, conditions, batch=1)
    expected = ddim_reference(pipe.unet, latents, text, uncond, condition_latents, style, scales, 6)
    assert_latents_close(out, expected)
    always = ddim_reference(pipe.unet, latents, text, uncond, condition_latents, style, 9.0, 6)
    assert (out - always).abs().max() > 1e-4


@torch.no_grad()
def test_guidance_scale_is_read_at_every_step(pipe, conditions, call_kwargs):
    latents, text, uncond, style = random_inputs(pipe, batch=2)

    def raise_guidance(pipeline, step, timestep, callback_kwargs):
        pipeline._guidance_scale += 1.0
        return callback_kwargs

    out = pipe(
        prompt_embeds=text,
        negative_prompt_embeds=uncond,
        image_embeds=style,
        latents=latents,
        depth=conditions["depth"],
        guidance_scale=2.0,
        callback_on_step_end=raise_guidance,
        **call_kwargs(num_inference_steps=4, generator=None),
    ).frames
    assert pipe.guidance_scale == 2.0 + pipe.num_timesteps
    condition_latents = pipe.stc_encoder({"depth": conditions["depth"].expand(2, -1, -1, -1, -1)}, latent_size=(4, 4)).sample
    expected = ddim_reference(pipe.unet, latents, text, uncond, condition_latents, style, [2.0, 3.0, 4.0, 5.0], 4)
    assert_latents_close(out, expected)


def test_guidance_switched_on_by_a_callback_without_negative_embeddings_is_a_clear_error(pipe, call_kwargs):
    def switch_on(pipeline, step, timestep, callback_kwargs):
        pipeline._guidance_scale = 5.0
        return callback_kwargs

    with pytest.raises(ValueError, match="needs `negative_prompt_embeds`.*switched on by a callback"):
        pipe("a cat", guidance_scale=1.0, callback_on_step_end=switch_on, **call_kwargs(num_inference_steps=3))
