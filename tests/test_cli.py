"""The `videocomposer` command line: sub-command discovery, help, `extract`, and its errors."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

import videocomposer
from videocomposer.cli import build_parser, command_parsers, main
from videocomposer.data.synthetic import write_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    write_dataset(root, num_clips=2, seed=0, fps=8, num_frames=16, height=64, width=64)
    return root


def test_every_command_module_is_registered():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert "extract" in commands


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: videocomposer" in capsys.readouterr().out


def test_extract_writes_pipeline_keyword_arguments(clips, tmp_path, capsys):
    video = sorted(clips.glob("*.mp4"))[0]
    out = tmp_path / "conds.safetensors"
    rc = main(["extract", str(video), "--conditions", "motion", "canny", "--frames", "4", "--fps", "4",
               "--height", "64", "--width", "64", "--output", str(out)])  # fmt: skip
    assert rc == 0
    tensors = load_file(out)
    assert tensors["motion_vectors"].shape == (1, 2, 4, 64, 64)
    assert tensors["sketch"].shape == (1, 1, 4, 96, 96)  # non-motion conditions at 1.5x, as the original
    assert 0 <= tensors["sketch"].min() and tensors["sketch"].max() <= 1
    assert not list(tmp_path.glob("*.tmp"))
    assert "wrote" in capsys.readouterr().out


def test_extract_dataset_writes_a_resumable_cache(clips, tmp_path, capsys):
    args = ["extract", "--dataset", str(clips), "--captions-file", str(clips / "captions.csv"), "--conditions",
            "canny", "--frames", "4", "--height", "32", "--width", "32", "--cache", str(tmp_path / "cache")]  # fmt: skip
    assert main(args) == 0
    assert "2 written, 0 existing" in capsys.readouterr().out
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2
    assert main(args) == 0
    assert "0 written, 2 existing" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["extract", "missing.mp4", "--conditions", "motion", "--output", "x.safetensors"], "no such file"),
        (["extract", "--conditions", "motion"], "give a video and --output"),
        (["extract", "--dataset", "nowhere", "--conditions", "motion"], "--dataset needs"),
    ],
)
def test_extract_errors_are_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_extract_passes_a_user_mask_to_the_mask_extractor(clips, tmp_path):
    import numpy as np
    from PIL import Image

    hole = np.zeros((64, 64), np.uint8)
    hole[:, 32:] = 255
    Image.fromarray(hole).save(tmp_path / "hole.png")
    out = tmp_path / "masked.safetensors"
    video = sorted(clips.glob("*.mp4"))[0]
    rc = main(["extract", str(video), "--conditions", "mask", "--mask", str(tmp_path / "hole.png"), "--frames", "2",
               "--height", "64", "--width", "64", "--output", str(out)])  # fmt: skip
    assert rc == 0
    mask = load_file(out)["mask"]
    assert mask.shape == (1, 1, 2, 96, 96)
    assert mask[..., :, :40].max() == 0 and mask[..., :, 56:].min() == 1


def test_model_options_need_their_condition(capsys):
    assert (
        main(["extract", "v.mp4", "--conditions", "motion", "--depth-model", "dpt", "--output", "o.safetensors"]) == 2
    )
    assert "--depth-model is given but --conditions has none of ['depth']" in capsys.readouterr().err


@pytest.mark.parametrize("condition", ["sketch", "single_sketch"])
def test_sketch_without_weights_is_one_line_naming_the_option_and_canny(clips, tmp_path, capsys, condition):
    video = sorted(clips.glob("*.mp4"))[0]
    argv = ["extract", str(video), "--conditions", condition, "--output", str(tmp_path / "o.safetensors")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"--conditions {condition} needs --sketch-model PATH" in err and "`--conditions canny`" in err


def test_depth_without_a_model_is_one_line_naming_the_option(clips, tmp_path, capsys):
    video = sorted(clips.glob("*.mp4"))[0]
    assert main(["extract", str(video), "--conditions", "depth", "--output", str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--conditions depth needs --depth-model: a local DPT folder" in err


def test_depth_model_not_cached_while_offline_fails_without_touching_the_network(clips, tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    video = sorted(clips.glob("*.mp4"))[0]
    argv = ["extract", str(video), "--conditions", "depth", "--depth-model", "nobody/no-such-dpt-model",
            "--output", str(tmp_path / "o.safetensors")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--depth-model: cannot load 'nobody/no-such-dpt-model': not in the local Hub cache (offline)" in err
    assert not (tmp_path / "o.safetensors").exists()


def test_depth_model_path_that_does_not_exist_is_reported_before_extraction(clips, tmp_path, capsys):
    video = sorted(clips.glob("*.mp4"))[0]
    argv = ["extract", str(video), "--conditions", "depth", "--depth-model", str(tmp_path / "dpt"),
            "--output", str(tmp_path / "o.safetensors")]  # fmt: skip
    assert main(argv) == 2
    assert f"--depth-model: no such folder: {tmp_path / 'dpt'}" in capsys.readouterr().err


def test_extract_with_a_depth_model_folder_writes_its_depth(clips, tmp_path):
    from transformers import DPTConfig, DPTForDepthEstimation

    config = DPTConfig(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=16,
                       image_size=32, patch_size=16, neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8,
                       backbone_out_indices=[0, 1, 2, 3], head_in_index=-1)  # fmt: skip
    DPTForDepthEstimation(config).save_pretrained(tmp_path / "dpt")
    video = sorted(clips.glob("*.mp4"))[0]
    out = tmp_path / "d.safetensors"
    argv = ["extract", str(video), "--conditions", "depth", "--depth-model", str(tmp_path / "dpt"), "--frames", "2",
            "--height", "32", "--width", "32", "--output", str(out)]  # fmt: skip
    assert main(argv) == 0
    depth = load_file(out)["depth"]
    assert depth.shape == (1, 1, 2, 48, 48) and depth.min() >= 0 and depth.max() <= 10


@pytest.mark.parametrize("extension", ["png", "jpg"])
def test_an_image_given_as_the_video_is_named_an_image(tmp_path, capsys, extension):
    image = tmp_path / f"frame.{extension}"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    argv = ["extract", str(image), "--conditions", "motion", "--output", str(tmp_path / "o.safetensors")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    kind = {"png": "png", "jpg": "jpeg"}[extension]
    assert f"this is a still image ({kind}), not a video" in err and "--image/--sketch/--style" in err
    assert "only 1 frames" not in err


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"videocomposer {videocomposer.__version__}"


@pytest.mark.parametrize(
    ("command", "required"),
    [
        ("extract", ["--conditions", "motion"]),
        ("generate", []),
        ("demo", []),
        ("convert", ["--unet", "u", "--sd-checkpoint", "s", "--open-clip", "o", "--output", "out"]),
    ],
)
def test_an_unknown_option_prints_the_commands_usage(command, required, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, *required, "--no-such-option"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: videocomposer {command} ")
    assert "unrecognized arguments: --no-such-option" in err


def test_every_option_of_every_command_has_help():
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, parser in command_parsers(build_parser()).items()
        for action in parser._actions
        if not action.help
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("extract", ["sampled from each video (default: the model's)", "frames per second (default: 4.0)"]),
        ("generate", ["denoising steps (`videocomposer demo` uses 30) (default: 50)", "default: 3.0 with the demo"]),
        ("demo", ["`default_guidance_scale` (default: 3.0)", "denoising steps per video (default: 30)"]),
    ],
)
def test_help_shows_the_defaults(command, expected, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for text in expected:
        assert text in out
    assert "(default: None)" not in out


def test_help_imports_no_heavy_library():
    code = ("import sys; from videocomposer.cli import main\n"
            "for argv in (['--help'], ['extract', '--help'], ['generate', '--help'], ['demo', '--help'], ['train', '--help'], ['eval', '--help'], ['app', '--help']):\n"
            "    try: main(argv)\n"
            "    except SystemExit: pass\n"
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'accelerate') if m in sys.modules))")  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_train_forwards_its_arguments_to_the_training_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    assert "--pretrained_model_name_or_path" in capsys.readouterr().out
