"""`videocomposer generate`: checks before the model loads, `--conditions` files from `extract`, `--prompts-file`
batches (resumable)."""

import json

import pytest
import torch
from safetensors.torch import save_file

from condition_extractors import load_video
from videocomposer.cli import main
from videocomposer.data.synthetic import EVAL_SEED_START, encode_mp4, generate_clip


@pytest.fixture(scope="module")
def source_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("source") / "clip.mp4"
    path.write_bytes(encode_mp4(generate_clip(EVAL_SEED_START + 3, 8, 64, 64, num_objects=1).frames, fps=4))
    return path


@pytest.fixture(scope="module")
def motion_file(source_video, tmp_path_factory):
    path = tmp_path_factory.mktemp("conds") / "motion.safetensors"
    argv = ["extract", str(source_video), "--conditions", "motion", "--frames", "4", "--height", "64", "--width", "64",
            "--output", str(path)]  # fmt: skip
    assert main(argv) == 0
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--height", "60"], "--height: expected a multiple of the VAE factor 8, got 60"),
        (["--conditions", "missing.safetensors"], "--conditions: no such file: missing.safetensors"),
        (["--style", "STYLE"], "--style: the model has no image encoder"),
        (["--guidance", "-1"], "--guidance: expected a number >= 0"),
        (["--stroke-source-size", "336"], "--stroke-source-size needs --strokes"),
        (["--strokes", "STROKES", "--stroke-source-size", "0"], "--stroke-source-size: expected a positive integer"),
    ],
)
def test_generate_checks_options_and_the_models_config_before_loading_it(
    tmp_path, capsys, no_model_loading, source_video, extra, message
):
    strokes = tmp_path / "strokes.json"
    strokes.write_text(json.dumps({"width": 64, "height": 64, "strokes": [{"points": [[8, 8], [40, 40]]}]}))
    extra = [{"STYLE": str(source_video), "STROKES": str(strokes)}.get(a, a) for a in extra]
    assert main(["generate", "--prompt", "a red circle", "--output", str(tmp_path / "o.mp4"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_conditions_file_names_what_it_holds_when_it_is_not_conditions(tmp_path, capsys, no_model_loading):
    save_file({"latents": torch.zeros(1, 4, 2, 8, 8)}, str(tmp_path / "x.safetensors"))
    argv = ["generate", "--prompt", "p", "--conditions", str(tmp_path / "x.safetensors"), "--output",
            str(tmp_path / "o.mp4")]  # fmt: skip
    assert main(argv) == 2
    expected = "holds ['latents']; expected condition tensors named among ['depth', 'image', 'motion_vectors'"
    assert expected in capsys.readouterr().err


def test_conditions_file_holds_every_input_of_its_conditions(tmp_path, capsys, no_model_loading):
    save_file({"masked_video": torch.zeros(1, 3, 2, 8, 8)}, str(tmp_path / "x.safetensors"))
    argv = ["generate", "--prompt", "p", "--conditions", str(tmp_path / "x.safetensors"), "--output",
            str(tmp_path / "o.mp4")]  # fmt: skip
    assert main(argv) == 2
    assert f"masked_video goes with ['mask'], which {tmp_path / 'x.safetensors'} lacks" in capsys.readouterr().err


def test_conditions_file_frame_count_must_match_frames(tmp_path, capsys, no_model_loading, motion_file):
    argv = ["generate", "--prompt", "p", "--conditions", str(motion_file), "--frames", "8", "--output",
            str(tmp_path / "o.mp4")]  # fmt: skip
    assert main(argv) == 2
    assert "--frames: 8 given, but the --conditions tensors have 4 frames" in capsys.readouterr().err


def test_conditions_file_and_an_option_giving_the_same_tensor_clash(tmp_path, capsys, motion_file, source_video):
    argv = ["generate", "--prompt", "p", "--conditions", str(motion_file), "--motion-from", str(source_video),
            "--output", str(tmp_path / "o.mp4")]  # fmt: skip
    assert main(argv) == 2
    assert "--conditions already holds ['motion_vectors']; drop --motion-from" in capsys.readouterr().err


def test_generate_from_an_extract_file_equals_generate_from_the_video(tmp_path, motion_file, source_video):
    common = ["--prompt", "a blue square moving left", "--steps", "2", "--seed", "5"]
    from_file = tmp_path / "from_file.mp4"
    from_video = tmp_path / "from_video.mp4"
    assert main(["generate", *common, "--conditions", str(motion_file), "--output", str(from_file)]) == 0
    assert main(["generate", *common, "--motion-from", str(source_video), "--frames", "4", "--output",
                 str(from_video)]) == 0  # fmt: skip
    video = load_video(from_file, num_frames=None, fps=4)
    assert tuple(video.shape) == (4, 3, 64, 64)  # frame count from the file, size from the model
    # exact: same kernels, same shapes, one process
    assert torch.equal(video, load_video(from_video, num_frames=None, fps=4))


def write_prompts(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize(
    ("rows", "extra", "message"),
    [
        ([{"prompt": ""}], [], ':1: "prompt" must be a non-empty string'),
        ([{"prompt": "a"}, {"prompt": "b", "output": "00000.mp4"}], [], ":2: output '00000.mp4' is also line 1's"),
        ([{"prompt": "a", "output": "sub/x.mp4"}], [], '"output" must be a file name ending in .mp4 or .gif'),
        ([{"prompt": "a", "conditions": "none.safetensors"}], [], '"conditions": no such file'),
        ([{"prompt": "a", "steps": 3}], [], ":1: unknown keys ['steps']"),
        ([{"prompt": "a", "seed": -1}], [], '"seed" must be a non-negative integer'),
        ([{"prompt": "a"}], ["--grid"], "--grid: not with --prompts-file"),
        ([{"prompt": "a"}], ["--prompt", "b"], "give either --prompt with --output, or --prompts-file"),
    ],
)
def test_prompts_file_errors_name_the_line(tmp_path, capsys, no_model_loading, rows, extra, message):
    prompts = write_prompts(tmp_path / "p.jsonl", rows)
    argv = ["generate", "--prompts-file", str(prompts), "--output-dir", str(tmp_path / "out"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_prompts_file_batch_writes_each_item_once_and_resumes(tmp_path, capsys, motion_file):
    prompts = write_prompts(tmp_path / "p.jsonl", [
        {"prompt": "a red circle moving right", "seed": 1},
        {"prompt": "a blue square moving left", "conditions": str(motion_file), "output": "blue.gif"},
        {"prompt": "a green triangle"},
    ])  # fmt: skip
    out = tmp_path / "out"
    argv = ["generate", "--prompts-file", str(prompts), "--output-dir", str(out), "--steps", "2", "--frames", "4"]
    assert main(argv) == 0
    assert "3 written, 0 existing (1 process)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["00000.mp4", "00002.mp4", "blue.gif"]
    assert tuple(load_video(out / "00000.mp4", num_frames=None, fps=4).shape) == (4, 3, 64, 64)

    # The item equals the same prompt and seed generated alone.
    single = tmp_path / "single.mp4"
    assert main(["generate", "--prompt", "a red circle moving right", "--seed", "1", "--steps", "2", "--frames", "4",
                 "--output", str(single)]) == 0  # fmt: skip
    # exact: same kernels, same shapes, one process
    assert torch.equal(load_video(single, num_frames=None), load_video(out / "00000.mp4", num_frames=None))

    (out / "00002.mp4").unlink()
    (out / "blue.gif").write_bytes(b"kept")  # an existing output is never rewritten
    capsys.readouterr()
    assert main(argv) == 0
    assert "1 written, 2 existing (1 process)" in capsys.readouterr().out
    assert (out / "blue.gif").read_bytes() == b"kept" and (out / "00002.mp4").stat().st_size > 0


@pytest.mark.parametrize("branches", [("sketch", "local_image"), ("single_sketch", "local_image")])
def test_sketch_and_image_files_become_one_frame_repeated_at_the_condition_size(tmp_path, branches):
    import argparse

    import numpy as np
    import PIL.Image

    from condition_extractors import load_image
    from videocomposer.commands.generate import build_conditions

    rng = np.random.default_rng(0)
    for name in ("sketch.png", "image.png"):
        PIL.Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(tmp_path / name)
    args = argparse.Namespace(
        **dict.fromkeys(("motion_from", "depth_from", "sketch_from", "masked_from", "conditions", "strokes"), None),
        sketch=str(tmp_path / "sketch.png"),
        image=str(tmp_path / "image.png"),
    )
    conditions = build_conditions(args, branches, 32, 48, 3)
    sketch_key = branches[0]
    assert set(conditions) == {sketch_key, "image"}
    # both at 1.5x the video size; the sketch is the grey mean of the RGB image
    grey = load_image(tmp_path / "sketch.png", 48, 72).mean(0, keepdim=True)
    rgb = load_image(tmp_path / "image.png", 48, 72)
    assert conditions[sketch_key].shape == (1, 1, 3, 48, 72) and conditions["image"].shape == (1, 3, 3, 48, 72)
    for frame in range(3):
        torch.testing.assert_close(conditions[sketch_key][0, :, frame], grey, rtol=0, atol=0)
        torch.testing.assert_close(conditions["image"][0, :, frame], rgb, rtol=0, atol=0)
