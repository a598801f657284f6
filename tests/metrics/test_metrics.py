"""Metrics: centroids, IoU and warping error on frames whose answer is known by construction."""

import numpy as np
import pytest

from videocomposer.metrics import centroid_error, color_mask, mask_centroids, mask_iou, warping_error


def square_video(positions, size=64, side=12, color=(255, 0, 0), background=None):
    frames = np.zeros((len(positions), size, size, 3), np.uint8) if background is None else np.stack(
        [background.copy() for _ in positions]
    )
    for f, (x, y) in enumerate(positions):
        frames[f, y : y + side, x : x + side] = color
    return frames


def test_color_mask_and_centroids_find_a_moving_square():
    frames = square_video([(4, 10), (8, 10), (12, 14)])
    masks = color_mask(frames, (255, 0, 0))
    assert masks.sum(axis=(1, 2)).tolist() == [144, 144, 144]
    np.testing.assert_allclose(mask_centroids(masks), [[9.5, 15.5], [13.5, 15.5], [17.5, 19.5]])


def test_centroid_error_is_the_mean_distance_and_penalises_missing_frames():
    target = np.array([[0.0, 0.0], [10.0, 0.0]])
    assert centroid_error(np.array([[3.0, 4.0], [10.0, 0.0]]), target, missing=90.0) == pytest.approx(2.5)
    assert centroid_error(np.array([[0.0, 0.0], [np.nan, np.nan]]), target, missing=90.0) == pytest.approx(45.0)
    with pytest.raises(ValueError, match="predicted and target"):
        centroid_error(np.zeros((3, 2)), target, missing=1.0)


def test_mask_iou_counts_overlap_over_union():
    a = np.zeros((1, 4, 4), bool)
    b = np.zeros((1, 4, 4), bool)
    a[0, :2] = True  # 8 pixels
    b[0, 1:3] = True  # 8 pixels, 4 shared
    assert mask_iou(a, b) == pytest.approx(4 / 12)
    assert mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        mask_iou(a, b[:, :2])


def test_warping_error_is_low_for_smooth_motion_and_high_for_flicker():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    background = np.stack([128 + 60 * np.sin(xx / 5.0), 128 + 60 * np.cos(yy / 7.0), 100 + 0 * xx], -1).astype(np.uint8)
    smooth = square_video([(10 + 2 * f, 20) for f in range(6)], background=background)
    flicker = smooth.copy()
    flicker[1::2] = 255 - flicker[1::2]
    noisy = rng.integers(0, 256, size=smooth.shape, dtype=np.uint8)
    e_smooth, e_flicker, e_noise = warping_error(smooth), warping_error(flicker), warping_error(noisy)
    assert e_smooth < 0.02
    assert e_flicker > 5 * e_smooth and e_noise > 5 * e_smooth
    assert warping_error(smooth.astype(np.float32) / 255.0) == pytest.approx(e_smooth, abs=1e-3)
    with pytest.raises(ValueError, match="at least 2 frames"):
        warping_error(smooth[:1])
