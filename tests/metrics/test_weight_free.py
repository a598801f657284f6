"""Weight-free metrics on videos whose answer is known by construction: flicker, repetition, motion, seams."""

import cv2
import numpy as np
import pytest
import torch

from condition_extractors import MotionVectorExtractor
from videocomposer.metrics import (
    flow_error,
    frame_difference,
    motion_vector_error,
    pairwise_warping_errors,
    repetition_peak,
    seam_discontinuity,
    seam_ratio,
    self_similarity_profile,
    temporal_flickering,
)


def texture(size=160, seed=0):
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 2.0)
    return (image - image.min()) / (image.max() - image.min())


def translation(dx, dy, num_frames=8, size=64, seed=0, start=(0, 0)):
    """Frames of a smooth texture moving by (dx, dy) pixels per frame (np.roll: exact integer shifts)."""
    base = texture(seed=seed)
    frames = [np.roll(base, (dy * t + start[1], dx * t + start[0]), axis=(0, 1)) for t in range(num_frames)]
    return np.stack([f[48 : 48 + size, 48 : 48 + size] for f in frames])


def motion_condition(frames):
    return MotionVectorExtractor()(torch.from_numpy(frames).permute(0, 3, 1, 2)).numpy()


def test_identical_frames_do_not_flicker_and_the_score_is_vbench_s():
    still = np.repeat(translation(0, 0, 1), 5, axis=0)
    assert frame_difference(still) == 0.0
    assert temporal_flickering(still) == 1.0
    alternating = np.zeros((4, 8, 8, 3), np.float32)
    alternating[1::2] = 0.5
    assert frame_difference(alternating) == pytest.approx(0.5)
    uint8 = (alternating * 255).round().astype(np.uint8)  # 128: VBench's (255 - 128) / 255
    assert temporal_flickering(uint8) == pytest.approx((255 - 128) / 255)
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal_flickering(still[:1])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        temporal_flickering(still * 2.0)


def test_a_repeated_16_frame_loop_peaks_at_lag_16():
    rng = np.random.default_rng(0)
    loop = rng.random((16, 32, 32, 3)).astype(np.float32)
    video = np.concatenate([loop, loop, loop])  # 48 frames, default max lag 24
    profile = self_similarity_profile(video)
    assert profile.shape == (25,)
    expected = [1.0 - np.abs(video[k:].astype(np.float64) - video[: len(video) - k]).mean() for k in range(25)]
    np.testing.assert_allclose(profile, expected, rtol=1e-6, atol=1e-6)  # thumbnails are the frames; float32 in [0, 1]
    assert profile[16] == pytest.approx(1.0)
    peak = repetition_peak(profile)
    assert peak.lag == 16
    assert peak.prominence == pytest.approx(1.0 - profile[1:16].min())


def test_a_drifting_video_has_no_repetition_peak():
    ramp = np.linspace(0.0, 1.0, 20, dtype=np.float32)[:, None, None, None] * np.ones((20, 8, 8, 3), np.float32)
    profile = self_similarity_profile(ramp, max_lag=19)
    assert np.all(np.diff(profile) < 0)
    assert repetition_peak(profile) == (0, 0.0)
    with pytest.raises(ValueError, match="max_lag"):
        self_similarity_profile(ramp, max_lag=20)


def test_motion_vector_error_is_near_zero_for_the_matching_condition_and_large_for_the_opposite():
    video, opposite = translation(2, 1), translation(-2, -1)
    condition = motion_condition(video)
    assert (np.abs(condition).sum(axis=1) > 0).sum() > 50
    assert motion_vector_error(video, condition) < 0.25
    wrong = motion_vector_error(opposite, condition)
    assert wrong == pytest.approx(2 * np.hypot(2, 1), rel=0.1)  # the two vectors point in opposite directions
    assert np.isnan(motion_vector_error(video, np.zeros_like(condition)))  # a condition without any vector
    still = np.repeat(video[:1], len(video), axis=0)  # scored: the condition's full magnitude
    assert motion_vector_error(still, condition) == pytest.approx(np.hypot(2, 1), rel=0.1)
    with pytest.raises(ValueError, match=r"condition: expected \(F, 2, H, W\)"):
        motion_vector_error(video, condition[:, :, :32])
    with pytest.raises(ValueError, match="MPEG-4 needs even sizes"):
        motion_vector_error(video[:, :63], condition[:, :, :63])


def test_flow_error_is_near_zero_for_the_matching_condition_and_large_for_the_opposite():
    video, opposite = translation(2, 1), translation(-2, -1)
    condition = motion_condition(video)
    assert flow_error(video, condition) < 0.25
    assert flow_error(opposite, condition) == pytest.approx(2 * np.hypot(2, 1), rel=0.15)
    # any flow_fn of the documented interface: an exact oracle gives exactly zero
    oracle = lambda a, b: np.broadcast_to(np.array([-2.0, -1.0], np.float32), (*a.shape[:3], 2))  # noqa: E731
    assert flow_error(video, condition, oracle) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="flow_fn: expected flows of shape"):
        flow_error(video, condition, lambda a, b: np.zeros((1, 2, 2, 2)))


def test_seam_discontinuity_flags_a_jump_between_windows():
    smooth = translation(1, 0, num_frames=16)
    jumped = np.concatenate([translation(1, 0, 8), translation(1, 0, 8, start=(30, 17))])
    assert 0.5 < seam_discontinuity(smooth, [8]) < 2.0
    assert seam_discontinuity(jumped, [8]) > 5.0
    errors = pairwise_warping_errors(jumped)
    assert seam_ratio(errors, [8]) == pytest.approx(errors[7] / np.delete(errors, 7).mean())
    with pytest.raises(ValueError, match=r"boundaries: each must lie in \[1, 15\]"):
        seam_discontinuity(smooth, [16])
    with pytest.raises(ValueError, match="at least one window boundary"):
        seam_ratio(errors, [])
