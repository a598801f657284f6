"""`videocomposer degrade` and `videocomposer restore`: folders and videos in and out, errors before any work."""

import cv2
import numpy as np
import pytest

from videocomposer.cli import main
from videocomposer.restoration.frames_io import read_frames, write_frames

from .conftest import moving_texture


@pytest.fixture
def clean_folder(tmp_path):
    folder = tmp_path / "clean"
    write_frames(folder, moving_texture(num_frames=8, height=64, width=64))
    return folder


def far_from(masks: np.ndarray, pixels: int = 2) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return ~np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in masks])


def test_degrade_then_restore_keeps_every_pixel_far_from_the_masks(tmp_path, clean_folder):
    damaged, truth, restored, masks = (tmp_path / n for n in ("damaged", "truth.mkv", "restored", "masks"))
    argv = ["degrade", str(clean_folder), "--output", str(damaged), "--defects-output", str(truth),
            "--severity", "heavy", "--seed", "3", "--no-global-damage"]  # fmt: skip
    assert main(argv) == 0
    assert main(["restore", str(damaged), "--output", str(restored), "--masks-output", str(masks),
                 "--fill", "telea"]) == 0  # fmt: skip
    before, after = read_frames(damaged)[0], read_frames(restored)[0]
    filled = read_frames(masks)[0][..., 0] > 127
    true_masks = read_frames(truth)[0][..., 0] > 127
    clean = read_frames(clean_folder)[0]
    assert sorted(p.name for p in restored.iterdir())[:2] == ["00000.png", "00001.png"]
    assert true_masks.any() and filled.any()
    np.testing.assert_array_equal(after[far_from(filled)], before[far_from(filled)])
    error = lambda x: np.abs(x.astype(int) - clean)[true_masks].mean()  # noqa: E731
    assert error(after) < 0.5 * error(before)


def test_restore_with_a_model_and_the_users_masks(tmp_path, clean_folder, monkeypatch, tiny_components):
    from pipelines import VideoComposerPipeline
    from videocomposer.commands import generate

    pipe = VideoComposerPipeline(**tiny_components)
    pipe.unet.register_to_config(sample_size=4, num_frames=4)  # 32 px tiles, 4-frame windows
    monkeypatch.setattr(generate, "load_pipeline", lambda model: pipe)
    frames = read_frames(clean_folder)[0]
    masks = np.zeros(frames.shape[:3], bool)
    masks[:, 20:30, 40] = True  # a still scratch: no neighbour sees behind it, the model fills it
    damaged = frames.copy()
    damaged[masks] = 250
    write_frames(tmp_path / "damaged", damaged)
    write_frames(tmp_path / "user_masks", masks)
    out = tmp_path / "restored.mkv"
    argv = ["restore", str(tmp_path / "damaged"), "--output", str(out), "--mask", str(tmp_path / "user_masks"),
            "--fill", "model", "--steps", "2"]  # fmt: skip
    assert main(argv) == 0
    restored = read_frames(out)[0]
    np.testing.assert_array_equal(restored[~masks], damaged[~masks])
    assert (restored[masks] != 250).any()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["degrade", "missing", "--output", "OUT"], "clip: no such file or folder: missing"),
        (["degrade", "CLEAN", "--output", "OUT", "--severity", "extreme"], "--severity: expected one of"),
        (["degrade", "CLEAN", "--output", "nowhere/OUT"], "--output: the folder nowhere does not exist"),
        (["restore", "CLEAN", "--output", "OUT", "--fill", "telea", "--model", "M"], "--model is given but --fill"),
        (["restore", "CLEAN", "--output", "OUT", "--radius", "0"], "--radius: expected a positive integer"),
        (["restore", "CLEAN", "--output", "OUT", "--mask", "missing"], "--mask: no such file or folder"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, clean_folder, argv, message):
    monkeypatch.chdir(tmp_path)
    argv = [{"CLEAN": str(clean_folder), "OUT": str(tmp_path / "out")}.get(a, a) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["degrade", "restore"])
def test_an_unwritable_output_folder_says_permission_denied_before_reading(tmp_path, capsys, monkeypatch,
                                                                           clean_folder, command):  # fmt: skip
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access  # root may write anywhere: the folder reads as locked whoever runs the test
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) != str(locked) and real_access(path, mode))
    assert main([command, str(clean_folder), "--output", str(locked / "out")]) == 2
    err = capsys.readouterr().err
    assert f"--output: permission denied: cannot write in {locked}" in err and err.count("\n") == 1
