"""The files of a UNet adapter (LoRA, low-rank temporal modulation): a JSON config and a safetensors file holding the
adapter's own weights and nothing else, each written atomically; read back strictly (same keys and shapes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from videocomposer.atomic_files import atomic_path, atomic_write_text


def save_adapter_files(
    state: dict[str, torch.Tensor],
    config: dict,
    save_directory: str | os.PathLike,
    weights_name: str,
    config_name: str,
) -> Path:
    """Write ``state`` (detached to contiguous CPU tensors) and ``config`` into ``save_directory``; returns the
    weights file."""
    if not state:
        raise ValueError("unet: has no adapter weights to save")
    folder = Path(save_directory)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / weights_name
    with atomic_path(weights) as temporary:
        tensors = {key: value.detach().cpu().contiguous() for key, value in state.items()}
        save_file(tensors, str(temporary), metadata={"format": "pt"})
    atomic_write_text(folder / config_name, json.dumps(config, indent=2, sort_keys=True, default=list))
    return weights


def read_adapter_config(pretrained_directory: str | os.PathLike, config_name: str) -> dict:
    """The saved config of an adapter folder (``ValueError`` naming the folder when it has none)."""
    path = Path(pretrained_directory) / config_name
    if not path.is_file():
        raise ValueError(f"pretrained_directory: {str(path.parent)!r} has no {config_name}")
    return json.loads(path.read_text())


def load_adapter_weights(
    current: dict[str, torch.Tensor], pretrained_directory: str | os.PathLike, weights_name: str
) -> dict[str, torch.Tensor]:
    """The saved weights of an adapter folder, checked against the model's own ``current`` adapter state (the same
    keys and shapes, else ``ValueError``)."""
    path = Path(pretrained_directory) / weights_name
    if not path.is_file():
        raise ValueError(f"pretrained_directory: {str(path.parent)!r} has no {weights_name}")
    state = load_file(str(path))
    if set(state) != set(current) or any(state[key].shape != current[key].shape for key in current):
        raise ValueError(
            f"pretrained_directory: adapter weights do not match this unet; missing "
            f"{sorted(set(current) - set(state))[:4]}, unexpected {sorted(set(state) - set(current))[:4]}"
        )
    return state
