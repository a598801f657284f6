import numpy as np
import PIL.Image
import pytest
import torch

import condition_extractors.mask as mask_module
from condition_extractors import ImageExtractor, MaskGenerator, load_image
from condition_extractors.mask import irregular_mask, rectangle_mask, uncrop_mask


def split(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return out[:, :3], out[:, 3:]


def test_masked_video_is_video_in_0_1_with_the_hole_zeroed():
    frames = torch.rand(3, 3, 24, 24)
    masked_video, mask = split(MaskGenerator(mode="rectangle", seed=0)(frames))
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(masked_video, frames * (1 - mask))
    assert (masked_video[mask.expand_as(masked_video) == 1] == 0).all()
    assert (mask == mask[:1]).all()  # one mask for all frames, as the original


def test_random_masks_are_reproducible_with_a_seed_and_vary_between_calls():
    frames = torch.rand(2, 3, 32, 32)
    first, second = MaskGenerator(seed=3), MaskGenerator(seed=3)
    a, b = first(frames), second(frames)
    assert torch.equal(a, b)
    draws = [first.draw() for _ in range(5)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])


def test_random_mode_mix_follows_the_original_probabilities(monkeypatch):
    counts = {"irregular": 0, "rectangle": 0, "uncrop": 0}

    def counting(mode):
        def make(rng):
            counts[mode] += 1
            return np.zeros((4, 4), np.float32)

        return make

    monkeypatch.setattr(mask_module, "MASK_MAKERS", {mode: counting(mode) for mode in counts})
    generator = MaskGenerator(seed=0)
    for _ in range(2000):
        generator.draw()
    assert abs(counts["irregular"] / 2000 - 0.7) < 0.04
    assert abs(counts["rectangle"] / 2000 - 0.2) < 0.04
    assert abs(counts["uncrop"] / 2000 - 0.1) < 0.03


def test_uncrop_mask_is_exactly_one_half():
    rng = np.random.default_rng(0)
    halves = set()
    for _ in range(40):
        mask = uncrop_mask(rng, 8, 8)
        assert mask.sum() == 32
        halves.add(mask.tobytes())
    assert len(halves) == 4


def test_rectangle_mask_boxes_stay_inside_the_margin():
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = rectangle_mask(rng)
        assert mask.shape == (512, 512) and mask.any()
        assert not mask[:10].any() and not mask[-10:].any() and not mask[:, :10].any() and not mask[:, -10:].any()


def test_irregular_mask_is_binary_and_not_empty():
    mask = irregular_mask(np.random.default_rng(2))
    assert mask.shape == (512, 512) and set(np.unique(mask).tolist()) == {0.0, 1.0}


def test_user_mask_from_image_file_gets_the_frames_crop(tmp_path):
    # 40x80 source frame; the right half of it is the hole; the centre 40x40 crop keeps columns 20..59
    mask = np.zeros((40, 80), np.uint8)
    mask[:, 40:] = 255
    PIL.Image.fromarray(mask).save(tmp_path / "mask.png")
    _, out = split(MaskGenerator(mask=tmp_path / "mask.png")(torch.rand(2, 3, 20, 20)))
    expected = torch.zeros(20, 20)
    expected[:, 10:] = 1
    assert torch.equal(out[0, 0], expected) and torch.equal(out[1, 0], expected)


def test_user_mask_per_frame_sequence_and_value_types():
    per_frame = np.zeros((3, 8, 8), bool)
    for t in range(3):
        per_frame[t, t] = True
    _, out = split(MaskGenerator(mask=per_frame)(torch.rand(3, 3, 8, 8)))
    for t in range(3):
        assert out[t, 0].nonzero()[:, 0].unique().tolist() == [t]
    floats = MaskGenerator(mask=torch.tensor([[0.2, 0.9], [0.6, 0.0]]))(torch.rand(1, 3, 2, 2))
    assert floats[0, 3].tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_bad_user_masks_raise():
    with pytest.raises(ValueError, match=r"mask=.*missing\.png.*no such file"):
        MaskGenerator(mask="missing.png")
    with pytest.raises(ValueError, match=r"float mask values must lie in \[0, 1\]"):
        MaskGenerator(mask=np.full((4, 4), 2.0))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        MaskGenerator(mask=[np.zeros((2, 2, 2))])
    with pytest.raises(ValueError, match=r"share one size"):
        MaskGenerator(mask=[np.zeros((2, 2)), np.zeros((3, 3))])
    with pytest.raises(ValueError, match=r"3 per-frame masks given for 2 frames"):
        MaskGenerator(mask=np.zeros((3, 4, 4)))(torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"either a user mask or mode"):
        MaskGenerator(mode="uncrop", mask=np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"mode must be"):
        MaskGenerator(mode="circle")


def test_image_extractor_repeats_the_first_frame_by_default():
    frames = torch.rand(4, 3, 16, 16)
    out = ImageExtractor()(frames)
    assert out.shape == (4, 3, 16, 16) and all(torch.equal(o, frames[0]) for o in out)


def test_image_extractor_uses_a_given_image_resized_and_cropped(tmp_path):
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 10:30] = 255  # white centre square
    PIL.Image.fromarray(image).save(tmp_path / "image.png")
    out = ImageExtractor(image=tmp_path / "image.png")(torch.rand(2, 3, 10, 10))
    assert out.shape == (2, 3, 10, 10) and torch.equal(out[0], out[1])
    assert (out[..., 1:-1] == 1).all()  # the crop is the white square; its border columns are antialiased
    assert ((out[..., [0, -1]] > 0.5) & (out[..., [0, -1]] < 1)).all()


def test_load_image_errors_name_the_input(tmp_path):
    with pytest.raises(ValueError, match=r"image=.*nothing\.png.*no such file"):
        load_image(tmp_path / "nothing.png", 8, 8)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"image=.*text\.png.*not a readable image"):
        load_image(tmp_path / "text.png", 8, 8)
    with pytest.raises(TypeError, match=r"image: expected a path"):
        ImageExtractor(image=3)
