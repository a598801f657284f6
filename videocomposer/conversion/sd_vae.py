"""The Stable Diffusion 2.1 VAE (``first_stage_model.*`` of ``v2-1_512-ema-pruned.ckpt``) -> diffusers `AutoencoderKL`.

The key mapping is diffusers' own single-file helper (``convert_ldm_vae_checkpoint``); the configuration is read off
the shapes (LDM ``ddconfig``: ``ch``, ``ch_mult``, ``num_res_blocks``, ``z_channels``), and the result is checked
strictly: every ``first_stage_model.*`` tensor used exactly once and every VAE weight filled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from diffusers import AutoencoderKL
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

from .checkpoint import unwrap_state_dict
from .key_rules import format_key_report

VAE_PREFIX = "first_stage_model."
#: Latent scale of the SD 2.x VAE (the original multiplies latents by it).
SD_VAE_SCALING_FACTOR = 0.18215


def vae_config_from_ldm(vae_state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """`AutoencoderKL` arguments read off an LDM VAE state dict (keys without the ``first_stage_model.`` prefix)."""
    required = ("encoder.conv_in.weight", "encoder.conv_out.weight", "decoder.conv_out.weight")
    absent = [key for key in required if key not in vae_state_dict]
    if absent:
        raise ValueError(f"sd_checkpoint: the VAE has no {absent} (is this a Stable Diffusion checkpoint?)")
    ch = vae_state_dict["encoder.conv_in.weight"].shape[0]
    levels = sorted({int(m.group(1)) for k in vae_state_dict if (m := re.match(r"encoder\.down\.(\d+)\.", k))})
    blocks = {int(m.group(1)) for k in vae_state_dict if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k))}
    block_out_channels = tuple(vae_state_dict[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] for i in levels)
    return {
        "in_channels": vae_state_dict["encoder.conv_in.weight"].shape[1],
        "out_channels": vae_state_dict["decoder.conv_out.weight"].shape[0],
        "down_block_types": ("DownEncoderBlock2D",) * len(levels),
        "up_block_types": ("UpDecoderBlock2D",) * len(levels),
        "block_out_channels": block_out_channels or (ch,),
        "layers_per_block": len(blocks),
        "latent_channels": vae_state_dict["encoder.conv_out.weight"].shape[0] // 2,  # mean and log-variance
        "norm_num_groups": 32,  # LDM's Normalize
        "scaling_factor": SD_VAE_SCALING_FACTOR,
    }


def convert_sd_vae(checkpoint: Mapping[str, Any], dtype: torch.dtype | None = None) -> AutoencoderKL:
    """The `AutoencoderKL` of a Stable Diffusion checkpoint (plain or ``{"state_dict": ...}``); other keys are
    ignored (the UNet and text encoder of SD 2.1 are not used by VideoComposer).

    Raises:
        ValueError: there are no ``first_stage_model.*`` keys, or they do not fill the VAE one to one.
    """
    state_dict = unwrap_state_dict(checkpoint, argument="sd_checkpoint")
    source = {key: value for key, value in state_dict.items() if key.startswith(VAE_PREFIX)}
    if not source:
        raise ValueError(f"sd_checkpoint: no {VAE_PREFIX}* keys; expected a Stable Diffusion (LDM) checkpoint")
    config = vae_config_from_ldm({key[len(VAE_PREFIX) :]: value for key, value in source.items()})
    converted = convert_ldm_vae_checkpoint(source, config)

    with torch.device("meta"):
        vae = AutoencoderKL(**config)
    expected = {key: value.shape for key, value in vae.state_dict().items()}
    # Which source tensor each converted tensor came from (the helper only renames and takes views).
    origin = {value.data_ptr(): key for key, value in source.items()}
    used = [origin.get(value.data_ptr()) for value in converted.values()]
    unused = sorted(set(source) - set(used))
    twice = sorted({key for key in used if key is not None and used.count(key) > 1})
    missing = [key for key in expected if key not in converted]
    mismatched = {
        key: (tuple(value.shape), tuple(expected[key]))
        for key, value in converted.items()
        if key in expected and value.shape != expected[key]
    }
    if unused or twice or missing or mismatched:
        raise ValueError(
            "sd_checkpoint: the first_stage_model.* weights do not fill the SD VAE one to one; nothing was converted."
            "\n" + format_key_report(missing, unused + twice, mismatched)
        )
    if dtype is not None:
        converted = {key: value.to(dtype) for key, value in converted.items()}
    vae.load_state_dict(converted, strict=True, assign=True)
    return vae.eval()
