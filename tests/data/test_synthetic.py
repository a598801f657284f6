"""Behaviour of the synthetic moving-shapes generator: determinism, ground truth, captions, files on disk."""

import csv

import av
import numpy as np
import pytest

from videocomposer.data.synthetic import (
    BACKGROUNDS,
    COLORS,
    DIRECTIONS,
    EVAL_SEED_START,
    PROCEDURAL_BACKGROUNDS,
    clip_seeds,
    describe,
    direction_word,
    generate_clip,
    load_ground_truth,
    write_dataset,
)

SEEDS = range(12)


def test_same_seed_gives_identical_clip():
    a, b = generate_clip(7), generate_clip(7)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.trajectories, b.trajectories)
    assert a.caption == b.caption


def test_different_seeds_give_different_clips():
    clips = [generate_clip(seed) for seed in range(5)]
    for i in range(len(clips)):
        for j in range(i + 1, len(clips)):
            assert not np.array_equal(clips[i].frames, clips[j].frames)


def test_shapes_and_dtypes():
    clip = generate_clip(3, num_frames=10, height=48, width=80, num_objects=2)
    assert clip.frames.shape == (10, 48, 80, 3) and clip.frames.dtype == np.uint8
    assert clip.masks.shape == (10, 2, 48, 80) and clip.masks.dtype == bool
    assert clip.trajectories.shape == (2, 10, 2)
    assert clip.depth.shape == (10, 48, 80) and clip.depth.dtype == np.float32
    assert len(clip.objects) == len(clip.directions) == 2


@pytest.mark.parametrize("seed", SEEDS)
def test_mask_centroid_matches_trajectory(seed):
    clip = generate_clip(seed)
    ys, xs = np.mgrid[0 : clip.frames.shape[1], 0 : clip.frames.shape[2]]
    for k in range(len(clip.objects)):
        mask = clip.masks[:, k]
        assert mask.sum(axis=(1, 2)).min() > 20  # every object is visible-sized in every frame
        area = mask.sum(axis=(1, 2))
        centroid = np.stack([(mask * xs).sum(axis=(1, 2)) / area, (mask * ys).sum(axis=(1, 2)) / area], axis=1)
        np.testing.assert_allclose(centroid, clip.trajectories[k], atol=1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_objects_stay_inside_the_frame(seed):
    clip = generate_clip(seed)
    border = np.zeros(clip.frames.shape[1:3], dtype=bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    assert not (clip.masks & border).any()


@pytest.mark.parametrize("seed", SEEDS)
def test_object_colour_is_found_at_its_visible_mask(seed):
    clip = generate_clip(seed)
    palette = np.array(list(COLORS.values()), dtype=np.float32)
    visible = clip.visible_masks
    for k, obj in enumerate(clip.objects):
        pixels = clip.frames[visible[:, k]].astype(np.float32)
        if len(pixels) < 20:
            continue  # fully hidden behind another object
        mean = pixels.mean(axis=0)
        assert np.abs(mean - np.array(COLORS[obj.color])).max() < 20
        assert list(COLORS)[np.linalg.norm(palette - mean, axis=1).argmin()] == obj.color


def test_visible_masks_partition_the_foreground_and_depth_follows_z_order():
    clip = next(c for c in map(generate_clip, range(50)) if len(c.objects) == 3 and _overlap(c))
    visible = clip.visible_masks
    assert (visible.sum(axis=1) <= 1).all()
    np.testing.assert_array_equal(visible.any(axis=1), clip.masks.any(axis=1))
    expected = np.zeros_like(clip.depth)
    for k in range(3):
        expected[visible[:, k]] = (k + 1) / 3
    np.testing.assert_array_equal(clip.depth, expected)
    front = clip.masks[:, 2]
    assert (clip.depth[front] == 1.0).all()


def _overlap(clip):
    return (clip.masks.sum(axis=1) > 1).any()


@pytest.mark.parametrize("seed", SEEDS)
def test_caption_names_objects_direction_and_background(seed):
    clip = generate_clip(seed)
    for obj, direction, track in zip(clip.objects, clip.directions, clip.trajectories):
        where = f"to the {direction}" if " " in direction else direction
        assert f"{obj.color} {obj.shape} moving {where}" in clip.caption
        dx, dy = track[-1] - track[0]
        # the words agree with the net displacement in image coordinates (y down)
        if "up" in direction:
            assert dy < 0
        if "low" in direction or direction == "down":
            assert dy > 0
        if "left" in direction:
            assert dx < 0
        if "right" in direction:
            assert dx > 0
        if direction in ("up", "down"):
            assert abs(dx) < abs(dy)
        if direction in ("left", "right"):
            assert abs(dy) < abs(dx)
    assert clip.caption.endswith(" background")


def test_direction_word_sectors():
    compass = [(1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1)]
    assert [direction_word(np.array(v)) for v in compass] == list(DIRECTIONS)
    assert direction_word(np.array([10.0, -3.0])) == "right"


def test_every_background_kind_is_generated_and_restrictable():
    seen = {generate_clip(seed).background for seed in range(40)}
    assert seen == set(PROCEDURAL_BACKGROUNDS)  # photos only when asked for
    assert set(BACKGROUNDS) == {*PROCEDURAL_BACKGROUNDS, "photo"}
    clip = generate_clip(0, backgrounds=["stripes"], shapes=["triangle"], num_objects=1)
    assert clip.background == "stripes" and clip.objects[0].shape == "triangle"
    where = ("to the " if " " in clip.directions[0] else "") + clip.directions[0]
    assert clip.caption.endswith(f"triangle moving {where} on a striped background")


def test_photo_backgrounds_are_muted_crops_that_vary_with_the_seed():
    clips = [generate_clip(seed, backgrounds=["photo"], num_objects=1) for seed in range(6)]
    assert all(clip.background == "photo" and clip.caption.endswith(" on a photo background") for clip in clips)
    again = generate_clip(3, backgrounds=["photo"], num_objects=1)
    assert np.array_equal(again.frames, clips[3].frames)
    backgrounds = [clip.frames[0][~clip.masks[0, 0]].astype(np.float64) for clip in clips]
    assert len({round(float(b.mean()), 3) for b in backgrounds}) == len(clips)  # another crop each time
    for clip, background in zip(clips, backgrounds):
        assert background.std() > 5.0  # a picture, not a flat tone
        # channel spread: the photo's is halved and scaled by 0.6 (<= 76.5), the tone adds <= 0.4 * 45
        assert np.ptp(background, axis=1).max() <= 95.0
        obj = clip.frames[0][clip.visible_masks[0, 0]].astype(np.float64)
        assert np.ptp(obj, axis=1).mean() >= 120.0  # the object's colour stands out


def test_describe_leaves_out_motion_or_background_words():
    clip = generate_clip(7, num_objects=2)
    assert describe(clip.objects, clip.directions, clip.background) == clip.caption
    a, b = clip.objects
    background = clip.caption.rsplit(" on a ", 1)[1]
    assert describe(clip.objects, clip.directions, clip.background, with_motion=False) == (
        f"a {a.color} {a.shape} and a {b.color} {b.shape} on a {background}"
    )
    assert (
        describe(clip.objects, clip.directions, clip.background, with_background=False)
        == (clip.caption.rsplit(" on a ", 1)[0])
    )
    assert describe(clip.objects, clip.directions, clip.background, False, False) == (
        f"a {a.color} {a.shape} and a {b.color} {b.shape}"
    )


def _lag1_autocorrelation(image, valid):
    """Correlation of horizontally adjacent pixel values (grey), over pairs where both pixels are valid."""
    grey = image.astype(np.float64).mean(axis=-1)
    pairs = valid[:, 1:] & valid[:, :-1]
    left, right = grey[:, :-1][pairs], grey[:, 1:][pairs]
    return np.corrcoef(left, right)[0, 1]


def test_background_is_smooth_texture_not_pixel_noise():
    rng = np.random.default_rng(0)
    for seed in range(30):
        clip = generate_clip(seed, num_objects=1)
        if clip.background == "plain":
            assert len(np.unique(clip.frames[0][~clip.masks[0, 0]], axis=0)) == 1
            continue
        valid = ~clip.masks[0, 0]
        assert _lag1_autocorrelation(clip.frames[0], valid) > 0.5, clip.background
        noise = rng.permuted(clip.frames[0].reshape(-1, 3), axis=0).reshape(clip.frames[0].shape)
        assert abs(_lag1_autocorrelation(noise, np.ones_like(valid))) < 0.2  # the statistic tells noise apart


def test_same_scene_at_another_resolution():
    small, large = generate_clip(5, height=64, width=64), generate_clip(5, height=128, width=128)
    assert small.caption == large.caption
    np.testing.assert_allclose(large.trajectories / 2, small.trajectories, atol=1.0)


def test_size_changes_follow_the_caption():
    for seed in range(40):
        clip = generate_clip(seed, num_objects=1)
        area = clip.masks[:, 0].sum(axis=(1, 2))
        if "growing" in clip.caption:
            assert area[-1] > 1.3 * area[0]
        elif "shrinking" in clip.caption:
            assert area[-1] < area[0] / 1.3


def test_clip_seeds_split_is_disjoint():
    train = clip_seeds("train", 100, seed=5)
    evaluation = clip_seeds("eval", 50)
    assert train == list(range(5, 105)) and evaluation[0] == EVAL_SEED_START
    assert not set(train) & set(evaluation)
    with pytest.raises(ValueError, match="EVAL_SEED_START"):
        clip_seeds("train", 10, seed=EVAL_SEED_START - 5)
    with pytest.raises(ValueError, match="split must be"):
        clip_seeds("test", 10)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(seed=-1), ValueError, "seed must be >= 0"),
        (dict(seed=1.5), TypeError, "seed must be an int"),
        (dict(seed=0, num_frames=1), ValueError, "num_frames must be >= 2"),
        (dict(seed=0, height=8), ValueError, "height must be >= 16"),
        (dict(seed=0, num_objects=4), ValueError, "num_objects must lie within"),
        (dict(seed=0, num_objects=(2, 1)), ValueError, "num_objects must lie within"),
        (dict(seed=0, num_objects=1.5), TypeError, "num_objects must be an int or a"),
        (dict(seed=0, shapes=["hexagon"]), ValueError, "shapes has unknown entries"),
        (dict(seed=0, colors=["red", "blue"]), ValueError, "colors must hold at least 3"),
        (dict(seed=0, backgrounds="plain"), ValueError, "backgrounds must be a non-empty sequence"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        generate_clip(**kwargs)


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_write_dataset_files_decode_and_match_ground_truth(tmp_path, codec):
    captions = write_dataset(tmp_path, num_clips=3, seed=10, fps=8, num_frames=12, height=48, width=64, codec=codec)
    with open(captions, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["videoid"] for r in rows] == ["train_00000010", "train_00000011", "train_00000012"]
    for row, seed in zip(rows, (10, 11, 12)):
        clip = generate_clip(seed, num_frames=12, height=48, width=64)
        assert row["name"] == clip.caption
        with av.open(str(tmp_path / f"{row['videoid']}.mp4")) as container:
            stream = container.streams.video[0]
            assert float(stream.average_rate) == 8
            decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        assert decoded.shape == (12, 48, 64, 3)
        assert np.abs(decoded.astype(np.float32) - clip.frames).mean() < 5  # lossy but faithful
        truth = load_ground_truth(tmp_path / f"{row['videoid']}.npz")
        np.testing.assert_array_equal(truth["frames"], clip.frames)
        np.testing.assert_array_equal(truth["masks"], clip.masks)
        np.testing.assert_array_equal(truth["trajectories"], clip.trajectories)
        np.testing.assert_array_equal(truth["depth"], clip.depth)
        assert str(truth["caption"]) == clip.caption and int(truth["seed"]) == seed
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_write_dataset_eval_split_and_bad_sizes(tmp_path):
    captions = write_dataset(tmp_path, num_clips=1, split="eval", num_frames=4)
    assert f"eval_{EVAL_SEED_START:08d}" in captions.read_text()
    with pytest.raises(ValueError, match="width must be even"):
        write_dataset(tmp_path, num_clips=1, width=33)
    with pytest.raises(ValueError, match="codec must be"):
        write_dataset(tmp_path, num_clips=1, codec="vp9")


def test_codec_motion_vectors_follow_the_trajectories():
    """The textures and shading let an MPEG-4 encoder track the objects: vectors on an object equal its motion, and
    the static background far from it gets few vectors longer than 1 px."""
    import torch
    from scipy.ndimage import binary_dilation

    from condition_extractors.motion_vectors import MotionVectorExtractor

    extractor = MotionVectorExtractor()
    errors, spurious, background_blocks = [], 0, 0
    for seed in range(10):
        clip = generate_clip(seed, num_objects=1)
        field = extractor(torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0).numpy()
        has_vector = np.abs(field).sum(axis=1) > 0  # (F, H, W): one vector at most per 16x16 macroblock
        on_object = has_vector & clip.masks[:, 0]
        far = ~np.stack([binary_dilation(mask, iterations=12) for mask in clip.masks[:, 0]])
        spurious += (far & (np.linalg.norm(field, axis=1) > 1.0)).sum()
        background_blocks += far.sum() / 256
        for f in range(1, len(field)):
            if on_object[f].any():
                measured = field[f][:, on_object[f]].mean(axis=1)
                truth = clip.trajectories[0, f] - clip.trajectories[0, f - 1]
                errors.append(np.abs(measured - truth).max())
    assert len(errors) >= 30
    assert np.median(errors) < 0.75 and np.mean(errors) < 1.0
    assert spurious / background_blocks < 0.02
