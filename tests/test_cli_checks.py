"""`generate` and `extract` refuse bad input up front (one line, exit 2, before any model loads) and share defaults."""

import json
import os
import shutil

import numpy as np
import PIL.Image
import pytest
import torch
from safetensors.torch import load_file, save_file

from videocomposer.cli import build_parser, command_parsers, main
from videocomposer.commands import _checks
from videocomposer.data.synthetic import encode_mp4, generate_clip
from videocomposer.demo import DEMO_MODEL_DIR


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 64x64 clip of 8 frames at 4 fps (2 s)."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    path.write_bytes(encode_mp4(generate_clip(3, 8, 64, 64, num_objects=1).frames, fps=4))
    return path


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def generate_argv(tmp_path, *extra):
    return ["generate", "--prompt", "a red circle", "--output", str(tmp_path / "o.mp4"), *extra]


def write_image(path, width, height, value=255):
    PIL.Image.fromarray(np.full((height, width), value, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_guidance_must_be_a_finite_number(tmp_path, capsys, no_model_loading, value):
    assert main(generate_argv(tmp_path, f"--guidance={value}")) == 2
    assert f"--guidance: expected a number >= 0 (finite), got {float(value)}" in one_error(capsys)


def test_a_size_past_memory_is_refused_at_once_with_the_limit(tmp_path, capsys, no_model_loading, monkeypatch):
    assert main(generate_argv(tmp_path, "--height", "100000", "--width", "100000")) == 2
    err = one_error(capsys)
    assert "--height/--width: a 8-frame 100000x100000 video needs at least" in err
    assert "GiB available; the limit is height x width <=" in err and "--frame-chunk-size" in err
    # the rule: 2 x 4 bytes x decoded frames x the VAE's first block_out_channels (16 for the demo) per pixel
    monkeypatch.setattr(_checks, "available_memory", lambda: 2 * 4 * 8 * 16 * 128 * 128)
    assert main(generate_argv(tmp_path, "--height", "128", "--width", "136")) == 2
    assert "the limit is height x width <= 16384 pixels (about 128x128)" in one_error(capsys)
    with pytest.raises(AssertionError, match="the model was loaded"):  # half the frames decoded at once: it fits
        main(generate_argv(tmp_path, "--height", "128", "--width", "136", "--frame-chunk-size", "4"))


def test_extract_refuses_a_size_past_memory_before_reading_the_video(tmp_path, capsys):
    (tmp_path / "v.mp4").write_bytes(b"")  # never opened
    argv = ["extract", str(tmp_path / "v.mp4"), "--conditions", "canny", "--height", "100000", "--width", "100000",
            "--output", str(tmp_path / "c.safetensors")]  # fmt: skip
    assert main(argv) == 2
    err = one_error(capsys)
    assert "--height/--width: a 8-frame 100000x100000 video needs at least" in err
    assert "x 7 values of RGB at 1.5x the size x 100000x100000 pixels" in err and "extract fewer --frames" in err


def test_check_video_memory_names_the_largest_square():
    _checks.check_video_memory(8, 64, 64, channels=16, available=2 * 4 * 8 * 16 * 64 * 64)  # exactly fits
    with pytest.raises(ValueError, match=r"<= 4096 pixels \(about 64x64\)"):
        _checks.check_video_memory(8, 64, 72, channels=16, available=2 * 4 * 8 * 16 * 64 * 64)
    _checks.check_video_memory(8, 64, 72, channels=16, decoded_frames=1, available=2 * 4 * 8 * 16 * 64 * 64)


def test_generate_refuses_a_mask_of_another_aspect_before_loading(tmp_path, capsys, no_model_loading, clip):
    mask = write_image(tmp_path / "wide.png", 128, 64)
    assert main(generate_argv(tmp_path, "--mask", str(mask), "--masked-from", str(clip))) == 2
    assert f"--mask: the mask is 128x64 but --masked-from {clip} is 64x64 (width x height)" in one_error(capsys)


def test_extract_refuses_a_mask_of_another_aspect(tmp_path, capsys, clip):
    mask = write_image(tmp_path / "wide.png", 128, 64)
    argv = ["extract", str(clip), "--conditions", "mask", "--mask", str(mask), "--output",
            str(tmp_path / "c.safetensors")]  # fmt: skip
    assert main(argv) == 2
    assert f"--mask: the mask is 128x64 but video {clip} is 64x64 (width x height)" in one_error(capsys)
    assert not (tmp_path / "c.safetensors").exists()


@pytest.mark.parametrize("option", ["--motion-from", "--sketch-from", "--image", "--sketch"])
def test_broken_input_files_are_refused_before_the_model_loads(tmp_path, capsys, no_model_loading, option):
    broken = tmp_path / ("broken.mp4" if option.endswith("-from") else "broken.png")
    broken.write_bytes(b"not a video or an image")
    assert main(generate_argv(tmp_path, option, str(broken))) == 2
    err = one_error(capsys)
    assert err.startswith(f"videocomposer generate: error: {option}: ") and "broken" in err
    assert ("not a readable video file" if option.endswith("-from") else "not a readable image") in err


def test_unwritable_output_says_permission_denied_before_generating(tmp_path, capsys, no_model_loading, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    real_access = os.access  # root may write anywhere: the folder reads as locked whoever runs the test
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) != str(locked) and real_access(path, mode))
    try:
        assert main(["generate", "--prompt", "a cat", "--output", str(locked / "o.mp4")]) == 2
        assert f"--output: permission denied: cannot write in {locked}" in one_error(capsys)
        argv = ["extract", "v.mp4", "--conditions", "motion", "--output", str(locked / "sub" / "c.safetensors")]
        (tmp_path / "v.mp4").write_bytes(b"")
        monkeypatch.chdir(tmp_path)
        assert main(argv) == 2  # the folder it would create lies in the locked one
        assert f"--output: permission denied: cannot write in {locked}" in one_error(capsys)
    finally:
        os.chmod(locked, 0o700)


def test_model_that_is_a_file_or_an_unknown_id_says_so(tmp_path, capsys, no_model_loading):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    assert main(generate_argv(tmp_path, "--model", str(weights))) == 2
    assert f"--model: {weights} is a file, not a pipeline folder (give the folder holding model_index.json)" in (
        one_error(capsys)
    )
    assert main(generate_argv(tmp_path, "--model", str(tmp_path / "missing"))) == 2
    assert f"--model: no such folder: {tmp_path / 'missing'}" in one_error(capsys)


def test_an_unknown_hub_id_names_the_cause_without_a_hidden_stack_trace(tmp_path, capsys, monkeypatch):
    from pipelines.pipeline_videocomposer import VideoComposerPipeline

    def offline(*args, **kwargs):
        raise OSError("Cannot load model x/y ... Please check out the root cause in the stacktrace above.")

    monkeypatch.setattr(VideoComposerPipeline, "from_pretrained", offline)
    assert main(generate_argv(tmp_path, "--model", "nobody/no-model")) == 2
    err = one_error(capsys)
    assert "--model: there is no folder 'nobody/no-model', and as a Hub model id it is neither in the local" in err
    assert "stacktrace" not in err


def test_extract_raise_fps_samples_a_short_clip_at_a_raised_rate(tmp_path, capsys, clip):
    out = tmp_path / "c.safetensors"
    argv = ["extract", str(clip), "--conditions", "canny", "--frames", "12", "--height", "32", "--width", "32",
            "--output", str(out)]  # fmt: skip
    assert main(argv) == 2  # 2 s at 4 fps: 8 frames
    err = one_error(capsys)
    assert "fewer than num_frames=12" in err and "pass --raise-fps" in err and "raise_fps=True" not in err
    with pytest.warns(UserWarning, match="sampling at fps=7 instead"):
        assert main([*argv, "--raise-fps"]) == 0
    assert load_file(str(out))["sketch"].shape == (1, 1, 12, 48, 48)
    capsys.readouterr()
    (tmp_path / "captions.csv").write_text("videoid,name\nclip,a clip\n")
    assert main(["extract", "--dataset", str(tmp_path), "--captions-file", str(tmp_path / "captions.csv"),
                 "--conditions", "canny", "--cache", str(tmp_path / "cache"), "--raise-fps"]) == 2  # fmt: skip
    assert "--raise-fps is for one video; a dataset skips the clips too short for --frames" in one_error(capsys)


def test_extract_defaults_are_generates_default_model(tmp_path, clip):
    out = tmp_path / "c.safetensors"
    assert main(["extract", str(clip), "--conditions", "motion", "canny", "--output", str(out)]) == 0
    config = json.loads((DEMO_MODEL_DIR / "unet" / "config.json").read_text())
    frames, size = config["num_frames"], config["sample_size"] * 8  # the demo VAE's factor
    assert (frames, size) == (8, 64)
    tensors = load_file(str(out))
    assert tensors["motion_vectors"].shape == (1, 2, frames, size, size)
    assert tensors["sketch"].shape == (1, 1, frames, size * 3 // 2, size * 3 // 2)


def test_extract_model_takes_frames_and_size_from_that_models_config(tmp_path, clip):
    model = tmp_path / "model"
    for name in ("model_index.json", "unet/config.json", "vae/config.json", "stc_encoder/config.json"):
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO_MODEL_DIR / name, model / name)
    config = json.loads((model / "unet" / "config.json").read_text())
    (model / "unet" / "config.json").write_text(json.dumps(dict(config, num_frames=4, sample_size=4)))
    out = tmp_path / "c.safetensors"
    argv = ["extract", str(clip), "--conditions", "motion", "--model", str(model), "--output", str(out)]
    assert main(argv) == 0
    assert load_file(str(out))["motion_vectors"].shape == (1, 2, 4, 32, 32)  # 4 frames, sample size 4 x VAE 8
    assert main([*argv[:-2], "--frames", "2", "--output", str(out)]) == 0  # an explicit value wins
    assert load_file(str(out))["motion_vectors"].shape == (1, 2, 2, 32, 32)


def test_extract_model_must_be_a_pipeline_folder(tmp_path, capsys, clip):
    argv = ["extract", str(clip), "--conditions", "motion", "--output", str(tmp_path / "c.safetensors")]
    assert main([*argv, "--model", str(tmp_path)]) == 2
    assert f"--model: {tmp_path} is not a VideoComposer pipeline folder" in one_error(capsys)
    assert main([*argv, "--model", "owner/hub-model"]) == 2
    assert "--model: 'owner/hub-model' is not a local folder; give a pipeline folder, or --frames, --height" in (
        one_error(capsys)
    )


def test_generate_refuses_conditions_that_do_not_fit_the_video(tmp_path, capsys, no_model_loading, clip):
    small = tmp_path / "small.safetensors"
    assert main(["extract", str(clip), "--conditions", "motion", "--height", "32", "--width", "32",
                 "--output", str(small)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(generate_argv(tmp_path, "--conditions", str(small))) == 2
    assert ("--conditions: `motion_vectors` is 32x32 but the video is 64x64: its values are pixel displacements, so "
            "it has to be 64x64 (extract it at the video's size). Extract the conditions for this video (--frames 8 "
            "--height 64 --width 64), or generate at their size.") in one_error(capsys)  # fmt: skip
    wide = tmp_path / "wide.safetensors"
    save_file({"depth": torch.zeros(1, 1, 8, 96, 144)}, str(wide))
    assert main(generate_argv(tmp_path, "--conditions", str(wide))) == 2
    assert "--conditions: `depth` is 96x144, whose aspect ratio differs from height x width = 64x64" in (
        one_error(capsys)
    )
    with pytest.raises(AssertionError, match="the model was loaded"):  # a 32x32 video: it fits
        main(generate_argv(tmp_path, "--conditions", str(small), "--height", "32", "--width", "32"))


def test_generate_refuses_0_255_sketches_before_loading(tmp_path, capsys, no_model_loading):
    path = tmp_path / "sketch.safetensors"
    save_file({"sketch": torch.full((1, 1, 8, 96, 96), 255.0)}, str(path))
    assert main(generate_argv(tmp_path, "--conditions", str(path))) == 2
    assert ("--conditions: `sketch` has to be in [0, 1], got values in [255, 255]; 0-255 image values: divide "
            "them by 255.") in one_error(capsys)  # fmt: skip


def test_no_help_shows_a_default_twice():
    from videocomposer.training.arguments import build_parser as train_parser

    parsers = {**command_parsers(build_parser()), "train": train_parser()}
    twice = []
    for name, parser in parsers.items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.help:
                shown = formatter._expand_help(action).lower().count("default")  # what --help prints
                if shown > max(1, action.help.lower().replace("%(default)s", "").count("default")):
                    twice.append(f"{name} {action.option_strings}")
    assert twice == []
    help_text = " ".join(command_parsers(build_parser())["generate"].format_help().split())
    assert "frames between windows (default 4)" in help_text and "(default 4) (default: 4)" not in help_text
