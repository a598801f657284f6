"""Bad input raises ValueError / TypeError naming the argument, before any model runs."""

import re

import numpy as np
import PIL.Image
import pytest
import torch

from pipelines import VideoComposerPipeline


def forbid_model_calls(pipe: VideoComposerPipeline) -> VideoComposerPipeline:
    def fail(module, args):
        raise AssertionError(f"{type(module).__name__} ran before the inputs were checked")

    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.register_forward_pre_hook(fail)
    return pipe


@pytest.fixture
def guarded(pipe):
    return forbid_model_calls(pipe)


def nan_at_start(tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.clone()
    tensor.view(-1)[0] = float("nan")
    return tensor


def depth(batch=1, frames=4, height=48, width=48) -> torch.Tensor:
    return torch.rand(batch, 1, frames, height, width)


TEXT = torch.randn(1, 16, 32)
CASES = {
    "height not divisible by 8": (dict(height=36), ValueError, "`height` and `width` have to be divisible by 8"),
    "width not divisible by 8": (dict(width=20), ValueError, "`height` and `width` have to be divisible by 8"),
    "no frames": (dict(num_frames=0), ValueError, "`num_frames` has to be a positive integer"),
    "no steps": (dict(num_inference_steps=0), ValueError, "`num_inference_steps` has to be a positive integer"),
    "more steps than timesteps": (
        dict(num_inference_steps=1000), ValueError, "`num_inference_steps` has to be at most 999 for this scheduler"
    ),
    "no videos": (dict(num_videos_per_prompt=0), ValueError, "`num_videos_per_prompt` has to be a positive integer"),
    "bad chunk": (dict(decode_chunk_size=0), ValueError, "`decode_chunk_size` has to be a positive integer"),
    "frame count": (dict(depth=depth(frames=3)), ValueError, "`depth` has 3 frames but `num_frames` is 4"),
    "not 5-D": (dict(depth=depth()[:, 0]), ValueError, re.escape("`depth` has to be 5-D (B, 1, F, H, W)")),
    "channels": (dict(sketch=torch.rand(1, 3, 4, 48, 48)), ValueError, "`sketch` has to have 1 channels"),
    "masked_video channels": (
        dict(masked_video=torch.rand(1, 4, 4, 48, 48), mask=torch.zeros(1, 1, 4, 48, 48)),
        ValueError,
        "`masked_video` has to have 3 channels",
    ),
    "aspect ratio": (dict(depth=depth(height=48, width=40)), ValueError, "`depth` is 48x40, whose aspect ratio"),
    "batch": (dict(depth=depth(batch=2)), ValueError, "`depth` has batch 2, which cannot broadcast to 1 prompts"),
    "mask alone": (dict(mask=torch.zeros(1, 1, 4, 48, 48)), ValueError, "`masked_video` and `mask` have to be given"),
    "masked_video alone": (
        dict(masked_video=torch.rand(1, 3, 4, 48, 48)),
        ValueError,
        "`masked_video` and `mask` have to be given together",
    ),
    "masked_video in [-1, 1]": (
        dict(masked_video=torch.rand(1, 3, 4, 48, 48) * 2 - 1, mask=torch.zeros(1, 1, 4, 48, 48)),
        ValueError,
        re.escape("`masked_video` has to be in [0, 1]"),
    ),
    "mask size": (
        dict(masked_video=torch.rand(1, 3, 4, 48, 48), mask=torch.zeros(1, 1, 4, 32, 32)),
        ValueError,
        "`mask` .* and `masked_video` .* have to share their frame size",
    ),
    "NaN condition": (dict(depth=nan_at_start(depth())), ValueError, "`depth` contains NaN or inf"),
    "integer condition": (
        dict(sketch=torch.ones(1, 1, 4, 48, 48, dtype=torch.uint8)),
        TypeError,
        "`sketch` must hold floating point values",
    ),
    "motion as PIL": (
        dict(motion_vectors=PIL.Image.new("RGB", (32, 32))),
        TypeError,
        "`motion_vectors` must be a torch.Tensor, a np.ndarray, got Image",
    ),
    "condition of a wrong type": (
        dict(depth=[1.0, 2.0]),
        TypeError,
        "`depth` must be a torch.Tensor, a np.ndarray or",
    ),
    "PIL frames of two sizes": (
        dict(sketch=[PIL.Image.new("L", (48, 48)), PIL.Image.new("L", (40, 40))]),
        ValueError,
        "`sketch`: all PIL images must have one size",
    ),
    "prompt and prompt_embeds": (dict(prompt_embeds=TEXT), ValueError, "Cannot forward both `prompt` and"),
    "neither prompt": (dict(prompt=None), ValueError, "Provide either `prompt` or `prompt_embeds`"),
    "prompt not a string": (dict(prompt=3), TypeError, "`prompt` has to be a string or a non-empty list of strings"),
    "prompt list with a number": (dict(prompt=["a cat", 3]), TypeError, "`prompt` has to be a string"),
    "negative_prompt list length": (
        dict(negative_prompt=["a", "b"]),
        ValueError,
        "`negative_prompt` as a list has to hold 1 strings",
    ),
    "negative_prompt_embeds shape": (
        dict(prompt=None, prompt_embeds=TEXT, negative_prompt_embeds=torch.randn(1, 12, 32)),
        ValueError,
        "`negative_prompt_embeds` has to be given with `prompt_embeds` and have its shape",
    ),
    "prompt_embeds width": (
        dict(prompt=None, prompt_embeds=torch.randn(1, 16, 24)),
        ValueError,
        re.escape("`prompt_embeds` has to be a tensor (B, L, 32)"),
    ),
    "inf in prompt_embeds": (
        dict(prompt=None, prompt_embeds=TEXT.clone().fill_(float("inf"))),
        ValueError,
        "`prompt_embeds` contains NaN or inf",
    ),
    "image_embeds width": (
        dict(image_embeds=torch.randn(1, 8)),
        ValueError,
        re.escape("`image_embeds` has to be a tensor (1 or 1, 16)"),
    ),
    "NaN in image_embeds": (
        dict(image_embeds=nan_at_start(torch.randn(1, 16))),
        ValueError,
        "`image_embeds` contains NaN or inf",
    ),
    "style_image and image_embeds": (
        dict(style_image=PIL.Image.new("RGB", (32, 32)), image_embeds=torch.randn(1, 16)),
        ValueError,
        "Cannot forward both `style_image` and `image_embeds`",
    ),
    "style_image not an image": (dict(style_image=np.zeros((32, 32, 3))), TypeError, "`style_image` has to be a PIL"),
    "latents shape": (
        dict(latents=torch.randn(1, 4, 4, 8, 8)),
        ValueError,
        re.escape("`latents` has to have shape (1, 4, 4, 4, 4)"),
    ),
    "NaN latents": (dict(latents=nan_at_start(torch.randn(1, 4, 4, 4, 4))), ValueError, "`latents` contains NaN"),
    "generator list length": (
        dict(generator=[torch.Generator(), torch.Generator()]),
        ValueError,
        "`generator` as a list has to hold 1 generators",
    ),
    "condition_scale key": (
        dict(condition_scale={"motion_vectors": 0.5}),
        ValueError,
        "`condition_scale` as a dict maps STC condition names",
    ),
    "condition_scale type": (dict(condition_scale="high"), TypeError, "`condition_scale` has to be a float or a dict"),
    "guidance NaN": (dict(guidance_scale=float("nan")), ValueError, "`guidance_scale` has to be a finite number"),
    "guidance inf": (dict(guidance_scale=float("inf")), ValueError, "`guidance_scale` has to be a finite number"),
    "generator an int": (dict(generator=0), TypeError, "`generator` has to be a torch.Generator or a list of them"),
    "generator list of ints": (dict(generator=[0]), TypeError, "`generator` has to be a torch.Generator"),
    "unknown condition": (
        dict(conditions={"not_registered": depth()}),
        ValueError,
        "unknown condition 'not_registered'; known condition inputs: ",
    ),
    "condition given twice": (
        dict(depth=depth(), conditions={"depth": depth()}),
        ValueError,
        re.escape("`conditions` and the keyword arguments both give ['depth']"),
    ),
    "motion at another size than the video": (
        dict(motion_vectors=torch.zeros(1, 2, 4, 64, 64)),
        ValueError,
        "`motion_vectors` is 64x64 but the video is 32x32: its values are pixel displacements",
    ),
    "sketch in 0..255": (
        dict(sketch=torch.full((1, 1, 4, 48, 48), 255.0)),
        ValueError,
        re.escape("`sketch` has to be in [0, 1], got values in [255, 255]"),
    ),
    "output_type": (dict(output_type="mp4"), ValueError, "`output_type` has to be one of"),
    "callback tensor name": (
        dict(callback_on_step_end_tensor_inputs=["noise_pred"]),
        ValueError,
        "`callback_on_step_end_tensor_inputs` has to be in",
    ),
}


@pytest.mark.parametrize("overrides,error,message", list(CASES.values()), ids=list(CASES))
def test_bad_input_raises_before_any_model_runs(guarded, call_kwargs, overrides, error, message):
    kwargs = call_kwargs() | {"prompt": "a cat"} | overrides
    with pytest.raises(error, match=message):
        guarded(**kwargs)


def test_condition_the_stc_encoder_was_not_built_with(make_tiny_components, call_kwargs):
    pipe = forbid_model_calls(VideoComposerPipeline(**make_tiny_components(conditions={"depth": 1})))
    motion = torch.zeros(1, 2, 4, 32, 32)
    with pytest.raises(
        ValueError, match="`motion_vectors`: the stc_encoder was not built with the 'motion' condition"
    ):
        pipe("a cat", motion_vectors=motion, **call_kwargs())


def test_style_image_without_an_image_encoder(make_tiny_components, call_kwargs):
    pipe = forbid_model_calls(VideoComposerPipeline(**make_tiny_components(image_encoder=False)))
    with pytest.raises(ValueError, match="`style_image` needs the pipeline's `image_encoder`"):
        pipe("a cat", style_image=PIL.Image.new("RGB", (32, 32)), **call_kwargs())


def test_image_embeds_without_a_style_token(make_tiny_components, call_kwargs):
    pipe = forbid_model_calls(VideoComposerPipeline(**make_tiny_components(image_encoder=False, image_embed_dim=None)))
    with pytest.raises(ValueError, match="`style_image` / `image_embeds` need a unet built with `image_embed_dim`"):
        pipe("a cat", image_embeds=torch.randn(1, 16), **call_kwargs())


def test_the_guard_catches_a_model_that_runs(guarded, call_kwargs):
    with pytest.raises(AssertionError, match="ran before the inputs were checked"):
        guarded("a cat", **call_kwargs())


def test_check_inputs_takes_keywords_only(pipe):
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        pipe.check_inputs("a cat", None, {}, None, 4, 32, 32)


def test_truncation_warning_does_not_echo_a_long_prompt(pipe, call_kwargs, caplog):
    from diffusers.utils import logging as diffusers_logging

    prompt = "cat " * 3000
    diffusers_logging.enable_propagation()
    try:
        pipe(prompt, **call_kwargs(num_inference_steps=1))
    finally:
        diffusers_logging.disable_propagation()
    warning = next(r.getMessage() for r in caplog.records if "truncated" in r.getMessage())
    assert "(12000 characters)" in warning and len(warning) < 400
