"""Clips in and out: video files and folders of frames, lossless both ways."""

import numpy as np
import PIL.Image
import pytest

from videocomposer.restoration.frames_io import read_frames, write_frames


@pytest.mark.parametrize("name", ["clip.mkv", "clip.mp4", "frames"])
def test_frames_survive_a_write_and_read_exactly(tmp_path, name):
    frames = np.random.default_rng(0).integers(0, 256, (4, 24, 34, 3), dtype=np.uint8)
    write_frames(tmp_path / name, frames, fps=12)
    back, fps = read_frames(tmp_path / name)
    np.testing.assert_array_equal(back, frames)
    assert fps == (12.0 if name != "frames" else 25.0)


def test_a_folder_is_read_in_name_order_and_written_as_numbered_pngs(tmp_path):
    folder = tmp_path / "scan"
    folder.mkdir()
    for name, value in (("b.tif", 20), ("a.png", 10), ("c.jpg", 30)):
        PIL.Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(folder / name)
    frames, _ = read_frames(folder)
    assert [int(f.mean().round()) for f in frames] == [10, 20, 30]
    write_frames(tmp_path / "out", frames)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00000.png", "00001.png", "00002.png"]


def test_masks_are_written_white_on_black(tmp_path):
    masks = np.zeros((2, 4, 4), bool)
    masks[1, 2, 3] = True
    write_frames(tmp_path / "m", masks)
    back, _ = read_frames(tmp_path / "m")
    np.testing.assert_array_equal(back[..., 0] == 255, masks)


def test_bad_paths_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="clip: no such file or folder"):
        read_frames(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image frames"):
        read_frames(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="expected a video"):
        read_frames(tmp_path / "notes.txt")


def test_a_16_bit_scan_is_scaled_to_8_bits(tmp_path):
    folder = tmp_path / "scan16"
    folder.mkdir()
    values = np.array([[0, 257 * 100], [257 * 200, 65535]], np.uint16)
    PIL.Image.fromarray(values).save(folder / "0001.png")
    frames, _ = read_frames(folder)
    np.testing.assert_array_equal(frames[0, ..., 0], [[0, 100], [200, 255]])
    np.testing.assert_array_equal(frames[0, ..., 2], frames[0, ..., 0])
