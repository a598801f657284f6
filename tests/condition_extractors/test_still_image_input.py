"""A still image given where a video is expected is named as an image, with where an image is taken instead."""

import numpy as np
import pytest
from PIL import Image

from condition_extractors import extract_conditions, load_video


@pytest.mark.parametrize(("extension", "kind"), [("png", "png"), ("jpg", "jpeg"), ("webp", "webp"), ("bmp", "bmp")])
def test_load_video_names_a_still_image(tmp_path, extension, kind):
    path = tmp_path / f"frame.{extension}"
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(path)
    with pytest.raises(ValueError, match=rf"this is a still image \({kind}\), not a video; an image is taken as"):
        load_video(path, num_frames=1)


def test_extract_conditions_names_a_still_image(tmp_path):
    path = tmp_path / "frame.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    with pytest.raises(ValueError, match="not a video") as error:
        extract_conditions(path, ["motion"], num_frames=2, height=16, width=16, progress=False)
    assert "condition_extractors.load_image" in str(error.value)


def test_a_gif_is_a_video_not_a_still_image(tmp_path):
    # Two 0.1 s frames at fps=4: ffmpeg's fps filter outputs one frame (slot 0 holds the last frame before 0.125 s).
    path = tmp_path / "two.gif"
    frames = [Image.fromarray(np.full((16, 16, 3), value, np.uint8)) for value in (0, 200)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    video = load_video(path, num_frames=1, fps=4)
    assert tuple(video.shape) == (1, 3, 16, 16)
    assert video.float().mean().item() > 150  # the second frame, as ffmpeg picks it


def test_a_single_frame_gif_is_too_short_not_an_image(tmp_path):
    # One 0.1 s frame at fps=4 ends before slot 0 closes: ffmpeg's fps filter outputs nothing, and so do we.
    path = tmp_path / "one.gif"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    with pytest.raises(ValueError, match="no frame decoded") as error:
        load_video(path, num_frames=1, fps=4)
    assert "still image" not in str(error.value)
