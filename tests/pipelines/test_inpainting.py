"""`preserve_unmasked=True`: the frame outside the mask is the source, the hole gets new content."""

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from pipelines.inpainting import LatentBlend, latent_hole, to_output_size

from .conftest import HEIGHT, NUM_FRAMES, WIDTH


def source_and_mask(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    video = torch.rand(1, 3, NUM_FRAMES, size, size, generator=g)
    mask = torch.zeros(1, 1, NUM_FRAMES, size, size)
    mask[..., size // 4 : size // 2, size // 4 : 3 * size // 4] = 1.0
    return video, mask


def run(pipe, call_kwargs, **kwargs) -> np.ndarray:
    return pipe(prompt="a red ball", **call_kwargs(output_type="np"), **kwargs).frames


def test_outside_the_mask_is_the_source_and_inside_is_new(pipe, call_kwargs):
    video, mask = source_and_mask(HEIGHT)
    frames = run(pipe, call_kwargs, masked_video=video, mask=mask, preserve_unmasked=True)  # (1, F, H, W, 3)
    source = video.permute(0, 2, 3, 4, 1).numpy()
    outside = mask.permute(0, 2, 3, 4, 1).numpy()[..., 0] == 0
    assert frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3)
    assert np.abs(frames - source)[outside].max() <= 1 / 255
    assert np.abs(frames - source)[~outside].mean() > 0.02  # generated, not copied


def test_default_samples_as_before(pipe, call_kwargs):
    video, mask = source_and_mask(48)
    default = run(pipe, call_kwargs, masked_video=video, mask=mask)
    off = run(pipe, call_kwargs, masked_video=video, mask=mask, preserve_unmasked=False)
    on = run(pipe, call_kwargs, masked_video=video, mask=mask, preserve_unmasked=True)
    np.testing.assert_array_equal(default, off)
    assert np.abs(default - on).max() > 0.05


def test_a_larger_masked_video_is_composited_at_the_output_size(pipe, call_kwargs):
    video, mask = source_and_mask(48)  # 1.5x, as the original feeds masks
    frames = run(pipe, call_kwargs, masked_video=video, mask=mask, preserve_unmasked=True)
    source, hole = to_output_size(video, mask, HEIGHT, WIDTH)
    outside = hole[0, 0].numpy() == 0
    expected = source[0].permute(1, 2, 3, 0).numpy()
    assert outside.sum() > 0.5 * outside.size
    assert np.abs(frames[0] - expected)[outside].max() <= 1 / 255


def test_preserve_unmasked_needs_a_mask(pipe, call_kwargs):
    with pytest.raises(ValueError, match="`preserve_unmasked=True` needs `masked_video` and `mask`"):
        run(pipe, call_kwargs, preserve_unmasked=True)


def test_latent_hole_marks_every_cell_a_hole_pixel_touches():
    mask = torch.zeros(1, 1, 2, 32, 32)
    mask[0, 0, 0, 9, 17] = 1.0  # cell (1, 2) of the 8x8 grid
    mask[0, 0, 1, 0:16, 0:8] = 1.0  # cells (0, 0) and (1, 0)
    hole = latent_hole(mask, (4, 4))
    expected = torch.zeros(1, 1, 2, 4, 4)
    expected[0, 0, 0, 1, 2] = 1
    expected[0, 0, 1, 0:2, 0] = 1
    torch.testing.assert_close(hole, expected, atol=0, rtol=0)


def test_blend_renoises_the_known_region_and_keeps_the_hole():
    scheduler = DDIMScheduler(num_train_timesteps=1000)
    g = torch.Generator().manual_seed(0)
    source, noise, latents = (torch.randn(1, 4, 2, 4, 4, generator=g) for _ in range(3))
    keep = torch.ones(1, 1, 2, 4, 4)
    keep[..., 1:3, 1:3] = 0
    blend = LatentBlend(source, keep, noise, torch.zeros(1, 3, 2, 32, 32), torch.zeros(1, 1, 2, 32, 32))
    t = torch.tensor(500)
    out = blend.blend(latents, scheduler, t)
    alpha = scheduler.alphas_cumprod[500]
    noised = alpha.sqrt() * source + (1 - alpha).sqrt() * noise  # q(x_t | x_0)
    inside = keep.expand_as(out) == 0
    torch.testing.assert_close(out[~inside], noised[~inside], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out[inside], latents[inside], atol=0, rtol=0)
    last = blend.blend(latents, scheduler, None)
    torch.testing.assert_close(last[~inside], source[~inside], atol=0, rtol=0)


@pytest.mark.parametrize(
    ("conditions", "opt_out", "expected"),
    [({"masked_video": 0, "mask": 0}, False, True), ({"masked_video": 0, "mask": 0}, True, False), ({}, False, False)],
)
def test_generate_keeps_the_frame_by_default_when_it_inpaints(conditions, opt_out, expected):
    import argparse
    from pathlib import Path
    from types import SimpleNamespace

    from videocomposer.commands.generate import BatchItem, generate_one

    calls = []

    def pipeline(*args, **kwargs):
        calls.append(kwargs)
        return SimpleNamespace(frames=[None])

    args = argparse.Namespace(steps=2, guidance=None, model=None, frame_chunk_size=None,
                              no_preserve_unmasked=opt_out)  # fmt: skip
    generate_one(args, pipeline, BatchItem("a red ball", None, None, 0, Path("out.mp4")), conditions, 4, 32, 32)
    assert calls[0]["preserve_unmasked"] is expected
