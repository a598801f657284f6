"""Behaviour of VideoComposerUNet3DModel on tiny configs (CPU, seconds)."""

import pytest
import torch
from diffusers import UNet3DConditionModel

from videocomposer.models import STCEncoder, VideoComposerUNet3DModel

TINY = dict(
    block_out_channels=(16, 32),
    down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
    up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
    layers_per_block=1,
    norm_num_groups=8,
    attention_head_dim=8,
    transformer_in_num_heads=2,
    cross_attention_dim=24,
    image_embed_dim=12,
    dropout=0.0,
)


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every weight (zero-initialised ones included) a random value so that no path is trivially zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model


@pytest.fixture(scope="module")
def unet() -> VideoComposerUNet3DModel:
    torch.manual_seed(0)
    return randomize(VideoComposerUNet3DModel(**TINY)).eval()


def inputs(batch=2, frames=3, h=8, w=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, 4, frames, h, w, generator=gen),
        torch.randn(batch, 5, 24, generator=gen),
        torch.randn(batch, 8, frames, h, w, generator=gen),
        torch.randn(batch, 12, generator=gen),
    )


@pytest.mark.parametrize("frames,h,w", [(1, 8, 8), (4, 8, 8), (3, 6, 10), (2, 5, 7)])
def test_output_shape_matches_input_for_any_frames_and_non_square_sizes(unet, frames, h, w):
    sample, text, cond, image = inputs(1, frames, h, w)
    with torch.no_grad():
        out = unet(sample, 500, text, condition_latents=cond, image_embeds=image).sample
    assert out.shape == sample.shape
    assert torch.isfinite(out).all()


def test_condition_latents_change_output_and_none_equals_zeros(unet):
    sample, text, cond, _ = inputs()
    with torch.no_grad():
        none = unet(sample, 10, text).sample
        zero = unet(sample, 10, text, condition_latents=torch.zeros_like(cond)).sample
        given = unet(sample, 10, text, condition_latents=cond).sample
    torch.testing.assert_close(none, zero, rtol=0, atol=0)  # exact: same kernels, same shapes, one process
    assert (given - none).abs().mean() > 1e-3


def test_image_embeds_append_one_context_token(unet):
    sample, text, _, image = inputs()
    with torch.no_grad():
        with_token = unet(sample, 10, text, image_embeds=image).sample
        token = unet.image_embedding(image)[:, None]
        explicit = unet(sample, 10, torch.cat([text, token], dim=1)).sample
        without = unet(sample, 10, text).sample
    torch.testing.assert_close(with_token, explicit, rtol=1e-5, atol=1e-5)
    assert (with_token - without).abs().mean() > 1e-3


def test_batch_elements_are_independent(unet):
    sample, text, cond, image = inputs(batch=3)
    t = torch.tensor([5, 500, 900])
    with torch.no_grad():
        batched = unet(sample, t, text, condition_latents=cond, image_embeds=image).sample
        for i in range(3):
            single = unet(sample[i : i + 1], t[i : i + 1], text[i : i + 1], cond[i : i + 1], image[i : i + 1]).sample
            torch.testing.assert_close(batched[i : i + 1], single, rtol=1e-4, atol=1e-5)


def test_scalar_timestep_equals_per_sample_timesteps(unet):
    sample, text, _, _ = inputs()
    with torch.no_grad():
        a = unet(sample, 321, text).sample
        b = unet(sample, torch.tensor([321, 321]), text).sample
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # exact: same kernels, same shapes, one process


def test_return_dict_false_gives_tuple(unet):
    sample, text, _, _ = inputs()
    with torch.no_grad():
        out = unet(sample, 1, text, return_dict=False)
    assert isinstance(out, tuple) and out[0].shape == sample.shape


def test_seeded_construction_is_deterministic():
    torch.manual_seed(3)
    a = VideoComposerUNet3DModel(**TINY)
    torch.manual_seed(3)
    b = VideoComposerUNet3DModel(**TINY)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_save_and_load_round_trip_gives_identical_outputs(unet, tmp_path):
    unet.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    loaded = VideoComposerUNet3DModel.from_pretrained(tmp_path).eval()
    assert tuple(loaded.config.block_out_channels) == tuple(unet.config.block_out_channels)
    sample, text, cond, image = inputs()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(sample, 7, text, cond, image).sample, unet(sample, 7, text, cond, image).sample, rtol=0, atol=0
        )


def test_gradient_checkpointing_gives_identical_outputs_and_gradients():
    torch.manual_seed(0)
    model = randomize(VideoComposerUNet3DModel(**TINY))
    sample, text, cond, image = inputs(batch=1, frames=2)

    def run():
        model.zero_grad()
        out = model(sample, 10, text, cond, image).sample
        out.square().mean().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    ref_out, ref_grads = run()
    model.enable_gradient_checkpointing()
    assert model.is_gradient_checkpointing
    ckpt_out, ckpt_grads = run()
    torch.testing.assert_close(ckpt_out, ref_out, rtol=0, atol=0)  # exact: same kernels, same shapes, one process
    for name, grad in ref_grads.items():
        torch.testing.assert_close(ckpt_grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)
    model.disable_gradient_checkpointing()
    assert not model.is_gradient_checkpointing


def test_gradient_checkpointing_recomputes_layers_in_backward():
    torch.manual_seed(0)
    model = VideoComposerUNet3DModel(**TINY)
    calls = []
    model.down_blocks[0].resnets[0].register_forward_hook(lambda *_: calls.append(1))
    sample, text, _, _ = inputs(batch=1, frames=2)
    model.enable_gradient_checkpointing()
    model(sample, 10, text).sample.sum().backward()
    assert len(calls) == 2  # forward + recomputation in backward


def test_from_unet3d_reproduces_diffusers_unet3d_exactly():
    torch.manual_seed(0)
    ref = UNet3DConditionModel(
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        layers_per_block=1,
        norm_num_groups=8,
        attention_head_dim=8,
        cross_attention_dim=24,
    )
    randomize(ref).eval()
    ours = VideoComposerUNet3DModel.from_unet3d(ref, image_embed_dim=12).eval()
    assert ours.conv_in.weight.shape == (16, 12, 3, 3)
    assert torch.count_nonzero(ours.conv_in.weight[:, 4:]) == 0
    sample, text, _, _ = inputs(frames=4)
    with torch.no_grad():
        expected = ref(sample, torch.tensor([3, 700]), text).sample
        got = ours(sample, torch.tensor([3, 700]), text).sample
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_from_unet3d_rejects_other_models():
    with pytest.raises(TypeError, match="unet3d"):
        VideoComposerUNet3DModel.from_unet3d(torch.nn.Linear(2, 2))


def test_release_config_has_the_original_parameter_count():
    with torch.device("meta"):
        unet = VideoComposerUNet3DModel()
        stc = STCEncoder()
    count = sum(p.numel() for p in unet.parameters()) + sum(p.numel() for p in stc.parameters())
    assert count == 1_413_435_636
    assert unet.conv_in.weight.shape == (320, 12, 3, 3)
    assert unet.image_embedding.linear_1.weight.shape == (1024, 1024)
    assert unet.transformer_in.proj_in.weight.shape == (512, 320)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(sample=torch.randn(1, 3, 2, 8, 8)), r"sample: expected a \(B, 4, F, h, w\)"),
        (dict(sample=torch.randn(1, 4, 8, 8)), "sample"),
        (dict(encoder_hidden_states=torch.randn(1, 5, 7)), "encoder_hidden_states"),
        (dict(encoder_hidden_states=torch.randn(2, 5, 24)), "encoder_hidden_states"),
        (dict(condition_latents=torch.randn(1, 8, 3, 8, 8)), "condition_latents"),
        (dict(condition_latents=torch.randn(1, 4, 2, 8, 8)), "condition_latents"),
        (dict(image_embeds=torch.randn(1, 11)), "image_embeds"),
        (dict(timestep=torch.tensor([1, 2, 3])), "timestep"),
    ],
)
def test_bad_inputs_raise_with_the_argument_name(unet, kwargs, match):
    args = dict(
        sample=torch.randn(1, 4, 2, 8, 8), timestep=1, encoder_hidden_states=torch.randn(1, 5, 24)
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        unet(**args)


def test_image_embeds_without_image_mlp_raise():
    model = VideoComposerUNet3DModel(**{**TINY, "image_embed_dim": None})
    assert model.image_embedding is None
    with pytest.raises(ValueError, match="image_embed_dim=None"):
        model(torch.randn(1, 4, 2, 8, 8), 1, torch.randn(1, 5, 24), image_embeds=torch.randn(1, 12))


@pytest.mark.parametrize(
    "override,match",
    [
        (dict(block_out_channels=(16, 32, 64)), "same length"),
        (dict(down_block_types=("CrossAttnDownBlock3D", "Foo")), "unknown block types"),
        (dict(block_out_channels=(12, 32)), "divisible"),
    ],
)
def test_bad_configs_raise(override, match):
    with pytest.raises(ValueError, match=match):
        VideoComposerUNet3DModel(**{**TINY, **override})


def test_sdpa_is_the_default_attention_and_xformers_fails_clearly_without_cuda(unet):
    processors = {type(p).__name__ for p in unet.attn_processors.values()}
    assert processors == {"AttnProcessor2_0"}
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine can run xformers")
    with pytest.raises((ValueError, ModuleNotFoundError, ImportError)):
        unet.enable_xformers_memory_efficient_attention()
