"""The `videocomposer` command line: sub-command discovery, `extract`, and its errors."""

import pytest
from safetensors.torch import load_file

from videocomposer.cli import build_parser, main
from videocomposer.data.synthetic import write_dataset


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
    assert main(["extract", "v.mp4", "--conditions", "motion", "--depth-model", "dpt", "--output", "o.safetensors"]) == 2
    assert "--depth-model is given but --conditions has none of ['depth']" in capsys.readouterr().err


def test_train_forwards_its_arguments_to_the_training_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    assert "--pretrained_model_name_or_path" in capsys.readouterr().out
