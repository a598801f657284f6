"""Fixtures of the conversion tests: original-layout state dicts built from the key lists of the original code.

``data/original_unet_keys_{tiny,full}.tsv`` list every key, shape and dtype of ``UNetSD_temporal`` built with the
tiny and the release configuration (copied from the project's reference notes).
"""

import re
from collections.abc import Callable
from pathlib import Path

import open_clip
import pytest
import torch
from diffusers import AutoencoderKL

DATA = Path(__file__).parent / "data"

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


def build_tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(32, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
    ).eval()


def ldm_sd_checkpoint(vae: AutoencoderKL) -> dict:
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


#: A tiny open_clip model config (ViT and text tower, the real vocabulary).
TINY_OPEN_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 3},
}


#: The original constructor arguments of the tiny key list (the rest are the release's).
TINY_ORIGINAL_CONFIG = {"dim": 32, "dim_mult": (1, 1, 2), "attn_scales": (1.0, 0.5), "head_dim": 32, "num_heads": 2}


def read_key_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` from ``data/original_unet_keys_{name}.tsv`` (columns: key, shape, dtype, numel)."""
    shapes = {}
    for line in (DATA / f"original_unet_keys_{name}.tsv").read_text().splitlines()[1:]:
        key, shape, dtype, numel = line.split("\t")
        assert dtype == "float32"
        shapes[key] = tuple(int(size) for size in shape.strip("[]").split(",") if size.strip())
        assert torch.Size(shapes[key]).numel() == int(numel)
    return shapes


def random_original_state_dict(name: str = "tiny", seed: int = 0) -> dict[str, torch.Tensor]:
    """Random float32 tensors with the names and shapes of the original layout (``name``: tiny or full on meta)."""
    generator = torch.Generator().manual_seed(seed)
    if name == "full":
        return {key: torch.empty(shape, device="meta") for key, shape in read_key_shapes(name).items()}
    return {key: torch.randn(shape, generator=generator) * 0.1 for key, shape in read_key_shapes(name).items()}


@pytest.fixture
def tiny_original_config() -> dict:
    return dict(TINY_ORIGINAL_CONFIG)


@pytest.fixture
def tiny_original_state_dict() -> dict[str, torch.Tensor]:
    """The tiny original layout with random values (fresh for each test)."""
    return random_original_state_dict("tiny")


@pytest.fixture
def full_original_meta_state_dict() -> dict[str, torch.Tensor]:
    """The release layout (1574 tensors, 1.4 B parameters) as meta tensors: shapes without memory."""
    return random_original_state_dict("full")


@pytest.fixture
def tiny_open_clip_config() -> dict:
    return {key: dict(value) if isinstance(value, dict) else value for key, value in TINY_OPEN_CLIP_CONFIG.items()}


@pytest.fixture
def tiny_vae() -> AutoencoderKL:
    return build_tiny_vae()


@pytest.fixture
def sd_checkpoint_of() -> Callable[[AutoencoderKL], dict]:
    """``ldm_sd_checkpoint``: an LDM-style checkpoint holding a diffusers VAE under ``first_stage_model.``."""
    return ldm_sd_checkpoint


@pytest.fixture(scope="module")
def tiny_open_clip() -> open_clip.CLIP:
    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_OPEN_CLIP_CONFIG).eval()
    with torch.no_grad():  # non-trivial norms and class token, so a mix-up of LN weights would show
        for name, parameter in model.named_parameters():
            if "ln" in name or "class_embedding" in name:
                parameter.add_(torch.randn_like(parameter) * 0.2)
    return model
