"""Uploaded files: clear messages for bad uploads; backgrounds and masks."""

import numpy as np
import PIL.Image
import pytest

from condition_extractors import load_video, resize_center_crop
from videocomposer.app.uploads import background_image, data_url, load_clip, mask_from_editor, mask_from_upload


def test_load_clip_reads_a_video(clip_path, clip_frames):
    frames = load_clip(clip_path, 4, fps=4.0)
    assert frames.shape == (4, 3, 48, 64)
    assert np.abs(frames.permute(0, 2, 3, 1).numpy().astype(int) - clip_frames[:4]).mean() < 8  # mp4 is lossy


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("corrupt_path", "cannot read broken.mp4 as a video: .*corrupt"),
        ("still_path", "still.png is a still image, not a video"),
        (None, "no video uploaded"),
    ],
)
def test_load_clip_messages(request, which, message):
    path = request.getfixturevalue(which) if which else None
    with pytest.raises(ValueError, match=message) as caught:
        load_clip(path, 4, fps=4.0)
    assert "/" not in str(caught.value)  # the file's name, not the server's temporary path


def test_load_clip_too_few_frames(clip_path):
    with pytest.raises(ValueError) as caught:
        load_clip(clip_path, 40, fps=4.0)
    assert str(caught.value) == ("clip.mp4 is too short: it gives 8 frames at 4 frames per second, fewer than the 40 "
                                 "Frames asked for; lower Frames or upload a longer clip")  # fmt: skip


def test_corrupt_clip_message_is_a_sentence_without_errno(corrupt_path):
    with pytest.raises(ValueError) as caught:
        load_clip(corrupt_path, 4, fps=4.0)
    assert "Errno" not in str(caught.value) and "[" not in str(caught.value)
    assert str(caught.value).startswith("cannot read broken.mp4 as a video: not a readable video file: corrupt, "
                                        "truncated or not a video (")  # fmt: skip


def test_background_from_image_and_from_video(still_path, clip_path):
    image = background_image(still_path, 32, 16)
    assert image.shape == (16, 32, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[8, 16], [200, 30, 30])
    first = background_image(clip_path, 32, 32)
    expected = resize_center_crop(load_video(clip_path, 1), 32, 32)[0].permute(1, 2, 0).numpy() * 255
    np.testing.assert_allclose(first, expected, atol=0.51)
    assert data_url(image).startswith("data:image/png;base64,")


def test_mask_from_editor():
    layer = np.zeros((10, 12, 4), np.uint8)
    assert mask_from_editor(None) is None
    assert mask_from_editor({"background": None, "layers": [layer], "composite": None}) is None
    layer[2:5, 3:7, 3] = 255
    mask = mask_from_editor({"background": None, "layers": [layer], "composite": None})
    assert mask.shape == (10, 12) and mask.sum() == 12 and mask[2:5, 3:7].all()


def test_mask_from_upload(tmp_path):
    grey = np.zeros((30, 40), np.uint8)
    grey[5:10, 5:20] = 255
    path = tmp_path / "mask.png"
    PIL.Image.fromarray(grey).save(path)
    mask = mask_from_upload(str(path), 60, 80)
    assert mask.sum() == 75 and mask[5:10, 5:20].all()
    with pytest.raises(ValueError, match="the mask mask.png is 40x30 but the video is 64x64"):
        mask_from_upload(str(path), 64, 64)
    PIL.Image.fromarray(np.zeros((30, 40), np.uint8)).save(path)
    with pytest.raises(ValueError, match="all black"):
        mask_from_upload(str(path), 60, 80)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="text.png is not a readable image"):
        mask_from_upload(str(tmp_path / "text.png"), 60, 80)
