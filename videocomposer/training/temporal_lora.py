"""Low-rank adapters (peft LoRA) on the UNet's temporal attention: StyleSV's lesson that motion wants its own low-rank
capacity, trained while every pretrained weight stays frozen.

Targets: the query, key, value and output projections (``to_q``, ``to_k``, ``to_v``, ``to_out.0``) of both attention
layers of every temporal transformer block, in ``transformer_in`` and in every ``temp_attentions.{i}``
(``TEMPORAL_ATTENTION_PROJECTIONS``, the selector low-rank temporal modulation uses too). The
temporal convolutions and the transformers' ``proj_in`` / ``proj_out`` / feed-forward stay unadapted: attention over
frames is where motion is mixed. ``B`` starts at zero (peft's default), so the adapted model computes exactly what the
base model computes until it is trained.

Saved files (peft's adapter format): ``adapter_config.json`` and ``adapter_model.safetensors`` holding only the
``lora_A`` / ``lora_B`` weights.
"""

import os
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict

from videocomposer.models.adapter_files import load_adapter_weights, read_adapter_config, save_adapter_files
from videocomposer.models.lowrank_temporal import TEMPORAL_ATTENTION_PROJECTIONS
from videocomposer.models.unet_3d import VideoComposerUNet3DModel

ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"


def temporal_lora_config(rank: int, lora_alpha: int | None = None) -> LoraConfig:
    """The LoRA config on the temporal attention projections (``lora_alpha`` defaults to ``rank``: scale 1)."""
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank: expected a positive int, got {rank!r}")
    return LoraConfig(
        r=rank,
        lora_alpha=rank if lora_alpha is None else lora_alpha,
        target_modules=TEMPORAL_ATTENTION_PROJECTIONS,
        init_lora_weights=True,
    )


def add_temporal_lora(unet: VideoComposerUNet3DModel, config: LoraConfig) -> list[torch.nn.Parameter]:
    """Inject the adapters into ``unet`` in place; freeze everything else. Returns the adapter parameters."""
    inject_adapter_in_model(config, unet)  # peft leaves only the adapters trainable
    adapters = [parameter for parameter in unet.parameters() if parameter.requires_grad]
    if not adapters:
        raise ValueError("unet: no temporal attention projections found for LoRA (does it have temporal layers?)")
    return adapters


def save_temporal_lora(unet: VideoComposerUNet3DModel, config: LoraConfig, save_directory: str | os.PathLike) -> Path:
    """Write the adapter config and the adapter weights (nothing else) into ``save_directory``."""
    state = get_peft_model_state_dict(unet)
    return save_adapter_files(state, config.to_dict(), save_directory, ADAPTER_WEIGHTS_NAME, ADAPTER_CONFIG_NAME)


def load_temporal_lora(unet: VideoComposerUNet3DModel, pretrained_directory: str | os.PathLike) -> LoraConfig:
    """Inject the adapters saved by :func:`save_temporal_lora` into ``unet`` and load their weights (strict)."""
    read_adapter_config(pretrained_directory, ADAPTER_CONFIG_NAME)  # a clear error for a folder without one
    config = LoraConfig.from_pretrained(str(pretrained_directory))
    inject_adapter_in_model(config, unet)
    load_temporal_lora_weights(unet, pretrained_directory)
    return config


def load_temporal_lora_weights(unet: VideoComposerUNet3DModel, pretrained_directory: str | os.PathLike) -> None:
    """Load saved adapter weights into a ``unet`` that already carries the same adapters (strict)."""
    current = get_peft_model_state_dict(unet)
    set_peft_model_state_dict(unet, load_adapter_weights(current, pretrained_directory, ADAPTER_WEIGHTS_NAME))
