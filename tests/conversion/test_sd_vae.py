"""SD VAE (LDM ``first_stage_model.*``) -> `AutoencoderKL`, checked against an independently written LDM layout."""

import re

import pytest
import torch
from diffusers import AutoencoderKL

from videocomposer.conversion.sd_vae import SD_VAE_SCALING_FACTOR, convert_sd_vae

_RESNET = {"conv_shortcut": "nin_shortcut"}
_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def ldm_key(key: str, levels: int) -> str:
    """The LDM (``ldm.modules.diffusionmodules.model``) name of a diffusers `AutoencoderKL` key."""
    key = key.replace("conv_norm_out", "norm_out")
    key = re.sub(r"mid_block\.resnets\.(\d)", lambda m: f"mid.block_{int(m.group(1)) + 1}", key)
    key = re.sub(r"mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)",
                 lambda m: f"mid.attn_1.{_ATTENTION[m.group(1)]}", key)  # fmt: skip
    key = re.sub(r"encoder\.down_blocks\.(\d)\.resnets", r"encoder.down.\1.block", key)
    key = re.sub(r"encoder\.down_blocks\.(\d)\.downsamplers\.0", r"encoder.down.\1.downsample", key)
    key = re.sub(
        r"decoder\.up_blocks\.(\d)\.resnets", lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.block", key
    )
    key = re.sub(r"decoder\.up_blocks\.(\d)\.upsamplers\.0",
                 lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.upsample", key)  # fmt: skip
    return key.replace("conv_shortcut", _RESNET["conv_shortcut"])


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(32, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
    ).eval()


def sd_checkpoint(vae: AutoencoderKL) -> dict:
    """An LDM-style ``.ckpt`` payload: the VAE under ``first_stage_model.`` beside other models' keys."""
    levels = len(vae.config.block_out_channels)
    state = {}
    for key, value in vae.state_dict().items():
        if "mid_block.attentions.0.to_" in key and key.endswith("weight"):
            value = value[:, :, None, None]  # LDM attention projections are 1x1 convs
        state["first_stage_model." + ldm_key(key, levels)] = value.clone()
    state["model.diffusion_model.out.2.weight"] = torch.zeros(4, 8, 3, 3)
    state["cond_stage_model.model.ln_final.weight"] = torch.ones(8)
    return {"state_dict": state, "global_step": 110000}


def test_sd_vae_converts_to_the_same_autoencoder():
    reference = tiny_vae()
    vae = convert_sd_vae(sd_checkpoint(reference))

    assert tuple(vae.config.block_out_channels) == (32, 64) and vae.config.layers_per_block == 1
    assert vae.config.scaling_factor == SD_VAE_SCALING_FACTOR
    expected = reference.state_dict()
    assert vae.state_dict().keys() == expected.keys()
    assert all(torch.equal(value, expected[key]) for key, value in vae.state_dict().items())
    latents = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(vae.decode(latents).sample, reference.decode(latents).sample, rtol=0, atol=0)


def test_unused_or_missing_vae_keys_are_refused():
    checkpoint = sd_checkpoint(tiny_vae())
    checkpoint["state_dict"]["first_stage_model.encoder.extra.weight"] = torch.zeros(3)
    del checkpoint["state_dict"]["first_stage_model.decoder.mid.attn_1.q.bias"]
    with pytest.raises(ValueError, match=r"(?s)missing keys \(1\):\n  decoder\.mid_block\.\* \(1\).*"
                       r"unexpected keys \(1\):\n  first_stage_model\.encoder\.\* \(1\)"):  # fmt: skip
        convert_sd_vae(checkpoint)


def test_checkpoint_without_a_vae_is_refused():
    with pytest.raises(ValueError, match=r"sd_checkpoint: no first_stage_model\.\* keys"):
        convert_sd_vae({"state_dict": {"model.diffusion_model.out.2.weight": torch.zeros(1)}})
