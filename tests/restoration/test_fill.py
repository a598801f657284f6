"""Filling: propagation from motion-compensated neighbours first, a filler for the rest, nothing else touched."""

import cv2
import numpy as np
import pytest

from videocomposer.restoration.fill import deflicker, propagate, restore_clip, spatial_filler
from videocomposer.restoration.model_fill import tiles, windows

from .conftest import moving_texture, with_defects


def test_propagation_recovers_hidden_content_of_a_panning_clip(clean):
    damaged, truth = with_defects(clean)  # the scratch stays put while the scene pans: neighbours see behind it
    filled, remaining = propagate(damaged, truth)
    assert remaining.sum() < 0.02 * truth.sum()
    error = np.abs(filled.astype(int) - clean)[truth & ~remaining]
    assert error.mean() < 3.0  # the texture is smooth, the pan is 1 px a frame
    np.testing.assert_array_equal(filled[~truth], damaged[~truth])


def test_what_no_neighbour_sees_is_left_to_the_filler():
    static = moving_texture(num_frames=6, shift=0)
    damaged = static.copy()
    masks = np.zeros(static.shape[:3], bool)
    masks[:, 10:50, 30] = True  # a scratch that never moves on a still shot
    damaged[masks] = 250
    _, remaining = propagate(damaged, masks)
    assert remaining.sum() >= 0.8 * masks.sum()  # (the flow's aperture noise lets a few pixels borrow from aside)
    calls = []

    def filler(frames, holes):
        calls.append(holes.copy())
        return np.full_like(frames, 7)

    restored = restore_clip(damaged, masks, filler)
    np.testing.assert_array_equal(calls[0], remaining)
    assert (restored[remaining] == 7).all()
    np.testing.assert_array_equal(restored[~masks], damaged[~masks])


def test_restore_changes_only_mask_pixels_and_beats_telea(clean):
    damaged, truth = with_defects(clean)
    restored = restore_clip(damaged, truth, spatial_filler)
    np.testing.assert_array_equal(restored[~truth], damaged[~truth])
    ours = np.abs(restored.astype(int) - clean)[truth].mean()
    telea = np.abs(spatial_filler(damaged, truth).astype(int) - clean)[truth].mean()
    assert ours < telea


def test_without_a_filler_the_remaining_holes_keep_their_pixels():
    frames = np.full((3, 16, 16, 3), 100, np.uint8)
    masks = np.zeros((3, 16, 16), bool)
    masks[:, 4, 4] = True  # in every frame: no source
    frames[:, 4, 4] = 0
    np.testing.assert_array_equal(restore_clip(frames, masks), frames)


def test_deflicker_matches_each_frames_brightness_to_its_neighbours():
    rng = np.random.default_rng(0)
    base = rng.uniform(60, 190, (1, 32, 32, 3))
    gains = np.array([1.0, 1.0, 1.25, 1.0, 1.0, 1.0])
    frames = np.clip(base * gains[:, None, None, None], 0, 255).round().astype(np.uint8)
    out = deflicker(frames).astype(float)
    means = out.mean(axis=(1, 2, 3))
    before = frames.astype(float).mean(axis=(1, 2, 3))
    assert abs(means[2] - means[1]) < 0.5 * abs(before[2] - before[1])


def test_masks_must_be_boolean_frames_of_the_clip(clean):
    with pytest.raises(ValueError, match="masks must be boolean"):
        restore_clip(clean, np.zeros(clean.shape[:3], np.uint8))


def test_windows_cover_the_clip_with_the_last_one_ending_it():
    assert windows(5, 8) == [range(5)]
    assert windows(20, 8) == [range(0, 8), range(8, 16), range(12, 20)]
    assert tiles(64, 150, 64) == [(0, 0), (0, 64), (0, 86)]


def test_the_model_filler_writes_only_the_holes_tile_by_tile(tiny_components):
    from pipelines import VideoComposerPipeline
    from videocomposer.restoration.model_fill import model_filler

    pipe = VideoComposerPipeline(**tiny_components)
    pipe.set_progress_bar_config(disable=True)
    frames = moving_texture(num_frames=6, height=40, width=72)
    holes = np.zeros(frames.shape[:3], bool)
    holes[1, 5:9, 60:64] = True  # in the last column of tiles
    holes[4, 30:34, 3:7] = True  # in the second window only
    calls = []
    fill = model_filler(pipe, num_inference_steps=2, tile_size=32, window_length=4, progress=calls.append)
    out = fill(frames, holes)
    assert out.shape == frames.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~holes], frames[~holes])
    assert (out[holes] != frames[holes]).any()
    assert calls == [1, 1]  # windows 0-3 and 2-5
    with pytest.raises(ValueError, match="tile_size .* and window_length have to be given"):
        model_filler(pipe)


def test_a_source_is_trusted_deep_inside_a_large_hole_only_if_it_fits_the_holes_border():
    from videocomposer.restoration.fill import fits_border

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (100, 100, 3)).astype(np.uint8)
    hole = np.zeros((100, 100), bool)
    hole[20:80, 20:80] = True  # larger than the 31 px window
    trusted = ~cv2.dilate(hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    good = frame.astype(np.float32) + 1.0
    bad = good.copy()
    bad[10:90, 10:90] += 40.0  # wrong around the hole (a flow gone astray there), right elsewhere
    assert fits_border(good, frame, trusted, hole)[hole].all()
    assert not fits_border(bad, frame, trusted, hole)[hole].any()
