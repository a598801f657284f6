"""Training checkpoints that are never half-written: ``accelerator.save_state`` into a hidden temporary folder, renamed
to ``checkpoint-{step}`` when complete; old ones pruned to ``checkpoints_total_limit`` (renamed away, then deleted).

A checkpoint holds what ``accelerator.save_state`` writes for the prepared objects (optimizer, LR scheduler, the RNG
states of every process in ``random_states_{rank}.pkl``), every object given to
``accelerator.register_for_checkpointing`` (the EMA), and, written by every process, its own :class:`TrainingState`
(``training_state_{rank}.pt``), so a resumed N-process run continues the same loss curves. The trained models are
written by :func:`register_model_hooks` in diffusers format (``unet/``, ``stc_encoder/``, loadable with
``from_pretrained``), or, for an adapter run, as the adapter weights only (``unet_lora/``, ``unet_lowrank_temporal/``:
the adapter's ``checkpoint_folder``); under FSDP or DeepSpeed, accelerate writes them sharded, one file per rank.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType

if TYPE_CHECKING:
    from .adapters import UNetAdapter

CHECKPOINT_PREFIX = "checkpoint-"
_CHECKPOINT_RE = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")
_TEMPORARY_PREFIX = f".{CHECKPOINT_PREFIX}"  # ".checkpoint-{step}.tmp" while writing, ".deleting" while pruning
TRAINING_STATE_NAME = "training_state_{rank}.pt"
EMA_SHARD_NAME = "ema_{rank}.pt"  # under FSDP / DeepSpeed, where each rank's EMA covers its own shards
# Engines whose save_state writes the (sharded) model weights itself; the model hooks then write no diffusers folder.
SHARDED_ENGINES = (DistributedType.FSDP, DistributedType.DEEPSPEED)


@dataclass
class TrainingState:
    """The loop's own resumable state, a copy per process (:func:`register_per_rank_state`): optimizer steps taken,
    the generator of noise, timesteps and dropout, and the data order's ``seed`` (a resumed run must share it)."""

    global_step: int
    generator: torch.Generator
    seed: int

    def state_dict(self) -> dict:
        return {"global_step": self.global_step, "generator": self.generator.get_state(), "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state["seed"] != self.seed:
            raise ValueError(
                f"--seed: the checkpoint was trained with --seed {state['seed']}, this run has {self.seed}"
            )
        self.global_step = int(state["global_step"])
        self.generator.set_state(state["generator"])


def register_per_rank_state(accelerator: Accelerator, obj: Any, name: str) -> None:
    """Make ``save_state`` / ``load_state`` write and read ``obj.state_dict()`` on every process, one file per rank
    (``name`` with ``{rank}``), as accelerate does for the RNG states; ``torch.load(..., weights_only=True)``."""
    filename = name.format(rank=accelerator.process_index)

    def save_hook(models: list[torch.nn.Module], weights: list[dict], output_dir: str) -> None:
        torch.save(obj.state_dict(), Path(output_dir) / filename)

    def load_hook(models: list[torch.nn.Module], input_dir: str) -> None:
        path = Path(input_dir) / filename
        if not path.is_file():
            saved = sorted(p.name for p in Path(input_dir).glob(name.format(rank="*")))
            raise ValueError(
                f"--resume_from_checkpoint: {input_dir} has no {filename} (it holds {saved}): resume with the number "
                f"of processes that saved it, not {accelerator.num_processes}"
            )
        obj.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def register_model_hooks(
    accelerator: Accelerator,
    components: dict[str, torch.nn.Module],
    adapter: UNetAdapter | None = None,
) -> None:
    """Make ``save_state`` / ``load_state`` write and read the prepared models as diffusers folders (or, with an
    ``adapter``, the UNet's adapter weights only) instead of accelerate's flat ``model*.safetensors``.

    ``components`` maps a folder name to the model as it was before ``accelerator.prepare``; a prepared model (DDP,
    FSDP, DeepSpeed, compiled) is matched to it by identity after ``accelerator.unwrap_model``, so any wrapper works,
    and peft adapters injected in place stay on the model. Under FSDP and DeepSpeed these hooks write nothing.
    """

    def component(model: torch.nn.Module) -> tuple[str, torch.nn.Module]:
        """The folder name of a prepared model and the model it wraps."""
        unwrapped = accelerator.unwrap_model(model)
        for name, candidate in components.items():
            if unwrapped is candidate:
                return name, unwrapped
        raise TypeError(f"checkpoint hooks: prepared model {type(unwrapped).__name__} is none of {sorted(components)}")

    def save_hook(models: list[torch.nn.Module], weights: list[dict], output_dir: str) -> None:
        if accelerator.distributed_type in SHARDED_ENGINES:
            return
        if accelerator.is_main_process:
            for model in models:
                name, model = component(model)
                if name == "unet" and adapter is not None:
                    adapter.save(model, Path(output_dir) / adapter.checkpoint_folder)
                else:
                    model.save_pretrained(str(Path(output_dir) / name))
        weights.clear()  # written above: accelerate must not write them again

    def load_hook(models: list[torch.nn.Module], input_dir: str) -> None:
        # Under FSDP / DeepSpeed accelerate loads the sharded weights itself and passes no model here.
        while models:
            name, model = component(models.pop())
            if name == "unet" and adapter is not None:
                adapter.load_weights(model, Path(input_dir) / adapter.checkpoint_folder)
            else:
                loaded = type(model).from_pretrained(input_dir, subfolder=name)
                model.load_state_dict(loaded.state_dict())

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints in ``output_dir``, oldest (lowest step) first (none when it does not exist)."""
    found = [
        (int(m.group(1)), p)
        for p in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*")
        if p.is_dir() and (m := _CHECKPOINT_RE.match(p.name))
    ]
    return [path for _, path in sorted(found)]


def resolve_checkpoint(resume_from_checkpoint: str, output_dir: str | os.PathLike) -> Path | None:
    """``"latest"`` -> the newest complete checkpoint in ``output_dir`` (``None`` if there is none); a path -> that
    folder, which must exist."""
    if resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(resume_from_checkpoint)
    if not path.is_dir():
        raise ValueError(f"--resume_from_checkpoint: {resume_from_checkpoint!r} is neither 'latest' nor a folder")
    return path


def remove_incomplete_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Delete temporary folders a killed run left behind; returns what was removed."""
    stale = [p for p in Path(output_dir).glob(f"{_TEMPORARY_PREFIX}*") if p.is_dir()]  # none without output_dir
    for path in stale:
        shutil.rmtree(path)
    return stale


def save_checkpoint(
    accelerator: Accelerator, output_dir: str | os.PathLike, global_step: int, checkpoints_total_limit: int | None
) -> Path:
    """Save the full training state as ``output_dir/checkpoint-{global_step}``; call on every process. The oldest
    checkpoints are pruned first to leave at most ``checkpoints_total_limit`` with this one."""
    output_dir = Path(output_dir)
    final = output_dir / f"{CHECKPOINT_PREFIX}{global_step}"
    temporary = output_dir / f"{_TEMPORARY_PREFIX}{global_step}.tmp"
    if accelerator.is_main_process:
        if checkpoints_total_limit is not None:
            existing = [p for p in list_checkpoints(output_dir) if p != final]
            for old in existing[: max(0, len(existing) - checkpoints_total_limit + 1)]:
                _delete_checkpoint(old)
        if temporary.exists():
            shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():  # the same step saved again (e.g. a rerun without resuming): replace it whole
            _delete_checkpoint(final)
        os.replace(temporary, final)
    accelerator.wait_for_everyone()
    return final


def _delete_checkpoint(path: Path) -> None:
    """Rename ``path`` to a temporary name (so it is never seen half-deleted), then delete it."""
    doomed = path.with_name(f"{_TEMPORARY_PREFIX}{path.name}.deleting")
    os.replace(path, doomed)
    shutil.rmtree(doomed)
