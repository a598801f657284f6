"""The save/load hooks of `accelerator.save_state` without a launch: prepared models are recognised through
`unwrap_model` whatever wraps them; under FSDP / DeepSpeed accelerate's sharded files are left alone; every rank writes
and reads its own training state."""

from types import SimpleNamespace

import pytest
import torch
from accelerate.utils import DistributedType
from safetensors.torch import load_file

from videocomposer.training.checkpointing import (
    TRAINING_STATE_NAME,
    TrainingState,
    register_model_hooks,
    register_per_rank_state,
)


class Wrapper(torch.nn.Module):
    """Stands in for DDP / FSDP / DeepSpeed's engine: holds the model as `.module`."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module


def fake_accelerator(distributed_type: DistributedType, process_index: int = 0, num_processes: int = 1):
    hooks = {}
    return SimpleNamespace(
        distributed_type=distributed_type,
        process_index=process_index,
        num_processes=num_processes,
        is_main_process=process_index == 0,
        unwrap_model=lambda model: model.module if isinstance(model, Wrapper) else model,
        register_save_state_pre_hook=lambda hook: hooks.setdefault("save", hook),
        register_load_state_pre_hook=lambda hook: hooks.setdefault("load", hook),
        hooks=hooks,
    )


def test_wrapped_models_are_saved_as_diffusers_folders_and_loaded_back(tmp_path, make_tiny_components):
    components = make_tiny_components()
    unet, stc = components["unet"], components["stc_encoder"]
    accelerator = fake_accelerator(DistributedType.MULTI_CPU)
    register_model_hooks(accelerator, {"unet": unet, "stc_encoder": stc}, None)
    weights = [{"flat": torch.zeros(1)}, {"flat": torch.zeros(1)}]
    accelerator.hooks["save"]([Wrapper(unet), stc], weights, str(tmp_path))
    assert weights == []  # accelerate must not write the flat copies too
    saved = load_file(str(tmp_path / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(saved[key], value) for key, value in unet.state_dict().items())
    assert (tmp_path / "stc_encoder" / "config.json").is_file()

    expected = {key: value.clone() for key, value in stc.state_dict().items()}
    with torch.no_grad():
        for parameter in stc.parameters():
            parameter.add_(1.0)
    models = [Wrapper(stc)]
    accelerator.hooks["load"](models, str(tmp_path))
    assert models == [] and all(torch.equal(stc.state_dict()[key], value) for key, value in expected.items())

    with pytest.raises(TypeError, match=r"prepared model Linear is none of \['stc_encoder', 'unet'\]"):
        accelerator.hooks["save"]([torch.nn.Linear(1, 1)], [], str(tmp_path / "other"))


@pytest.mark.parametrize("engine", [DistributedType.FSDP, DistributedType.DEEPSPEED])
def test_sharded_engines_keep_their_own_files(tmp_path, make_tiny_components, engine):
    unet = make_tiny_components()["unet"]
    accelerator = fake_accelerator(engine)
    register_model_hooks(accelerator, {"unet": unet}, None)
    accelerator.hooks["save"]([Wrapper(unet)], [], str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # accelerate wrote the shards; no diffusers folder from a shard


def test_every_rank_saves_and_restores_its_own_training_state(tmp_path):
    states = []
    for rank in (0, 1):
        generator = torch.Generator().manual_seed(0)
        torch.rand(3 + rank, generator=generator)  # ranks in different states
        state = TrainingState(7, generator, seed=0)
        accelerator = fake_accelerator(DistributedType.MULTI_CPU, rank, num_processes=2)
        register_per_rank_state(accelerator, state, TRAINING_STATE_NAME)
        accelerator.hooks["save"]([], [], str(tmp_path))
        states.append((accelerator, state, generator.get_state().clone()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["training_state_0.pt", "training_state_1.pt"]

    for accelerator, state, saved in states:
        torch.rand(10, generator=state.generator)
        state.global_step = 0
        accelerator.hooks["load"]([], str(tmp_path))
        assert state.global_step == 7 and torch.equal(state.generator.get_state(), saved)
    assert not torch.equal(states[0][2], states[1][2])

    third = fake_accelerator(DistributedType.MULTI_CPU, 2, num_processes=3)
    register_per_rank_state(third, TrainingState(0, torch.Generator(), seed=0), TRAINING_STATE_NAME)
    with pytest.raises(ValueError, match=r"has no training_state_2.pt .*number of processes that saved it, not 3"):
        third.hooks["load"]([], str(tmp_path))
