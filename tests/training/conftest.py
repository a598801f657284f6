"""Fixtures for training tests: a tiny pipeline folder, tiny synthetic videos, and a helper that trains in-process."""

from collections.abc import Callable
from pathlib import Path

import pytest
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

import videocomposer
from pipelines import VideoComposerPipeline
from videocomposer.data.synthetic import write_dataset
from videocomposer.training.arguments import parse_args
from videocomposer.training.trainer import TrainingResult, train

NUM_FRAMES, RESOLUTION, FPS = 4, 32, 8
ACCELERATE_CONFIG_DIR = Path(videocomposer.__file__).resolve().parents[1] / "examples" / "accelerate"


@pytest.fixture
def model_dir(tmp_path: Path, make_tiny_components) -> Path:
    """A saved tiny `VideoComposerPipeline` (every release STC condition, style image encoder)."""
    path = tmp_path / "model"
    pipe = VideoComposerPipeline(**make_tiny_components())
    pipe.save_pretrained(str(path))
    return path


def make_videos(folder: Path, num_clips: int, num_frames: int = 8) -> Path:
    """`num_clips` synthetic 32x32 clips at 8 fps with `captions.csv`; returns the captions file. With
    `num_frames=NUM_FRAMES` every item of a clip is the same window (the whole clip)."""
    return write_dataset(folder, num_clips, num_frames=num_frames, height=RESOLUTION, width=RESOLUTION, fps=FPS)


def training_argv(model_dir: Path, captions: Path, output_dir: Path, *extra: str) -> list[str]:
    """Arguments of a tiny run: 4 frames of 32x32, batch 1, constant LR 1e-3 without warmup, seed 0."""
    return [
        "--pretrained_model_name_or_path", str(model_dir),
        "--train_data_dir", str(captions.parent),
        "--captions_file", str(captions),
        "--output_dir", str(output_dir),
        "--resolution", str(RESOLUTION),
        "--num_frames", str(NUM_FRAMES),
        "--fps", str(FPS),
        "--learning_rate", "1e-3",
        "--lr_warmup_steps", "0",
        "--seed", "0",
        *extra,
    ]  # fmt: skip


def run_training(argv: list[str]) -> TrainingResult:
    """Train in this process (accelerate's process-wide state reset first, as a fresh launch would have it)."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    return train(parse_args(argv))


@pytest.fixture(name="run_training")
def run_training_fixture() -> Callable[[list[str]], TrainingResult]:
    return run_training


@pytest.fixture(name="make_videos")
def make_videos_fixture() -> Callable[..., Path]:
    """The factory `make_videos(folder, num_clips, num_frames=8) -> captions file`."""
    return make_videos


@pytest.fixture(name="training_argv")
def training_argv_fixture() -> Callable[..., list[str]]:
    """The factory `training_argv(model_dir, captions, output_dir, *extra) -> argv`."""
    return training_argv


def launch_environment(name: str) -> tuple[object, dict[str, str]]:
    """What `accelerate launch --config_file examples/accelerate/{name}.yaml` validates (the config's values) and
    exports to its processes."""
    config = str(ACCELERATE_CONFIG_DIR / f"{name}.yaml")
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(["--config_file", config, "t.py"]))
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = list(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return defaults, env


@pytest.fixture(name="launch_environment")
def launch_environment_fixture() -> Callable[[str], tuple[object, dict[str, str]]]:
    """The function `launch_environment(config name) -> (config values, environment of the launched processes)`."""
    return launch_environment
