"""The adapters a run can train instead of UNet weights (``--trainable lora | lowrank_temporal``), behind one protocol
(:class:`UNetAdapter`). Both adapt the UNet's temporal attention projections (``TEMPORAL_ATTENTION_PROJECTIONS``) and
save a JSON config and a safetensors file of the adapter's own weights, each written atomically and read back strictly
(same keys and shapes); each kind supplies only its config, file names, state dict and how it adds itself."""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from videocomposer.atomic_files import atomic_write_bytes, atomic_write_text
from videocomposer.models.lowrank_temporal import (
    TEMPORAL_ATTENTION_PROJECTIONS,
    LowRankTemporalConfig,
    LowRankTemporalLinear,
    add_lowrank_temporal,
)


def _saved_file(pretrained_directory: str | os.PathLike, name: str) -> Path:
    """The file ``name`` of an adapter folder (``ValueError`` naming the folder when it has none)."""
    path = Path(pretrained_directory) / name
    if not path.is_file():
        raise ValueError(f"pretrained_directory: {str(path.parent)!r} has no {name}")
    return path


class UNetAdapter(ABC):
    """An adapter of the UNet: the trainer, its checkpoints and the final save call only these methods."""

    #: subfolder of a training checkpoint that holds the adapter
    checkpoint_folder: str
    #: the config file of a saved adapter (what tells the kinds apart)
    config_name: str
    #: the safetensors file of a saved adapter's weights
    weights_name: str

    def __init__(self, config: Any) -> None:
        self.config = config

    @classmethod
    def from_pretrained(cls, pretrained_directory: str | os.PathLike) -> UNetAdapter:
        """The adapter (its config) saved in ``pretrained_directory``."""
        return cls(cls._read_config(_saved_file(pretrained_directory, cls.config_name)))

    def add(self, unet: torch.nn.Module, seed: int) -> list[torch.nn.Parameter]:
        """Add the adapter to ``unet`` in place with initial weights that depend on ``seed`` only (the global RNG
        is left as it was); freeze everything else. Returns the adapter's parameters."""
        cuda_devices = sorted({p.device.index or 0 for p in unet.parameters() if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=cuda_devices):  # torch.manual_seed seeds CUDA too: restore it after
            torch.manual_seed(seed)
            return self._add(unet)

    def save(self, unet: torch.nn.Module, save_directory: str | os.PathLike) -> Path:
        """Write the config and the adapter's weights (detached to contiguous CPU tensors; nothing else) into
        ``save_directory``, each atomically; returns the weights file."""
        state = self._state_dict(unet)
        if not state:
            raise ValueError("unet: has no adapter weights to save")
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {key: value.detach().cpu().contiguous() for key, value in state.items()}
        weights = atomic_write_bytes(folder / self.weights_name, save(tensors, metadata={"format": "pt"}))
        config = json.dumps(self.config.to_dict(), indent=2, sort_keys=True, default=list)
        atomic_write_text(folder / self.config_name, config)
        return weights

    def load_weights(self, unet: torch.nn.Module, pretrained_directory: str | os.PathLike) -> None:
        """Load saved weights into a ``unet`` that already carries this adapter (strict: the same keys and shapes as
        its own adapter state, else ``ValueError``)."""
        current = self._state_dict(unet)
        state = load_file(str(_saved_file(pretrained_directory, self.weights_name)))
        if set(state) != set(current) or any(state[key].shape != current[key].shape for key in current):
            raise ValueError(
                f"pretrained_directory: adapter weights do not match this unet; missing "
                f"{sorted(set(current) - set(state))[:4]}, unexpected {sorted(set(state) - set(current))[:4]}"
            )
        self._load_state_dict(unet, state)

    @classmethod
    @abstractmethod
    def _read_config(cls, path: Path) -> Any:
        """The config saved in the file ``path``."""

    @abstractmethod
    def _add(self, unet: torch.nn.Module) -> list[torch.nn.Parameter]:
        """Add the adapter to ``unet`` in place and freeze everything else; returns the adapter's parameters."""

    @abstractmethod
    def _state_dict(self, unet: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The adapter's weights in ``unet``, keyed as saved."""

    @abstractmethod
    def _load_state_dict(self, unet: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
        """Load saved weights (their keys and shapes checked) into ``unet``."""


class TemporalLoRA(UNetAdapter):
    """Low-rank adapters (peft LoRA; the ``lora`` extra) on the UNet's temporal attention: StyleSV's lesson that
    motion wants its own low-rank capacity, trained while every pretrained weight stays frozen.

    Targets: ``to_q``, ``to_k``, ``to_v``, ``to_out.0`` of both attentions of every temporal transformer block
    (``TEMPORAL_ATTENTION_PROJECTIONS``); the temporal convolutions, ``proj_in`` / ``proj_out`` and feed-forwards stay
    unadapted: attention over frames is where motion is mixed. ``B`` starts at zero (peft's default), so the adapted
    model computes exactly what the base model computes until it is trained. Saved in peft's adapter format:
    ``adapter_config.json`` and ``adapter_model.safetensors`` (only the ``lora_A`` / ``lora_B`` weights).
    """

    checkpoint_folder, config_name, weights_name = "unet_lora", "adapter_config.json", "adapter_model.safetensors"

    @classmethod
    def _read_config(cls, path):
        from peft import LoraConfig

        return LoraConfig.from_pretrained(str(path.parent))

    def _add(self, unet):
        from peft import inject_adapter_in_model

        # peft leaves only the adapters trainable, and raises a ValueError when no module matches
        inject_adapter_in_model(self.config, unet)
        return [parameter for parameter in unet.parameters() if parameter.requires_grad]

    def _state_dict(self, unet):
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(unet)

    def _load_state_dict(self, unet, state):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(unet, state)


class LowRankTemporal(UNetAdapter):
    """Frame-modulated low-rank deltas on the same projections (:mod:`videocomposer.models.lowrank_temporal`), saved as
    ``lowrank_temporal_config.json`` and ``lowrank_temporal.safetensors`` (only ``down``, ``up``, ``anchors`` of each
    wrapper)."""

    checkpoint_folder = "unet_lowrank_temporal"
    config_name, weights_name = "lowrank_temporal_config.json", "lowrank_temporal.safetensors"

    @classmethod
    def _read_config(cls, path):
        return LowRankTemporalConfig(**json.loads(path.read_text()))

    def _add(self, unet):
        return add_lowrank_temporal(unet, self.config)

    def _state_dict(self, unet):
        """The wrappers' own parameters, keyed ``{module}.{down,up,anchors}``."""
        return {
            f"{name}.{key}": value
            for name, module in unet.named_modules()
            if isinstance(module, LowRankTemporalLinear)
            for key, value in module.named_parameters(recurse=False)
        }

    def _load_state_dict(self, unet, state):
        unet.load_state_dict(state, strict=False)  # the keys are checked by load_weights


def build_adapter(
    trainable: str, rank: int, lora_alpha: int | None, num_frames: int, anchor_spacing: float
) -> UNetAdapter | None:
    """The adapter of ``--trainable`` (``None`` for the ones that train UNet / STC weights). LoRA's ``lora_alpha``
    defaults to ``rank`` (scale 1). Low-rank anchors cover a training clip of ``num_frames`` (later frames get the
    static delta)."""
    if trainable == "lora":
        from peft import LoraConfig  # the optional `lora` extra

        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank: expected a positive int, got {rank!r}")
        alpha = rank if lora_alpha is None else lora_alpha
        return TemporalLoRA(LoraConfig(r=rank, lora_alpha=alpha, target_modules=TEMPORAL_ATTENTION_PROJECTIONS))
    if trainable == "lowrank_temporal":
        num_anchors = math.ceil((num_frames - 1) / anchor_spacing) + 3
        return LowRankTemporal(LowRankTemporalConfig(rank, num_anchors, anchor_spacing))
    return None


ADAPTERS: tuple[type[UNetAdapter], ...] = (TemporalLoRA, LowRankTemporal)


def load_adapter(unet: torch.nn.Module, pretrained_directory: str | os.PathLike) -> UNetAdapter:
    """Add the adapter saved in ``pretrained_directory`` (by a training run or :meth:`UNetAdapter.save`, of either
    kind) to ``unet`` (e.g. ``pipeline.unet``) and load its weights; returns it."""
    folder = Path(pretrained_directory)
    kinds = [kind for kind in ADAPTERS if (folder / kind.config_name).is_file()]
    if len(kinds) != 1:
        names = [kind.config_name for kind in ADAPTERS]
        raise ValueError(f"pretrained_directory: {str(folder)!r} holds {'none' if not kinds else 'more than one'} of "
                         f"the adapter configs {names}")  # fmt: skip
    adapter = kinds[0].from_pretrained(folder)
    adapter.add(unet, seed=0)  # the initial values are overwritten by the saved weights
    adapter.load_weights(unet, folder)
    return adapter
