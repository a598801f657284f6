"""examples/accelerate/*.yaml go through accelerate's own launcher code (config parser, argument validation, the
environment it hands to the processes) and its plugins; the FSDP wrap classes exist in our UNet. DeepSpeed itself is
not needed for this (nor installed here); the DeepSpeed configs are not run."""

from pathlib import Path

import pytest
from accelerate.commands.launch import launch_command_parser
from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin

import videocomposer
from videocomposer.models.unet_3d_blocks import (
    VideoComposerDownBlock3D,
    VideoComposerMidBlock3D,
    VideoComposerUpBlock3D,
)

CONFIG_DIR = Path(videocomposer.__file__).resolve().parents[1] / "examples" / "accelerate"
EXPECTED = {
    "ddp": DistributedType.MULTI_GPU,
    "fsdp": DistributedType.FSDP,
    "deepspeed_zero2": DistributedType.DEEPSPEED,
    "deepspeed_zero3": DistributedType.DEEPSPEED,
}


def test_every_config_is_there_and_every_key_is_known_to_accelerate(launch_environment):
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")) == sorted(EXPECTED)
    dests = {action.dest for action in launch_command_parser()._actions}
    for name, distributed_type in EXPECTED.items():
        defaults, env = launch_environment(name)
        assert defaults.distributed_type == distributed_type
        assert defaults.mixed_precision == "bf16" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
        # accelerate copies unknown keys silently: a misspelt option would be ignored
        unknown = [key for key in defaults.fsdp_config if key not in dests]
        unknown += [key for key in defaults.deepspeed_config if key not in dests and key != "gradient_clipping"]
        assert not unknown, f"{name}: keys accelerate does not know: {unknown}"


def test_fsdp_config_wraps_the_unet_blocks(monkeypatch, make_tiny_components, launch_environment):
    _, env = launch_environment("fsdp")
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_STATE_DICT_TYPE"] == "SHARDED_STATE_DICT"
    for key, value in env.items():
        if key.startswith(("FSDP_", "ACCELERATE_")):
            monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 1 and plugin.use_orig_params
    unet = make_tiny_components()["unet"]
    plugin.set_auto_wrap_policy(unet)  # raises if a class to wrap is not in the model
    wrapped = {type(m) for m in unet.modules() if plugin.auto_wrap_policy(module=m, recurse=False, nonwrapped_numel=0)}
    assert wrapped == {VideoComposerDownBlock3D, VideoComposerMidBlock3D, VideoComposerUpBlock3D}


@pytest.mark.parametrize(("name", "stage"), [("deepspeed_zero2", 2), ("deepspeed_zero3", 3)])
def test_deepspeed_configs_build_the_plugin(monkeypatch, name, stage, launch_environment):
    _, env = launch_environment(name)
    for key, value in env.items():
        if key.startswith("ACCELERATE_"):
            monkeypatch.setenv(key, value)
    config = DeepSpeedPlugin().deepspeed_config
    assert config["zero_optimization"]["stage"] == stage
    assert config["gradient_clipping"] == 1.0  # the trainer's --max_grad_norm default
    if stage == 3:  # the final folder is gathered from the shards
        assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
