"""Detection: motion-compensated one-frame outliers and persistent line scratches, as boolean masks."""

import cv2
import numpy as np
import pytest

from videocomposer.restoration.detect import (
    Compensator,
    detect_defects,
    hysteresis,
    line_scratches,
    one_frame_defects,
    rod_scores,
    sdi_score,
)

from .conftest import moving_texture, with_defects


def within(a: np.ndarray, b: np.ndarray, pixels: int = 2) -> float:
    """Share of `a`'s pixels that lie within `pixels` px of a pixel of `b`."""
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    grown = np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in b])
    return (a & grown).sum() / max(a.sum(), 1)


def test_sdi_flags_only_a_departure_from_both_neighbours_in_one_direction():
    frame = np.array([[100.0, 100.0, 100.0, 100.0]], np.float32)
    previous = np.array([[60.0, 140.0, 60.0, 100.0]], np.float32)
    following = np.array([[70.0, 130.0, 140.0, 100.0]], np.float32)
    # e_b = (40, -40, 40, 0), e_f = (30, -30, -40, 0): bright, dark, occlusion-like (signs differ), no change
    np.testing.assert_allclose(sdi_score(frame, previous, following), [[30.0, -30.0, 0.0, 0.0]], atol=1e-6)


def test_rod_matches_the_rank_ordered_differences_computed_by_hand():
    rng = np.random.default_rng(0)
    frame, previous, following = (rng.uniform(0, 255, (5, 4)).astype(np.float32) for _ in range(3))
    rods = rod_scores(frame, previous, following)
    for y in range(5):
        for x in range(4):
            refs = sorted(float(img[(y + dy) % 5, x]) for img in (previous, following) for dy in (0, -1, 1))
            value = float(frame[y, x])
            if value >= np.mean(refs):
                expected = [value - refs[5 - i] for i in range(3)]
            else:
                expected = [value - refs[i] for i in range(3)]  # negative for a dark outlier
            np.testing.assert_allclose(rods[:, y, x], expected, atol=1e-3)


def test_hysteresis_keeps_the_weak_components_that_hold_a_seed():
    weak = np.zeros((5, 9), bool)
    weak[1:3, 1:3] = True
    weak[1:3, 6:8] = True
    strong = np.zeros_like(weak)
    strong[1, 1] = True
    expected = np.zeros_like(weak)
    expected[1:3, 1:3] = True
    np.testing.assert_array_equal(hysteresis(strong, weak), expected)


def test_one_frame_defects_are_found_on_a_moving_clip_and_nothing_else(clean):
    damaged, truth = with_defects(clean)
    one_frame = truth.copy()
    one_frame[:, :, 50] = False
    found = one_frame_defects(damaged)
    assert within(one_frame, found) >= 0.95  # recall
    assert within(found, truth) >= 0.95  # precision (the scratch, static on a panning scene, is an outlier too)
    assert not one_frame_defects(clean).any()


def test_a_persistent_scratch_is_found_by_the_line_detector(clean):
    damaged, truth = with_defects(clean)
    scratch = np.zeros_like(truth)
    scratch[:, 8:56, 50] = True
    found = line_scratches(damaged)
    assert within(scratch, found) >= 0.9
    assert within(found, scratch) >= 0.9


def test_a_line_that_moves_with_the_scene_is_no_scratch():
    clean = moving_texture(shift=2)
    moving_line = clean.copy()
    for index in range(len(clean)):
        moving_line[index, 8:56, 20 + 2 * index] = 245  # painted on the panning scene
    assert line_scratches(moving_line).sum() < 0.1 * 48 * len(clean)


def test_detect_defects_dilates_the_union(clean):
    damaged, truth = with_defects(clean)
    detection = detect_defects(damaged, dilation=2)
    assert within(truth, detection.masks, 0) >= 0.97
    np.testing.assert_array_equal(detection.masks[:, :, :] >= (detection.one_frame | detection.scratches), True)
    undilated = detect_defects(damaged, dilation=0)
    np.testing.assert_array_equal(undilated.masks, undilated.one_frame | undilated.scratches)
    assert detection.masks.sum() > 2 * undilated.masks.sum()


def test_codec_motion_vectors_also_compensate(clean):
    damaged, truth = with_defects(clean)
    truth[:, :, 50] = False
    found = one_frame_defects(damaged, method="codec")
    assert within(truth, found) >= 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(method="raft"), "method must be one of"),
        (dict(detector="median"), "detector must be one of"),
        (dict(dilation=-1), "dilation must be an int >= 0"),
    ],
)
def test_bad_arguments_are_named(clean, kwargs, message):
    with pytest.raises(ValueError, match=message):
        detect_defects(clean, **kwargs)


def test_frames_must_be_uint8_rgb():
    with pytest.raises(ValueError, match=r"frames must be a uint8 array \(F, H, W, 3\)"):
        detect_defects(np.zeros((3, 8, 8), np.uint8))


def test_compensation_aligns_a_panning_clip(clean):
    compensator = Compensator(clean)
    previous, following = compensator.luma_neighbours(4)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(previous - compensator.luma[4])[inner].mean() < 2.0
    assert np.abs(following - compensator.luma[4])[inner].mean() < 2.0


def test_the_flow_cache_stays_bounded_and_recomputes_the_same_flow(clean, monkeypatch):
    import videocomposer.restoration.detect as detect

    monkeypatch.setattr(detect, "CACHED_FLOWS", 3)
    compensator = Compensator(clean)
    first = compensator.flow(0, 1).copy()
    for other in (2, 3, 4, 5):
        compensator.flow(0, other)
    assert len(compensator._flows) == 3 and (0, 1) not in compensator._flows
    np.testing.assert_array_equal(compensator.flow(0, 1), first)
