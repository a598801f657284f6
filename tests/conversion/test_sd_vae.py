"""SD VAE (LDM ``first_stage_model.*``) -> `AutoencoderKL`, checked against an independently written LDM layout
(``conftest.ldm_key``)."""

import pytest
import torch

from videocomposer.conversion.sd_vae import SD_VAE_SCALING_FACTOR, convert_sd_vae


def test_sd_vae_converts_to_the_same_autoencoder(tiny_vae, sd_checkpoint_of):
    reference = tiny_vae
    vae = convert_sd_vae(sd_checkpoint_of(reference))

    assert tuple(vae.config.block_out_channels) == (32, 64) and vae.config.layers_per_block == 1
    assert vae.config.scaling_factor == SD_VAE_SCALING_FACTOR
    expected = reference.state_dict()
    assert vae.state_dict().keys() == expected.keys()
    assert all(torch.equal(value, expected[key]) for key, value in vae.state_dict().items())
    latents = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        # exact: same kernels, same shapes, one process
        torch.testing.assert_close(vae.decode(latents).sample, reference.decode(latents).sample, rtol=0, atol=0)


def test_unused_or_missing_vae_keys_are_refused(tiny_vae, sd_checkpoint_of):
    checkpoint = sd_checkpoint_of(tiny_vae)
    checkpoint["state_dict"]["first_stage_model.encoder.extra.weight"] = torch.zeros(3)
    del checkpoint["state_dict"]["first_stage_model.decoder.mid.attn_1.q.bias"]
    with pytest.raises(ValueError, match=r"(?s)missing keys \(1\):\n  decoder\.mid_block\.\* \(1\).*"
                       r"unexpected keys \(1\):\n  first_stage_model\.encoder\.\* \(1\)"):  # fmt: skip
        convert_sd_vae(checkpoint)


def test_checkpoint_without_a_vae_is_refused():
    with pytest.raises(ValueError, match=r"sd_checkpoint: no first_stage_model\.\* keys"):
        convert_sd_vae({"state_dict": {"model.diffusion_model.out.2.weight": torch.zeros(1)}})
