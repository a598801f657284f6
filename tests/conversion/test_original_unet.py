"""Conversion of the original ``UNetSD_temporal`` layout: strict accounting, exact inverse, parity of the mapping."""

import pytest
import torch
import torch.nn.functional as F

from videocomposer.conversion.original_unet import convert_original_unet, export_original_state_dict
from videocomposer.models import STCEncoder, VideoComposerUNet3DModel
from videocomposer.models.stc_encoder import RELEASE_CONDITIONS


def params(*models):
    return sum(p.numel() for model in models for p in model.parameters())


def test_tiny_original_layout_converts_loads_and_runs(tiny_original_state_dict, tiny_original_config):
    source = tiny_original_state_dict
    unet, stc = convert_original_unet(source, tiny_original_config)

    assert isinstance(unet, VideoComposerUNet3DModel) and isinstance(stc, STCEncoder)
    assert tuple(unet.config.block_out_channels) == (32, 32, 64)
    assert tuple(unet.config.down_block_types) == ("CrossAttnDownBlock3D",) * 2 + ("DownBlock3D",)
    assert tuple(unet.config.up_block_types) == ("UpBlock3D",) + ("CrossAttnUpBlock3D",) * 2
    assert dict(stc.config.condition_channels) == RELEASE_CONDITIONS
    assert params(unet, stc) == sum(t.numel() for t in source.values()) == 5_218_324
    # Spot checks of the table, including both reshapes.
    assert torch.equal(unet.conv_in.weight, source["input_blocks.0.0.weight"])
    assert torch.equal(unet.transformer_in.proj_in.weight, source["input_blocks.0.1.proj_in.weight"][..., 0])
    assert torch.equal(unet.down_blocks[1].resnets[0].conv1.weight, source["input_blocks.4.0.in_layers.2.weight"])
    assert torch.equal(unet.up_blocks[0].upsamplers[0].conv.weight, source["output_blocks.2.1.conv.weight"])
    assert torch.equal(unet.up_blocks[1].upsamplers[0].conv.weight, source["output_blocks.5.3.conv.weight"])
    assert torch.equal(unet.up_blocks[2].attentions[2].proj_in.weight, source["output_blocks.8.1.proj_in.weight"])
    qkv = source["mask_embedding_after.layers.0.0.fn.to_qkv.weight"]
    assert torch.equal(torch.cat([stc.branches["masked"].attn.to_q.weight, stc.branches["masked"].attn.to_k.weight,
                                  stc.branches["masked"].attn.to_v.weight]), qkv)  # fmt: skip

    generator = torch.Generator().manual_seed(1)
    conditions = {name: torch.rand(1, c, 2, 32, 32, generator=generator) for name, c in RELEASE_CONDITIONS.items()}
    with torch.no_grad():
        condition_latents = stc(conditions, latent_size=(8, 8)).sample
        out = unet(
            torch.randn(1, 4, 2, 8, 8, generator=generator),
            torch.tensor([500]),
            torch.randn(1, 3, 1024, generator=generator),
            condition_latents=condition_latents,
            image_embeds=torch.randn(1, 1024, generator=generator),
        ).sample
    assert condition_latents.shape == (1, 8, 2, 8, 8)
    assert out.shape == (1, 4, 2, 8, 8) and torch.isfinite(out).all() and out.abs().sum() > 0


def test_export_reproduces_the_original_state_dict_bit_for_bit(tiny_original_state_dict, tiny_original_config):
    unet, stc = convert_original_unet(tiny_original_state_dict, tiny_original_config)
    exported = export_original_state_dict(unet, stc)

    assert list(exported) != [] and set(exported) == set(tiny_original_state_dict)
    for key, tensor in tiny_original_state_dict.items():
        assert exported[key].dtype == tensor.dtype and exported[key].shape == tensor.shape, key
        assert torch.equal(exported[key], tensor), key


def test_release_layout_maps_one_to_one_on_the_meta_device(full_original_meta_state_dict):
    unet, stc = convert_original_unet(full_original_meta_state_dict)  # the release config is the default

    assert all(p.is_meta for p in unet.parameters()) and all(p.is_meta for p in stc.parameters())
    assert params(unet, stc) == 1_413_435_636
    assert unet.config.in_channels + unet.config.condition_channels == 12
    exported = export_original_state_dict(unet, stc)
    assert {k: tuple(v.shape) for k, v in exported.items()} == {
        k: tuple(v.shape) for k, v in full_original_meta_state_dict.items()
    }


def test_truncated_state_dict_is_refused_with_keys_grouped_by_prefix(tiny_original_state_dict, tiny_original_config):
    truncated = {k: v for k, v in tiny_original_state_dict.items() if not k.startswith("output_blocks.8.")}
    dropped = len(tiny_original_state_dict) - len(truncated)

    with pytest.raises(ValueError, match=rf"missing keys \({dropped}\):\n  output_blocks\.8\.\* \({dropped}\)"):
        convert_original_unet(truncated, tiny_original_config)


def test_wrong_shape_and_unexpected_key_are_refused(tiny_original_state_dict, tiny_original_config):
    source = tiny_original_state_dict
    source["input_blocks.1.1.proj_in.weight"] = torch.zeros(32, 32, 1)
    source["fps_embedding.0.weight"] = torch.zeros(128, 32)

    with pytest.raises(ValueError, match=r"(?s)unexpected keys \(1\):\n  fps_embedding\.0\.\* \(1\).*"
                       r"input_blocks\.1\.1\.proj_in\.weight: found \[32, 32, 1\], expected \[32, 32\]"):  # fmt: skip
        convert_original_unet(source, tiny_original_config)


def test_config_that_does_not_match_the_shapes_is_refused_naming_the_values(tiny_original_state_dict):
    with pytest.raises(ValueError, match=r"dim: original_config gives 320, the state dict has 32"):
        convert_original_unet(tiny_original_state_dict)  # the release config
    with pytest.raises(ValueError, match=r"original_config: unknown key\(s\) \['channels'\]"):
        convert_original_unet(tiny_original_state_dict, {"channels": 32})
    with pytest.raises(ValueError, match="use_fps_condition=True is not supported"):
        convert_original_unet(tiny_original_state_dict, {"use_fps_condition": True})


#: The 21 keyword arguments the original's inference code passes to ``UNetSD_temporal`` (inference_single.py), with
#: the values of its config.py, except the tiny fixture's sizes.
ORIGINAL_KWARGS = {
    "in_dim": 4, "concat_dim": 8, "dim": 32, "y_dim": 1024, "context_dim": 1024, "out_dim": 4,
    "dim_mult": [1, 1, 2], "num_heads": 2, "head_dim": 32, "num_res_blocks": 2, "attn_scales": [1 / 1, 1 / 2],
    "dropout": 0.1, "temporal_attention": True, "temporal_attn_times": 1, "use_checkpoint": True,
    "use_fps_condition": False, "use_sim_mask": False,
    "video_compositions": ["text", "mask", "depthmap", "sketch", "motion", "image", "local_image", "single_sketch"],
    "misc_dropout": 0.5, "p_all_zero": 0.1, "p_all_keep": 0.1,
}  # fmt: skip


def test_the_full_21_keyword_original_config_converts_to_the_same_models(
    tiny_original_state_dict, tiny_original_config
):
    from videocomposer.conversion.original_unet import original_config_of

    assert len(ORIGINAL_KWARGS) == 21
    unet, stc = convert_original_unet(tiny_original_state_dict, ORIGINAL_KWARGS)
    reference, reference_stc = convert_original_unet(tiny_original_state_dict, tiny_original_config)
    assert unet.config == reference.config and stc.config == reference_stc.config
    for key, tensor in reference.state_dict().items():
        assert torch.equal(unet.state_dict()[key], tensor), key
    # training-only / unused values do not change the weights
    other = {**ORIGINAL_KWARGS, "y_dim": 512, "use_checkpoint": False, "misc_dropout": 0.0, "p_all_zero": 1.0}
    assert convert_original_unet(tiny_original_state_dict, other)[0].config == reference.config
    # and the models report all 21 (plus nothing else) back
    exported = original_config_of(unet, stc)
    assert set(exported) == set(ORIGINAL_KWARGS)
    assert {k: exported[k] for k in ("temporal_attn_times", "use_sim_mask", "p_all_keep")} == {
        "temporal_attn_times": 1, "use_sim_mask": False, "p_all_keep": 0.1}  # fmt: skip


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("temporal_attn_times", 2, r"temporal_attn_times=2 is not supported .*\(supported: temporal_attn_times=1\)"),
        ("use_sim_mask", True, r"use_sim_mask=True is not supported .*\(supported: use_sim_mask=False\)"),
        ("temporal_attention", False, r"temporal_attention=False .*\(supported: temporal_attention=True\)"),
        ("use_fps_condition", True, r"use_fps_condition=True .*\(supported: use_fps_condition=False\)"),
        ("misc_dropout", 1.5, r"misc_dropout must be a probability in \[0, 1\], got 1.5"),
        ("p_all_keep", "0.1", r"p_all_keep must be a probability"),
        ("use_checkpoint", "yes", r"use_checkpoint must be a bool"),
        ("y_dim", 0, r"y_dim must be a positive int"),
    ],
)
def test_unsupported_original_values_are_refused_naming_key_and_supported_value(
    tiny_original_state_dict, key, value, message
):
    with pytest.raises(ValueError, match=message):
        convert_original_unet(tiny_original_state_dict, {**ORIGINAL_KWARGS, key: value})


def test_missing_stc_branch_must_be_declared_in_video_compositions(tiny_original_state_dict, tiny_original_config):
    source = {k: v for k, v in tiny_original_state_dict.items() if not k.startswith("sketch_embedding")}
    with pytest.raises(ValueError, match=r"STC branches: original_config gives .*'sketch'.*the state dict has"):
        convert_original_unet(source, tiny_original_config)

    compositions = ("text", "mask", "depthmap", "motion", "image", "local_image", "single_sketch")
    _, stc = convert_original_unet(source, {**tiny_original_config, "video_compositions": compositions})
    assert stc.conditions == ("depth", "local_image", "motion", "single_sketch", "masked")


def test_wrapped_and_module_prefixed_state_dicts_convert_to_the_same_weights(
    tiny_original_state_dict, tiny_original_config
):
    plain, _ = convert_original_unet(tiny_original_state_dict, tiny_original_config)
    wrapped = {"state_dict": {f"module.{k}": v for k, v in tiny_original_state_dict.items()}, "global_step": 1}
    unet, _ = convert_original_unet(wrapped, tiny_original_config)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), unet.state_dict().values()))


def test_dtype_casts_every_weight(tiny_original_state_dict, tiny_original_config):
    unet, stc = convert_original_unet(tiny_original_state_dict, tiny_original_config, dtype=torch.float16)
    assert {p.dtype for p in [*unet.parameters(), *stc.parameters()]} == {torch.float16}
    source = tiny_original_state_dict["out.2.weight"]
    assert torch.equal(unet.conv_out.weight, source.half())


def test_converted_stc_branch_computes_the_original_formulas(tiny_original_state_dict, tiny_original_config):
    """The original depth branch written out from its own keys: convs, fused-qkv pre-norm attention, residual FF."""
    sd = tiny_original_state_dict
    _, stc = convert_original_unet(sd, tiny_original_config)
    x = torch.randn(2, 1, 3, 32, 32, generator=torch.Generator().manual_seed(3))

    b, c, f, H, W = x.shape
    y = x.permute(0, 2, 1, 3, 4).reshape(b * f, c, H, W)
    y = F.silu(F.conv2d(y, sd["depth_embedding.0.weight"], sd["depth_embedding.0.bias"], padding=1))
    y = F.adaptive_avg_pool2d(y, (32, 32))
    y = F.silu(F.conv2d(y, sd["depth_embedding.3.weight"], sd["depth_embedding.3.bias"], stride=2, padding=1))
    y = F.conv2d(y, sd["depth_embedding.5.weight"], sd["depth_embedding.5.bias"], stride=2, padding=1)
    h = y.shape[2]
    y = y.reshape(b, f, 8, h, h).permute(0, 3, 4, 1, 2).reshape(-1, f, 8)  # (b h w) f c
    p = "depth_embedding_after.layers.0."
    n = F.layer_norm(y, (8,), sd[p + "0.norm.weight"], sd[p + "0.norm.bias"])
    q, k, v = (t.reshape(-1, f, 2, 8).transpose(1, 2) for t in (n @ sd[p + "0.fn.to_qkv.weight"].T).chunk(3, -1))
    attn = ((q @ k.transpose(-1, -2)) * 8**-0.5).softmax(-1) @ v
    y = y + F.linear(
        attn.transpose(1, 2).reshape(-1, f, 16), sd[p + "0.fn.to_out.0.weight"], sd[p + "0.fn.to_out.0.bias"]
    )
    ff = F.linear(F.gelu(F.linear(y, sd[p + "1.net.0.0.weight"], sd[p + "1.net.0.0.bias"])), sd[p + "1.net.2.weight"],
                  sd[p + "1.net.2.bias"])  # fmt: skip
    expected = (y + ff).reshape(b, h, h, f, 8).permute(0, 4, 3, 1, 2)

    with torch.no_grad():
        got = stc({"depth": x}, latent_size=(8, 8)).sample
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_converted_resblock_and_temporal_conv_compute_the_original_formulas(
    tiny_original_state_dict, tiny_original_config
):
    """``input_blocks.4.0`` (a ResBlock 32 -> 32 with ``temopral_conv``) written out from the original keys."""
    sd = tiny_original_state_dict
    unet, _ = convert_original_unet(sd, tiny_original_config)
    generator = torch.Generator().manual_seed(4)
    frames, x, emb = 3, torch.randn(3, 32, 8, 8, generator=generator), torch.randn(3, 128, generator=generator)

    p = "input_blocks.4.0."
    h = F.conv2d(F.silu(F.group_norm(x, 32, sd[p + "in_layers.0.weight"], sd[p + "in_layers.0.bias"])),
                 sd[p + "in_layers.2.weight"], sd[p + "in_layers.2.bias"], padding=1)  # fmt: skip
    h = h + F.linear(F.silu(emb), sd[p + "emb_layers.1.weight"], sd[p + "emb_layers.1.bias"])[..., None, None]
    h = F.conv2d(F.silu(F.group_norm(h, 32, sd[p + "out_layers.0.weight"], sd[p + "out_layers.0.bias"])),
                 sd[p + "out_layers.3.weight"], sd[p + "out_layers.3.bias"], padding=1)  # fmt: skip
    h = x + h  # no skip conv: same channels
    t = h.reshape(1, frames, 32, 8, 8).permute(0, 2, 1, 3, 4)
    identity = t
    for i, (norm, conv) in enumerate([(0, 2), (0, 3), (0, 3), (0, 3)], start=1):
        c = f"{p}temopral_conv.conv{i}."
        t = F.silu(F.group_norm(t, 32, sd[c + f"{norm}.weight"], sd[c + f"{norm}.bias"]))
        t = F.conv3d(t, sd[c + f"{conv}.weight"], sd[c + f"{conv}.bias"], padding=(1, 0, 0))
    expected = (identity + t).permute(0, 2, 1, 3, 4).reshape(frames, 32, 8, 8)

    with torch.no_grad():
        got = unet.down_blocks[1].temp_convs[0](unet.down_blocks[1].resnets[0](x, emb), num_frames=frames)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_export_refuses_models_the_original_layout_cannot_hold():
    unet = VideoComposerUNet3DModel(
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        layers_per_block=1,
        norm_num_groups=8,
        cross_attention_dim=32,
        attention_head_dim=8,
        transformer_in_num_heads=2,
        image_embed_dim=16,
    )
    with pytest.raises(ValueError, match=r"cannot be written in the original layout: .*unet\.norm_num_groups=8"):
        export_original_state_dict(unet, STCEncoder())
    with pytest.raises(TypeError, match="stc_encoder: expected an STCEncoder"):
        export_original_state_dict(unet, unet)
