"""Behaviour of VideoComposerPipeline with tiny offline components."""

import io

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

import videocomposer
from pipelines import VideoComposerPipeline, VideoComposerPipelineOutput
from videocomposer.conditions import BUILT_IN_CONDITIONS

LATENT_SHAPE = (1, 4, 4, 4, 4)


def test_pipeline_is_exported_from_both_packages():
    assert videocomposer.VideoComposerPipeline is VideoComposerPipeline
    assert videocomposer.VideoComposerPipelineOutput is VideoComposerPipelineOutput


def test_save_pretrained_from_pretrained_round_trip_gives_identical_frames(pipe, conditions, call_kwargs, tmp_path):
    before = pipe("a cat", depth=conditions["depth"], **call_kwargs(output_type="np")).frames
    pipe.save_pretrained(tmp_path)
    loaded = VideoComposerPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    after = loaded("a cat", depth=conditions["depth"], **call_kwargs(output_type="np")).frames
    assert sorted(loaded.components) == sorted(pipe.components)
    assert loaded.stc_encoder.conditions == pipe.stc_encoder.conditions
    public = lambda config: {k: v for k, v in config.items() if not k.startswith("_")}  # noqa: E731
    assert public(loaded.scheduler.config) == public(pipe.scheduler.config)
    np.testing.assert_array_equal(after, before)  # exact: same kernels, same shapes, one process


def test_same_seed_gives_same_video_and_another_seed_another(pipe, call_kwargs):
    first = pipe("a cat", **call_kwargs(seed=0)).frames
    again = pipe("a cat", **call_kwargs(seed=0)).frames
    other = pipe("a cat", **call_kwargs(seed=1)).frames
    torch.testing.assert_close(again, first, rtol=0, atol=0)  # exact: same kernels, same shapes, one process
    assert (other - first).abs().max() > 1e-3


@pytest.mark.parametrize("name", [next(iter(spec.inputs)) for spec in BUILT_IN_CONDITIONS if spec.name != "canny"])
def test_each_condition_alone_changes_the_output(pipe, conditions, call_kwargs, name):
    given = {name: conditions[name]} | ({"mask": conditions["mask"]} if name == "masked_video" else {})
    plain = pipe("a cat", **call_kwargs()).frames
    steered = pipe("a cat", **given, **call_kwargs()).frames
    assert steered.shape == plain.shape == LATENT_SHAPE
    assert torch.isfinite(steered).all()
    assert (steered - plain).abs().max() > 1e-3


def test_all_conditions_together_differ_from_each_alone(pipe, conditions, call_kwargs):
    together = pipe("a cat", **conditions, style_image=PIL.Image.new("RGB", (40, 40), "red"), **call_kwargs())
    video = pipe(
        "a cat", **conditions, style_image=PIL.Image.new("RGB", (40, 40), "red"), **call_kwargs(output_type="np")
    )
    assert together.frames.shape == LATENT_SHAPE
    assert video.frames.shape == (1, 4, 32, 32, 3)
    alone = pipe("a cat", depth=conditions["depth"], **call_kwargs()).frames
    assert (together.frames - alone).abs().max() > 1e-3


def test_absent_condition_equals_condition_scaled_to_zero(pipe, conditions, call_kwargs):
    absent = pipe("a cat", depth=conditions["depth"], **call_kwargs()).frames
    zeroed = pipe(
        "a cat",
        depth=conditions["depth"],
        sketch=conditions["sketch"],
        condition_scale={"sketch": 0.0},
        **call_kwargs(),
    ).frames
    half = pipe(
        "a cat",
        depth=conditions["depth"],
        sketch=conditions["sketch"],
        condition_scale={"sketch": 0.5},
        **call_kwargs(),
    ).frames
    torch.testing.assert_close(zeroed, absent)
    assert (half - absent).abs().max() > 1e-3
    nothing = pipe("a cat", **call_kwargs()).frames
    all_zero = pipe("a cat", depth=conditions["depth"], condition_scale=0.0, **call_kwargs()).frames
    torch.testing.assert_close(all_zero, nothing)


def test_masked_video_and_mask_become_the_original_four_channel_input(pipe, conditions):
    video, mask = conditions["masked_video"], conditions["mask"]
    stc_inputs = pipe.prepare_conditions({"masked_video": video, "mask": mask}, 2, torch.device("cpu"))
    assert list(stc_inputs) == ["masked"]
    masked = stc_inputs["masked"]
    assert masked.shape == (2, 4, 4, 48, 48)
    hole = mask[0, 0].bool()  # (F, H, W)
    assert (masked[:, :3][:, :, hole] == 0).all() and (masked[:, 3][:, hole] == 0).all()
    torch.testing.assert_close(masked[:, :3][:, :, ~hole], (2 * video[0][:, ~hole] - 1).expand(2, -1, -1))
    assert (masked[:, 3][:, ~hole] == 1).all()


def test_two_prompts_times_two_videos_equal_the_four_single_runs(pipe, make_conditions, call_kwargs):
    conditions = make_conditions(batch=2)
    depth, motion = conditions["depth"], conditions["motion_vectors"][:1]  # per-prompt depth, shared motion
    generators = [torch.Generator().manual_seed(s) for s in range(4)]
    batched = pipe(
        ["a cat", "a red dog"], depth=depth, motion_vectors=motion, num_videos_per_prompt=2,
        **call_kwargs(generator=generators),
    ).frames  # fmt: skip
    assert batched.shape == (4, 4, 4, 4, 4)
    for index, (prompt, row) in enumerate([("a cat", 0), ("a cat", 0), ("a red dog", 1), ("a red dog", 1)]):
        single = pipe(prompt, depth=depth[row : row + 1], motion_vectors=motion, **call_kwargs(seed=index)).frames
        torch.testing.assert_close(batched[index : index + 1], single, rtol=1e-4, atol=1e-4)


def test_dict_and_tuple_outputs_are_the_same(pipe, call_kwargs):
    as_dict = pipe("a cat", **call_kwargs())
    as_tuple = pipe("a cat", return_dict=False, **call_kwargs())
    assert isinstance(as_dict, VideoComposerPipelineOutput) and isinstance(as_tuple, tuple) and len(as_tuple) == 1
    torch.testing.assert_close(as_tuple[0], as_dict.frames, rtol=0, atol=0)
    torch.testing.assert_close(as_dict["frames"], as_dict.frames, rtol=0, atol=0)


def test_output_types_np_pt_pil_latent_hold_the_same_video(pipe, call_kwargs):
    latents = pipe("a cat", **call_kwargs(output_type="latent")).frames
    as_np = pipe("a cat", **call_kwargs(output_type="np")).frames
    as_pt = pipe("a cat", **call_kwargs(output_type="pt")).frames
    as_pil = pipe("a cat", **call_kwargs(output_type="pil")).frames
    assert latents.shape == LATENT_SHAPE
    assert isinstance(as_np, np.ndarray) and as_np.shape == (1, 4, 32, 32, 3)
    assert 0.0 <= as_np.min() and as_np.max() <= 1.0 and as_np.std() > 0
    assert isinstance(as_pt, torch.Tensor) and as_pt.shape == (1, 4, 3, 32, 32)
    np.testing.assert_allclose(as_pt.permute(0, 1, 3, 4, 2).numpy(), as_np, atol=1e-6)
    assert len(as_pil) == 1 and len(as_pil[0]) == 4 and as_pil[0][0].size == (32, 32)
    np.testing.assert_allclose(np.asarray(as_pil[0][2]) / 255.0, as_np[0, 2], atol=1 / 255 + 1e-6)
    with torch.no_grad():
        decoded = pipe.video_processor.postprocess_video(pipe.decode_latents(latents, None), output_type="np")
    np.testing.assert_allclose(decoded, as_np, atol=1e-6)


def test_decoding_in_frame_chunks_equals_decoding_at_once(pipe, call_kwargs):
    latents = pipe("a cat", **call_kwargs()).frames
    calls = []
    pipe.vae.decoder.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    with torch.no_grad():
        whole = pipe.decode_latents(latents, None)
        chunked = pipe.decode_latents(latents, 3)
    assert calls == [4, 3, 1]
    assert whole.shape == (1, 3, 4, 32, 32)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)


def test_callback_sees_every_step_and_can_replace_latents(pipe, call_kwargs):
    seen = []

    def record(pipeline, step, timestep, tensors):
        seen.append((step, int(timestep), tensors["latents"].shape, tensors["prompt_embeds"].shape))
        return {}

    pipe("a cat", callback_on_step_end=record, callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"],
         **call_kwargs(num_inference_steps=3))  # fmt: skip
    assert seen == [(0, 667, LATENT_SHAPE, (1, 16, 32)), (1, 334, LATENT_SHAPE, (1, 16, 32)),
                    (2, 1, LATENT_SHAPE, (1, 16, 32))]  # fmt: skip

    def zero_at_last_step(pipeline, step, timestep, tensors):
        return {"latents": torch.zeros_like(tensors["latents"])} if step == pipeline.num_timesteps - 1 else {}

    out = pipe("a cat", callback_on_step_end=zero_at_last_step, **call_kwargs(num_inference_steps=3)).frames
    assert (out == 0).all()


@pytest.mark.parametrize("scheduler_class", [DPMSolverMultistepScheduler, EulerDiscreteScheduler])
def test_scheduler_swap_keeps_the_original_noise_schedule_and_runs(pipe, call_kwargs, scheduler_class):
    ddim = pipe("a cat", **call_kwargs(num_inference_steps=4)).frames
    pipe.scheduler = scheduler_class.from_config(pipe.scheduler.config)
    torch.testing.assert_close(
        pipe.scheduler.alphas_cumprod, DDIMScheduler.from_config(pipe.scheduler.config).alphas_cumprod
    )
    out = pipe("a cat", **call_kwargs(num_inference_steps=4)).frames
    again = pipe("a cat", **call_kwargs(num_inference_steps=4)).frames
    assert out.shape == LATENT_SHAPE and torch.isfinite(out).all()
    torch.testing.assert_close(again, out, rtol=0, atol=0)  # exact: same kernels, same shapes, one process
    assert (out - ddim).abs().max() > 1e-3
    assert pipe.num_timesteps == 4


def test_style_image_is_encoded_into_the_style_token(pipe, call_kwargs):
    style = PIL.Image.new("RGB", (40, 40), (200, 30, 30))
    plain = pipe("a cat", **call_kwargs()).frames
    styled = pipe("a cat", style_image=style, **call_kwargs()).frames
    embeds = pipe.encode_image(style, torch.device("cpu"))
    precomputed = pipe("a cat", image_embeds=embeds, **call_kwargs()).frames
    assert embeds.shape == (1, pipe.unet.config.image_embed_dim)
    assert (styled - plain).abs().max() > 1e-3
    torch.testing.assert_close(precomputed, styled, rtol=0, atol=0)  # exact: same kernels, same shapes, one process


def test_pil_and_numpy_conditions_equal_their_tensor_form(pipe, call_kwargs):
    rng = np.random.default_rng(0)
    sketch_frames = [(rng.random((48, 48)) > 0.8).astype(np.uint8) * 255 for _ in range(4)]
    sketch_pil = [PIL.Image.fromarray(frame) for frame in sketch_frames]
    sketch_tensor = torch.from_numpy(np.stack(sketch_frames) / 255.0).float()[None, None]
    image = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    image_tensor = torch.from_numpy(image / 255.0).float().permute(2, 0, 1)[None, :, None].expand(-1, -1, 4, -1, -1)
    depth = PIL.Image.fromarray(np.full((48, 48), 51, dtype=np.uint8))

    from_pil = pipe("a cat", sketch=sketch_pil, image=PIL.Image.fromarray(image), **call_kwargs()).frames
    from_tensor = pipe("a cat", sketch=sketch_tensor, image=image_tensor, **call_kwargs()).frames
    from_numpy = pipe("a cat", sketch=sketch_tensor.numpy(), image=image_tensor.numpy(), **call_kwargs()).frames
    torch.testing.assert_close(from_pil, from_tensor, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(from_numpy, from_tensor, rtol=1e-5, atol=1e-5)
    depth_tensor = VideoComposerPipeline.condition_to_tensor("depth", [depth] * 4, 4)
    assert depth_tensor.shape == (1, 1, 4, 48, 48)
    torch.testing.assert_close(depth_tensor, torch.full((1, 1, 4, 48, 48), 2.0))  # 51 / 255 * 10


def test_conditions_are_not_resized_and_any_size_with_the_video_aspect_works(pipe, conditions, call_kwargs):
    captured = {}
    pipe.stc_encoder.register_forward_pre_hook(lambda module, args, kwargs: captured.update(args[0]), with_kwargs=True)
    motion = conditions["motion_vectors"]
    depth = torch.rand(1, 1, 4, 40, 40) * 10
    pipe("a cat", motion_vectors=motion, depth=depth, **call_kwargs())
    assert captured["motion"].shape == (1, 2, 4, 32, 32) and captured["depth"].shape == (1, 1, 4, 40, 40)
    torch.testing.assert_close(captured["motion"], motion, rtol=0, atol=0)
    wide = pipe("a cat", depth=torch.rand(1, 1, 4, 24, 48), **call_kwargs(height=16, width=32)).frames
    assert wide.shape == (1, 4, 4, 2, 4)


def test_stc_encoder_runs_once_before_the_loop(pipe, conditions, call_kwargs):
    stc_calls, unet_calls = [], []
    pipe.stc_encoder.register_forward_pre_hook(lambda *args: stc_calls.append(len(unet_calls)))
    pipe.unet.register_forward_pre_hook(lambda module, args: unet_calls.append(args[0].shape[0]))
    pipe("a cat", depth=conditions["depth"], **call_kwargs(num_inference_steps=3))
    assert stc_calls == [0]
    assert unet_calls == [2, 2, 2]  # both guidance branches in one batched call per step


def test_model_cpu_offload_sequence_names_every_model(pipe):
    names = pipe.model_cpu_offload_seq.split("->")
    models = [name for name, component in pipe.components.items() if isinstance(component, torch.nn.Module)]
    assert sorted(names) == sorted(models)
    assert names.index("stc_encoder") < names.index("unet") < names.index("vae")


def test_model_cpu_offload_hooks_every_model_and_keeps_the_result(pipe, conditions, call_kwargs):
    kwargs = dict(depth=conditions["depth"], style_image=PIL.Image.new("RGB", (40, 40), "red"))
    expected = pipe("a cat", **kwargs, **call_kwargs()).frames
    pipe.enable_model_cpu_offload(device="cpu")  # the hooks' logic without an accelerator
    assert len(pipe._all_hooks) == len(pipe.model_cpu_offload_seq.split("->"))
    for _ in range(2):  # hooks are re-armed after each call
        # exact: same kernels, same shapes, one process
        torch.testing.assert_close(pipe("a cat", **kwargs, **call_kwargs()).frames, expected, rtol=0, atol=0)


def test_progress_bar_counts_the_denoising_steps(pipe, call_kwargs):
    stream = io.StringIO()
    pipe.set_progress_bar_config(disable=False, file=stream)
    pipe("a cat", **call_kwargs(num_inference_steps=3))
    assert "3/3" in stream.getvalue()


def test_negative_prompt_replaces_the_empty_prompt_in_the_unconditional_branch(pipe, call_kwargs):
    default = pipe("a cat", **call_kwargs()).frames
    negative = pipe("a cat", negative_prompt="snow", **call_kwargs()).frames
    embeds, negative_embeds = pipe.encode_prompt("a cat", torch.device("cpu"), 1, True, negative_prompt="snow")
    from_embeds = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative_embeds, **call_kwargs()).frames
    assert (negative - default).abs().max() > 1e-3
    torch.testing.assert_close(from_embeds, negative, rtol=1e-5, atol=1e-5)


def test_prompts_longer_than_the_context_are_truncated_with_a_warning(pipe, call_kwargs, caplog):
    long_prompt = " ".join(["a red cat"] * 8)  # 24 words > 16 tokens
    with caplog.at_level("WARNING"):
        out = pipe(long_prompt, **call_kwargs()).frames
    assert "truncated" in caplog.text and "''" not in caplog.text  # only the long prompt, not the empty negative
    assert out.shape == LATENT_SHAPE


def test_one_style_image_per_prompt_equals_the_single_runs(pipe, call_kwargs):
    styles = [PIL.Image.new("RGB", (40, 40), "red"), PIL.Image.new("RGB", (40, 40), "blue")]

    def generators():
        return [torch.Generator().manual_seed(s) for s in range(2)]

    batched = pipe(["a cat", "a dog"], style_image=styles, **call_kwargs(generator=generators())).frames
    for index, prompt in enumerate(["a cat", "a dog"]):
        single = pipe(prompt, style_image=styles[index], **call_kwargs(seed=index)).frames
        torch.testing.assert_close(batched[index : index + 1], single, rtol=1e-4, atol=1e-4)
    shared = pipe(["a cat", "a dog"], style_image=styles[:1], **call_kwargs(generator=generators())).frames
    torch.testing.assert_close(shared[:1], batched[:1], rtol=1e-4, atol=1e-4)
    assert (shared[1:] - batched[1:]).abs().max() > 1e-3


def test_the_conditions_dict_is_the_keyword_call_bit_for_bit(pipe, conditions, call_kwargs):
    by_keyword = pipe("a cat", **conditions, **call_kwargs()).frames
    by_dict = pipe("a cat", conditions=conditions, **call_kwargs()).frames
    depth_only = pipe("a cat", conditions={"depth": conditions["depth"]}, **call_kwargs()).frames
    assert torch.equal(by_dict, by_keyword)
    assert torch.equal(depth_only, pipe("a cat", depth=conditions["depth"], **call_kwargs()).frames)


def test_guidance_defaults_to_the_models_recommendation(tiny_components, call_kwargs, tmp_path):
    from videocomposer.demo import DEMO_MODEL_DIR

    assert VideoComposerPipeline.load_config(DEMO_MODEL_DIR)["default_guidance_scale"] == 3.0
    VideoComposerPipeline(**tiny_components, default_guidance_scale=3.0).save_pretrained(tmp_path)
    pipe = VideoComposerPipeline.from_pretrained(tmp_path)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.config.default_guidance_scale == 3.0
    default = pipe("a cat", **call_kwargs()).frames
    assert torch.equal(default, pipe("a cat", guidance_scale=3.0, **call_kwargs()).frames)
    assert not torch.equal(default, pipe("a cat", guidance_scale=9.0, **call_kwargs()).frames)
    assert VideoComposerPipeline(**tiny_components).config.default_guidance_scale == 9.0  # the original's
    with pytest.raises(ValueError, match="`default_guidance_scale` has to be a finite number, got nan"):
        VideoComposerPipeline(**tiny_components, default_guidance_scale=float("nan"))
