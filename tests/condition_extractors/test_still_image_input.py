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


def test_a_single_frame_gif_is_still_a_video(tmp_path):
    path = tmp_path / "one.gif"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    assert tuple(load_video(path, num_frames=1, fps=4).shape) == (1, 3, 16, 16)
