"""diffusers model options of the UNet and the STC encoder: timestep broadcasting, attention slicing, default processor,
forward chunking, QKV fusion, FreeU and the native frame count in the config."""

import pytest
import torch
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import (
    Attention,
    AttnProcessor,
    AttnProcessor2_0,
    FusedAttnProcessor2_0,
    SlicedAttnProcessor,
)

from videocomposer.models import STCEncoder, VideoComposerUNet3DModel

TINY = dict(
    block_out_channels=(16, 32),
    down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
    up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
    layers_per_block=1,
    norm_num_groups=8,
    attention_head_dim=4,
    transformer_in_num_heads=2,
    cross_attention_dim=24,
    image_embed_dim=12,
    dropout=0.0,
)


def make_unet(seed: int = 0) -> VideoComposerUNet3DModel:
    torch.manual_seed(seed)
    unet = VideoComposerUNet3DModel(**TINY).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in unet.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return unet


def unet_inputs(batch: int = 2, frames: int = 3) -> dict:
    generator = torch.Generator().manual_seed(1)
    return dict(
        sample=torch.randn(batch, 4, frames, 8, 8, generator=generator),
        encoder_hidden_states=torch.randn(batch, 5, 24, generator=generator),
        condition_latents=torch.randn(batch, 8, frames, 8, 8, generator=generator),
        image_embeds=torch.randn(batch, 12, generator=generator),
    )


@torch.no_grad()
def run(unet: VideoComposerUNet3DModel, timestep=321) -> torch.Tensor:
    return unet(timestep=timestep, **unet_inputs()).sample


def processors(model: torch.nn.Module) -> set[type]:
    return {type(m.processor) for m in model.modules() if isinstance(m, Attention)}


@pytest.mark.parametrize(
    "timestep", [321, 321.0, torch.tensor(321), torch.tensor([321]), torch.tensor([321, 321])], ids=str
)
def test_timestep_scalar_0d_1_and_batch_shapes_broadcast(timestep):
    unet = make_unet()
    expected = run(unet, torch.tensor([321, 321]))
    # exact: same kernels, same shapes, one process
    torch.testing.assert_close(run(unet, timestep), expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"timestep: expected a scalar, shape \(1,\) or \(2,\), got \(3,\)"):
        run(unet, torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("slice_size", ["auto", "max", 1, 2])
def test_attention_slicing_changes_every_layer_and_keeps_the_result(slice_size):
    unet = make_unet()
    expected = run(unet)
    unet.set_attention_slice(slice_size)
    layers = [m for m in unet.modules() if isinstance(m, Attention)]
    assert {type(layer.processor) for layer in layers} == {SlicedAttnProcessor}
    heads = [layer.sliceable_head_dim for layer in layers]
    wanted = {"auto": [max(1, h // 2) for h in heads], "max": [1] * len(heads)}.get(
        slice_size, [slice_size] * len(heads)
    )
    assert [layer.processor.slice_size for layer in layers] == wanted
    torch.testing.assert_close(run(unet), expected, rtol=1e-5, atol=1e-5)
    unet.set_attention_slice(None)
    assert processors(unet) == {AttnProcessor2_0}


def test_attention_slicing_rejects_bad_sizes():
    unet = make_unet()
    with pytest.raises(ValueError, match=r"slice_size: 99 has to be an int in \[1, "):
        unet.set_attention_slice(99)
    with pytest.raises(ValueError, match="one size per attention layer"):
        unet.set_attention_slice([1])
    with pytest.raises(ValueError, match="expected 'auto', 'max'"):
        unet.set_attention_slice("half")
    assert processors(unet) == {AttnProcessor2_0}  # nothing half-applied


def test_stc_encoder_attention_slicing_keeps_the_result():
    torch.manual_seed(0)
    stc = STCEncoder(condition_channels={"depth": 1, "motion": 2}, hidden_channels=8, dropout=0.0).eval()
    generator = torch.Generator().manual_seed(0)
    conditions = {"depth": torch.randn(2, 1, 4, 16, 16, generator=generator), "motion": torch.randn(2, 2, 4, 16, 16)}
    with torch.no_grad():
        expected = stc(conditions, latent_size=(4, 4)).sample
        stc.set_attention_slice("max")
        assert processors(stc) == {SlicedAttnProcessor}
        torch.testing.assert_close(stc(conditions, latent_size=(4, 4)).sample, expected, rtol=1e-5, atol=1e-6)
        stc.set_default_attn_processor()
        assert processors(stc) == {AttnProcessor}
        torch.testing.assert_close(stc(conditions, latent_size=(4, 4)).sample, expected, rtol=1e-5, atol=1e-6)


def test_default_attn_processor_is_the_plain_one_and_keeps_the_result():
    unet = make_unet()
    expected = run(unet)
    unet.set_default_attn_processor()
    assert processors(unet) == {AttnProcessor}
    torch.testing.assert_close(run(unet), expected, rtol=1e-5, atol=1e-5)


def test_forward_chunking_sets_every_transformer_block_and_keeps_the_result():
    unet = make_unet()
    expected = run(unet)
    blocks = [m for m in unet.modules() if isinstance(m, BasicTransformerBlock)]
    unet.enable_forward_chunking(chunk_size=1, dim=1)
    assert {(b._chunk_size, b._chunk_dim) for b in blocks} == {(1, 1)}
    torch.testing.assert_close(run(unet), expected, rtol=1e-5, atol=1e-5)
    unet.disable_forward_chunking()
    assert {b._chunk_size for b in blocks} == {None}
    with pytest.raises(ValueError, match="dim: expected 0 or 1, got 2"):
        unet.enable_forward_chunking(dim=2)
    with pytest.raises(ValueError, match="chunk_size: expected a positive int"):
        unet.enable_forward_chunking(chunk_size=0)


def test_fused_qkv_projections_keep_the_result_and_unfuse_restores_the_model():
    unet = make_unet()
    expected = run(unet)
    keys = set(unet.state_dict())
    unet.fuse_qkv_projections()
    assert processors(unet) == {FusedAttnProcessor2_0}
    torch.testing.assert_close(run(unet), expected, rtol=1e-5, atol=1e-5)
    unet.unfuse_qkv_projections()
    assert processors(unet) == {AttnProcessor2_0} and set(unet.state_dict()) == keys
    with pytest.raises(ValueError, match="not fused"):
        unet.unfuse_qkv_projections()


def test_freeu_backbone_factor_equals_scaling_the_resnet_inputs_of_up_block_0():
    """With s1 = s2 = 1 (the Fourier filter is the identity) and b2 = 1, FreeU only multiplies the first half of the
    backbone channels entering up block 0's layers (32 of them, half = 16) by b1: done here with hooks instead."""
    unet = make_unet()
    baseline = run(unet)
    unet.enable_freeu(s1=1.0, s2=1.0, b1=1.5, b2=1.0)
    assert [(b.s1, b.s2, b.b1, b.b2) for b in unet.up_blocks] == [(1.0, 1.0, 1.5, 1.0)] * 2
    with_freeu = run(unet)
    unet.disable_freeu()
    assert all(getattr(b, k) is None for b in unet.up_blocks for k in ("s1", "s2", "b1", "b2"))
    torch.testing.assert_close(run(unet), baseline, rtol=0, atol=0)  # exact: same kernels, same shapes, one process

    def scale_backbone_half(module, args):
        x = args[0].clone()
        x[:, :16] *= 1.5
        return (x, *args[1:])

    hooks = [resnet.register_forward_pre_hook(scale_backbone_half) for resnet in unet.up_blocks[0].resnets]
    expected = run(unet)
    for hook in hooks:
        hook.remove()
    assert (with_freeu - baseline).abs().max() > 1e-3
    torch.testing.assert_close(with_freeu, expected, rtol=1e-4, atol=1e-4)


def test_freeu_skip_factor_changes_the_output_and_rejects_non_numbers():
    unet = make_unet()
    baseline = run(unet)
    unet.enable_freeu(s1=0.5, s2=1.0, b1=1.0, b2=1.0)
    assert (run(unet) - baseline).abs().max() > 1e-4
    with pytest.raises(TypeError, match="b2: expected a float, got str"):
        unet.enable_freeu(s1=0.9, s2=0.2, b1=1.2, b2="1.4")


def test_native_frame_count_is_in_the_config_and_survives_save_and_load(tmp_path):
    assert VideoComposerUNet3DModel(**TINY).config.num_frames == 16
    unet = VideoComposerUNet3DModel(**TINY, num_frames=8, sample_size=4)
    unet.save_pretrained(tmp_path)
    loaded = VideoComposerUNet3DModel.from_pretrained(tmp_path)
    assert (loaded.config.num_frames, loaded.config.sample_size) == (8, 4)
    with pytest.raises(ValueError, match="num_frames: expected a positive int, got 0"):
        VideoComposerUNet3DModel(**TINY, num_frames=0)
