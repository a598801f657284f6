"""The typed arguments of a run: one field per command-line option with the same default, and `train` taking them
built in Python (or an argparse Namespace, as before)."""

import argparse
import dataclasses

import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from safetensors.torch import load_file

from videocomposer.training.arguments import TrainingArguments, build_parser, parse_args
from videocomposer.training.trainer import train


def test_every_option_is_a_typed_field_with_the_command_lines_default():
    parser = build_parser()
    options = {action.dest: action for action in parser._actions if action.dest != "help"}
    fields = {field.name: field for field in dataclasses.fields(TrainingArguments)}
    assert options.keys() == fields.keys()
    required = {name for name, action in options.items() if action.required}
    assert required == {"pretrained_model_name_or_path", "train_data_dir", "captions_file"}
    argv = ["--pretrained_model_name_or_path", "m", "--train_data_dir", "d", "--captions_file", "c.csv"]
    parsed = build_parser().parse_args(argv)
    assert TrainingArguments(**vars(parsed)) == TrainingArguments("m", "d", "c.csv")  # every default the same
    argv += ["--stage", "t2v"]
    assert parse_args([*argv, "--rank", "3", "--trainable", "lora"]).rank == 3


def test_each_option_is_declared_once_by_its_field():
    actions = {action.dest: action for action in build_parser()._actions if action.dest != "help"}
    for item in dataclasses.fields(TrainingArguments):
        action = actions[item.name]
        assert action.help == item.metadata["help"] and action.help.strip()
        assert action.container.title == item.metadata["group"]
        assert action.choices == item.metadata.get("choices")
    argv = ["--pretrained_model_name_or_path", "m", "--train_data_dir", "d", "--captions_file", "c.csv"]
    parsed = parse_args([*argv, "--stage", "t2v", "--fps", "2.5", "--max_train_steps", "3", "--gradient_checkpointing",
                         "--validation_prompt", "a", "b", "--condition_dropout_overrides", "text=0.25"])  # fmt: skip
    assert (parsed.fps, parsed.max_train_steps, parsed.gradient_checkpointing) == (2.5, 3, True)
    assert parsed.validation_prompt == ["a", "b"] and parsed.condition_dropout_overrides == {"text": 0.25}
    assert type(parsed.max_train_steps) is int and type(parsed.fps) is float
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--rank", "2.5"])  # an int option refuses a float


def test_train_takes_python_arguments_and_a_namespace_alike(tmp_path, model_dir, make_videos, training_argv):
    captions = make_videos(tmp_path / "videos", 1)
    python = TrainingArguments(
        str(model_dir), str(captions.parent), str(captions), output_dir=str(tmp_path / "python"), stage="t2v",
        resolution=32, num_frames=4, fps=8, learning_rate=1e-3, lr_warmup_steps=0, max_train_steps=1,
    )  # fmt: skip
    namespace = argparse.Namespace(**{**dataclasses.asdict(python), "output_dir": str(tmp_path / "namespace")})
    results = []
    for args in (python, namespace):
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        results.append(train(args))
    assert results[0].losses == results[1].losses and len(results[0].losses) == 1
    a = load_file(str(tmp_path / "python" / "unet" / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(tmp_path / "namespace" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(a[key], b[key]) for key in a)
    with pytest.raises(ValueError, match="--rank: only used with --trainable lora or lowrank_temporal"):
        train(dataclasses.replace(python, rank=8))  # checked as on the command line
