"""The adapters a run can train instead of UNet weights (``--trainable lora | lowrank_temporal``), behind one protocol:
``add`` (seeded), ``save`` and ``load_weights``, and the checkpoint folder they use. Both adapt the same modules, the
UNet's temporal attention projections (``TEMPORAL_ATTENTION_PROJECTIONS``), and write a config and their own weights
only (:mod:`videocomposer.models.adapter_files`)."""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch

from videocomposer.models.adapter_files import read_adapter_config
from videocomposer.models.lowrank_temporal import ADAPTER_CONFIG_NAME as LOWRANK_CONFIG_NAME
from videocomposer.models.lowrank_temporal import (
    LowRankTemporalConfig,
    add_lowrank_temporal,
    load_lowrank_temporal_weights,
    save_lowrank_temporal,
)


class UNetAdapter(ABC):
    """An adapter of the UNet: the trainer, its checkpoints and the final save call only these methods."""

    #: subfolder of a training checkpoint that holds the adapter
    checkpoint_folder: str
    #: the config file of a saved adapter (what tells the kinds apart)
    config_name: str

    def __init__(self, config: Any) -> None:
        self.config = config

    def add(self, unet: torch.nn.Module, seed: int) -> list[torch.nn.Parameter]:
        """Add the adapter to ``unet`` in place with initial weights that depend on ``seed`` only (the global RNG
        is left as it was); freeze everything else. Returns the adapter's parameters."""
        cuda_devices = sorted({p.device.index or 0 for p in unet.parameters() if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=cuda_devices):  # torch.manual_seed seeds CUDA too: restore it after
            torch.manual_seed(seed)
            return self._add(unet)

    @abstractmethod
    def _add(self, unet: torch.nn.Module) -> list[torch.nn.Parameter]: ...

    @classmethod
    @abstractmethod
    def from_pretrained(cls, pretrained_directory: str | os.PathLike) -> UNetAdapter:
        """The adapter (its config) saved in ``pretrained_directory``."""

    @abstractmethod
    def save(self, unet: torch.nn.Module, save_directory: str | os.PathLike) -> Path:
        """Write the config and the adapter's weights (nothing else) into ``save_directory``."""

    @abstractmethod
    def load_weights(self, unet: torch.nn.Module, pretrained_directory: str | os.PathLike) -> None:
        """Load saved weights into a ``unet`` that already carries this adapter (strict)."""


class TemporalLoRA(UNetAdapter):
    """peft LoRA on the temporal attention projections (:mod:`.temporal_lora`; needs the ``lora`` extra)."""

    checkpoint_folder, config_name = "unet_lora", "adapter_config.json"

    @classmethod
    def from_pretrained(cls, pretrained_directory):
        from peft import LoraConfig

        return cls(LoraConfig.from_pretrained(str(pretrained_directory)))

    def _add(self, unet):
        from .temporal_lora import add_temporal_lora

        return add_temporal_lora(unet, self.config)

    def save(self, unet, save_directory):
        from .temporal_lora import save_temporal_lora

        return save_temporal_lora(unet, self.config, save_directory)

    def load_weights(self, unet, pretrained_directory):
        from .temporal_lora import load_temporal_lora_weights

        load_temporal_lora_weights(unet, pretrained_directory)


class LowRankTemporal(UNetAdapter):
    """Frame-modulated low-rank deltas on the same projections (:mod:`videocomposer.models.lowrank_temporal`)."""

    checkpoint_folder, config_name = "unet_lowrank_temporal", LOWRANK_CONFIG_NAME

    @classmethod
    def from_pretrained(cls, pretrained_directory):
        return cls(LowRankTemporalConfig(**read_adapter_config(pretrained_directory, cls.config_name)))

    def _add(self, unet):
        return add_lowrank_temporal(unet, self.config)

    def save(self, unet, save_directory):
        return save_lowrank_temporal(unet, self.config, save_directory)

    def load_weights(self, unet, pretrained_directory):
        load_lowrank_temporal_weights(unet, pretrained_directory)


def build_adapter(
    trainable: str, rank: int, lora_alpha: int | None, num_frames: int, anchor_spacing: float
) -> UNetAdapter | None:
    """The adapter of ``--trainable`` (``None`` for the ones that train UNet / STC weights). Low-rank anchors cover a
    training clip of ``num_frames`` (later frames get the static delta)."""
    if trainable == "lora":
        from .temporal_lora import temporal_lora_config  # peft: the optional `lora` extra

        return TemporalLoRA(temporal_lora_config(rank, lora_alpha))
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
