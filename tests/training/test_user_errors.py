"""User errors of a training run are one line, found before any model loads: bad paths, a cache written with other
settings, no usable clip, fp16 on CPU, options that would have no effect; under `videocomposer train`,
`python -m videocomposer.train` and `accelerate launch`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from videocomposer.cli import main as cli_main
from videocomposer.data.video_dataset import VideoTextDataset, write_cache_index, write_condition_cache
from videocomposer.train import main as train_main
from videocomposer.training.arguments import ONLY_USED_WITH, build_parser, parse_args

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--trainable", "temporal", "--rank", "8"), "--rank: only used with --trainable lora or lowrank_temporal"),
        (("--trainable", "lowrank_temporal", "--lora_alpha", "8"), "--lora_alpha: only used with --trainable lora"),
        (("--ema_decay", "0.99",), "--ema_decay: only used with --use_ema"),
        (("--max_train_steps", "5", "--num_train_epochs", "3"), "--num_train_epochs: only used with no --max_train"),
        (("--validation_steps", "5", "--validation_guidance_scale", "3"),
         "--validation_steps, --validation_guidance_scale: only used with --validation_prompt"),
        (("--tracker_project_name", "x"), "--tracker_project_name: only used with --report_to tensorboard or wandb"),
        (("--hub_model_id", "me/x"), "--hub_model_id: only used with --push_to_hub"),
        (("--r1_gamma", "1", "--rank", "2"), "--rank: only used with --trainable lora or lowrank_temporal; "
                                              "--r1_gamma: only used with --adversarial_weight > 0"),
    ],
)  # fmt: skip
def test_options_without_effect_are_refused_alike(tmp_path, extra, message):
    base = ["--pretrained_model_name_or_path", "m", "--train_data_dir", str(tmp_path), "--captions_file", "c.csv",
            "--stage", "t2v"]  # fmt: skip
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_args([*base, *extra])
    assert parse_args([*base, "--trainable", "lora", "--rank", "8", "--lora_alpha", "4"]).rank == 8  # with effect


def test_help_shows_every_default_once(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for action in parser._actions:
        if action.default not in (None, False, "==SUPPRESS==") and action.option_strings:
            assert action.help, action.dest
            assert text.count(f"{action.help} (default: {action.default})") == 1, action.dest
    assert set(ONLY_USED_WITH) <= {action.dest for action in parser._actions}


def tiny_argv(model_dir, captions, output_dir, *extra) -> list[str]:
    return ["--pretrained_model_name_or_path", str(model_dir), "--train_data_dir", str(captions.parent),
            "--captions_file", str(captions), "--output_dir", str(output_dir), "--resolution", "32",
            "--num_frames", "4", "--fps", "8", "--max_train_steps", "1", *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "typo"}, r"--pretrained_model_name_or_path: no such folder '.*typo' \(nor a Hub repo id\)"),
        ({"model": "videos"}, r"--pretrained_model_name_or_path: '.*videos' has no model_index.json"),
        ({"output": "file/out"}, r"--output_dir: .*file is a file, not a folder"),
        ({"extra": ("--num_frames", "40")}, r"none of the 2 clips is usable \(the first: .* too short for "
                                             r"num_frames=40 at fps=8.0 \(it needs 4.94 s\)\)"),
        ({"extra": ("--mixed_precision", "fp16")}, "--mixed_precision fp16: not supported on CPU; use bf16 on CPU"),
    ],
)  # fmt: skip
def test_setup_errors_are_one_line_before_any_model_loads(
    tmp_path, make_videos, run_training, capsys, change, message
):
    captions = make_videos(tmp_path / "videos", 2)
    (tmp_path / "file").write_text("not a folder")
    model = tmp_path / change.get("model", "no-model-needed")
    (tmp_path / "no-model-needed").mkdir()
    (tmp_path / "no-model-needed" / "model_index.json").write_text("{}")  # never loaded: the error comes first
    argv = tiny_argv(
        model, captions, tmp_path / change.get("output", "out"), "--stage", "t2v", *change.get("extra", ())
    )
    with pytest.raises(ValueError, match=message):
        run_training(argv)
    capsys.readouterr()
    assert train_main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("videocomposer train: error: ")


def test_a_cache_with_other_settings_is_refused_up_front(tmp_path, make_videos, run_training):
    captions = make_videos(tmp_path / "videos", 2)
    dataset = VideoTextDataset(captions.parent, captions, num_frames=4, fps=8, resolution=32, conditions=["canny"])
    write_condition_cache(dataset, tmp_path / "cache", progress=False)
    model = tmp_path / "model"  # never loaded
    model.mkdir()
    (model / "model_index.json").write_text("{}")
    argv = tiny_argv(model, captions, tmp_path / "out", "--conditions_cache_dir", str(tmp_path / "cache"),
                     "--conditions", "canny")  # fmt: skip
    with pytest.raises(ValueError, match=r"has no index.json; write it with `videocomposer extract --dataset"):
        run_training(argv)
    write_cache_index(dataset, tmp_path / "cache")
    argv[argv.index("--num_frames") + 1] = "2"
    argv[argv.index("--resolution") + 1] = "24"
    expected = r"written with other settings: --num_frames 2 but the cache has 4; --resolution 24 but the cache has 32"
    with pytest.raises(ValueError, match=expected):
        run_training(argv)
    index = json.loads((tmp_path / "cache" / "index.json").read_text())
    assert index["settings"]["num_frames"] == 4


def run_cli(*command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT, timeout=300)


def test_a_missing_folder_is_one_line_under_every_entry_point(tmp_path, make_videos):
    captions = make_videos(tmp_path / "videos", 1)
    argv = tiny_argv(tmp_path / "no-such-model", captions, tmp_path / "out", "--stage", "t2v")  # data checked first
    argv[argv.index("--train_data_dir") + 1] = str(tmp_path / "missing")
    expected = f"videocomposer train: error: --train_data_dir: '{tmp_path / 'missing'}' is not a folder"
    assert cli_main(["train", *argv]) == 2
    module = run_cli(sys.executable, "-m", "videocomposer.train", *argv)
    assert module.returncode == 2 and module.stderr.strip() == expected
    launch = run_cli(sys.executable, "-m", "accelerate.commands.launch", "--quiet", "--cpu", "--num_processes", "1",
                     "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                     "-m", "videocomposer.train", *argv)  # fmt: skip
    assert launch.returncode != 0 and launch.stderr.strip() == expected
