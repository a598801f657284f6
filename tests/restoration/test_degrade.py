"""`OldFilmDegradation`: seeded damage whose masks are exactly the pixels the local defects changed."""

import numpy as np
import pytest
import torch

from videocomposer.restoration.degrade import SEVERITIES, VISIBLE, OldFilmDegradation


def test_a_seed_repeats_the_damage_and_another_seed_changes_it(clean):
    first = OldFilmDegradation("medium", seed=1)(clean)
    again = OldFilmDegradation("medium", seed=1)(clean)
    other = OldFilmDegradation("medium", seed=2)(clean)
    np.testing.assert_array_equal(first.frames, again.frames)
    np.testing.assert_array_equal(first.masks, again.masks)
    assert not np.array_equal(first.frames, other.frames)


def test_masks_hold_exactly_the_pixels_local_defects_changed():
    flat = np.full((6, 64, 64, 3), 128, np.uint8)
    damage = OldFilmDegradation("heavy", seed=0, global_damage=False)(flat)
    change = np.abs(damage.frames.astype(int) - flat).max(axis=-1)
    assert damage.masks.any()
    assert (change[damage.masks] >= VISIBLE).all()
    assert (change[~damage.masks] <= VISIBLE).all()  # (the mask is taken before rounding to uint8)
    np.testing.assert_array_equal(damage.masks, damage.one_frame | damage.scratches)


def test_scratches_persist_over_frames_and_drift_little():
    flat = np.full((8, 96, 96, 3), 128, np.uint8)
    damage = OldFilmDegradation("heavy", seed=4, global_damage=False)(flat)
    frames_with_scratch = np.flatnonzero(damage.scratches.any(axis=(1, 2)))
    assert len(frames_with_scratch) >= 2
    columns = [np.flatnonzero(damage.scratches[i].any(axis=0)).mean() for i in frames_with_scratch[:2]]
    assert abs(columns[0] - columns[1]) < 5


def test_global_damage_touches_every_frame_and_local_only_does_not(clean):
    damaged = OldFilmDegradation("medium", seed=0)(clean)
    local = OldFilmDegradation("medium", seed=0, global_damage=False)(clean)
    outside = ~local.masks
    assert (damaged.frames != clean).mean() > 0.5
    assert np.abs(local.frames.astype(int) - clean)[outside].max() <= VISIBLE


def test_a_float_tensor_comes_back_as_a_tensor_of_its_layout(clean):
    video = torch.from_numpy(clean).permute(0, 3, 1, 2).float() / 255
    damage = OldFilmDegradation("light", seed=0)(video)
    as_array = OldFilmDegradation("light", seed=0)(clean)
    assert isinstance(damage.frames, torch.Tensor) and damage.frames.shape == video.shape
    np.testing.assert_allclose(damage.frames.permute(0, 2, 3, 1).numpy() * 255, as_array.frames, atol=1e-3)


@pytest.mark.parametrize(
    ("severity", "frames", "error", "message"),
    [
        ("extreme", None, ValueError, f"severity must be one of {list(SEVERITIES)}"),
        ("light", np.zeros((2, 8, 8, 3), np.float32), ValueError, "must be uint8 (F, H, W, 3)"),
        ("light", [1, 2], TypeError, "frames must be a numpy array or a torch tensor"),
    ],
)
def test_bad_input_is_named(clean, severity, frames, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        OldFilmDegradation(severity)(clean if frames is None else frames)
