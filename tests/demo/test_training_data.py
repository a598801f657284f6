"""The demo's training set: written in the form videocomposer.train reads, with the conditions the app produces."""

import csv

import numpy as np
import pytest
import torch

from videocomposer.data.video_dataset import VideoTextDataset
from videocomposer.demo.components import caption_vocabulary
from videocomposer.demo.training_data import (
    CONDITION_SIZE,
    FPS,
    TRAIN_CONDITIONS,
    _training_clip,
    write_training_set,
)


@pytest.fixture(scope="module")
def stroke_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo-data")
    return write_training_set(folder, 3, stroke_motion_prob=1.0, empty_caption_prob=0.0, progress=False)


def test_the_trainer_dataset_reads_every_clip_with_its_cached_conditions(stroke_set):
    dataset = VideoTextDataset(stroke_set.train_data_dir, stroke_set.captions_file, num_frames=8, fps=FPS,
                               resolution=64, conditions=TRAIN_CONDITIONS,
                               cache_dir=stroke_set.conditions_cache_dir)  # fmt: skip
    assert len(dataset) == 3
    for index in range(3):
        item = dataset.load_clip(index)
        clip, _, _ = _training_clip(index)
        assert item["pixel_values"].shape == (8, 3, 64, 64)
        decoded = (item["pixel_values"].permute(0, 2, 3, 1).numpy() + 1) * 127.5
        assert np.abs(decoded - clip.frames).mean() < 4.0  # the clip itself (near-lossless mp4)
        conditions = item["conditions"]
        assert conditions["motion_vectors"].shape == (2, 8, 64, 64)
        for name, channels in (("sketch", 1), ("depth", 1), ("masked_video", 3), ("mask", 1), ("image", 3)):
            assert conditions[name].shape == (channels, 8, CONDITION_SIZE, CONDITION_SIZE), name
        image = conditions["image"].float()
        assert torch.equal(image, image[:, :1].expand_as(image))  # the first frame, repeated
        assert set(conditions["mask"].unique().tolist()) <= {0.0, 1.0}
        assert float(conditions["depth"].max()) == pytest.approx(10.0, abs=0.05)  # the object is near (10)
        assert item["prompt"].startswith("a ") and clip.objects[0].color in item["prompt"]


def test_stroke_motion_is_the_objects_path_as_the_app_renders_it(stroke_set):
    from safetensors.torch import load_file

    from videocomposer.motion import Stroke, strokes_to_trajectories
    from videocomposer.motion.render import macroblock_centres
    from videocomposer.motion.strokes import DEFAULT_TOLERANCE

    centres = macroblock_centres(64, 64)  # (16, 2) x, y
    for index in range(3):
        cached = load_file(str(stroke_set.conditions_cache_dir / f"train_{index:08d}.safetensors"))["motion_vectors"]
        clip, _, _ = _training_clip(index)
        points = [tuple(p) for p in clip.trajectories[0].astype(np.float64).tolist()]
        # the app's smoothing of the drawn points (timed, so frame f is point f up to the fit's tolerance)
        path = strokes_to_trajectories([Stroke(points, 16.0, np.linspace(0, 1, 8).tolist())], 8)[0]
        assert np.abs(path - clip.trajectories[0]).max() < 2 * DEFAULT_TOLERANCE  # the fit: 2 px RMS
        assert torch.count_nonzero(cached[:, 0]) == 0  # frame 0 is empty, as in codec fields
        for frame in range(1, 8):
            at_centres = cached[:, frame, centres[:, 1], centres[:, 0]].float()  # (2, blocks)
            moving = at_centres.abs().sum(0) > 0
            distance = np.linalg.norm(centres - path[frame], axis=1)
            assert moving[torch.from_numpy(distance <= 12.0)].all()  # the radius is drawn from [12, 20]
            assert not moving[torch.from_numpy(distance > 20.0)].any()
            step = torch.from_numpy(path[frame] - path[frame - 1]).float()[:, None].expand_as(at_centres[:, moving])
            torch.testing.assert_close(at_centres[:, moving], step, atol=0.01, rtol=0.002)  # float16 storage
            assert torch.count_nonzero(cached[:, frame]) == 2 * int(moving.sum())  # only at the block centres


def test_captions_keep_the_colour_and_shape_and_use_the_tokenizer_words(stroke_set):
    with open(stroke_set.captions_file, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["videoid"] for row in rows] == [f"train_{i:08d}" for i in range(3)]
    vocabulary = set(caption_vocabulary()) | {"photo"}  # "photo" is spelled in letters by the shipped tokenizer
    for index, row in enumerate(rows):
        clip, _, _ = _training_clip(index)
        assert f"{clip.objects[0].color} {clip.objects[0].shape}" in row["name"]
        assert set(row["name"].split()) <= vocabulary


def test_writing_again_reuses_the_files_and_empty_captions_follow_their_probability(tmp_path, stroke_set):
    again = write_training_set(stroke_set.captions_file.parent, 3, stroke_motion_prob=1.0, empty_caption_prob=0.0,
                               progress=False)  # fmt: skip
    assert again == stroke_set
    empty = write_training_set(tmp_path, 2, empty_caption_prob=1.0, progress=False)
    with open(empty.captions_file, newline="") as f:
        assert [row["name"] for row in csv.DictReader(f)] == ["", ""]
    with pytest.raises(ValueError, match=r"stroke_motion_prob: expected a probability in \[0, 1\], got 1.5"):
        write_training_set(tmp_path, 2, stroke_motion_prob=1.5)


def test_window_clips_are_cut_from_longer_clips_with_the_motion_of_the_whole_clip(tmp_path):
    import copy

    from videocomposer.demo.training_data import STROKE_RADIUS_RANGE, WINDOW_SOURCE_FRAMES, clip_conditions
    from videocomposer.motion import Stroke, strokes_to_motion_vectors

    starts = []
    for index in range(6):
        clip, start, rng = _training_clip(index, window_clip_prob=1.0)
        length = len(clip.frames)
        assert length in WINDOW_SOURCE_FRAMES and 0 <= start <= length - 8
        short = _training_clip(index)[0].objects[0]  # the same object and path as the 8-frame clip of the seed
        assert (clip.objects[0].shape, clip.objects[0].color) == (short.shape, short.color)
        assert np.array_equal(clip.objects[0].control_points, short.control_points)
        conditions = clip_conditions(clip, copy.deepcopy(rng), stroke_motion=True, start=start)
        radius = float(copy.deepcopy(rng).uniform(*STROKE_RADIUS_RANGE))
        points = [tuple(p) for p in clip.trajectories[0].astype(np.float64).tolist()]
        stroke = Stroke(points, radius, np.linspace(0.0, 1.0, length).tolist())
        whole = strokes_to_motion_vectors([stroke], length, 64, 64)[0]  # (2, L, 64, 64)
        torch.testing.assert_close(conditions["motion_vectors"].float(), whole[:, start : start + 8].float(),
                                   atol=0.01, rtol=0.002)  # float16 storage  # fmt: skip
        depth = torch.nn.functional.interpolate(torch.from_numpy(clip.depth[start : start + 8])[:, None] * 10.0,
                                                size=(CONDITION_SIZE,) * 2, mode="bilinear")  # fmt: skip
        torch.testing.assert_close(conditions["depth"].float(), depth.transpose(0, 1), atol=0.01, rtol=0.002)
        starts.append(start)
    assert any(start > 0 for start in starts)  # windows from inside the clip, whose first frame moves
    clip, start, _ = _training_clip(0, window_clip_prob=1.0)
    window_step = np.linalg.norm(np.diff(clip.trajectories[0][start : start + 8], axis=0), axis=1).mean()
    full_step = np.linalg.norm(np.diff(_training_clip(0)[0].trajectories[0], axis=0), axis=1).mean()
    assert window_step < full_step  # the same object and path, spread over more frames
    windows = write_training_set(tmp_path, 2, window_clip_prob=1.0, progress=False)
    dataset = VideoTextDataset(windows.train_data_dir, windows.captions_file, num_frames=8, fps=FPS, resolution=64,
                               conditions=TRAIN_CONDITIONS, cache_dir=windows.conditions_cache_dir)  # fmt: skip
    clip, start, _ = _training_clip(1, window_clip_prob=1.0)
    decoded = (dataset.load_clip(1)["pixel_values"].permute(0, 2, 3, 1).numpy() + 1) * 127.5
    assert np.abs(decoded - clip.frames[start : start + 8]).mean() < 4.0  # the window's frames
    with pytest.raises(ValueError, match=r"window_clip_prob: expected a probability in \[0, 1\], got -0.1"):
        write_training_set(tmp_path, 2, window_clip_prob=-0.1)
