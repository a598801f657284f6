"""Lai et al. 2018 warping error against the formula written out pixel by pixel, and its occlusion mask."""

import numpy as np
import pytest

from videocomposer.metrics import (
    lai_pair_errors,
    mean_abs_warping_error,
    occlusion_mask,
    pair_flows,
    pairwise_warping_errors,
    warping_error,
)


def bilinear(image, x, y):
    """image sampled at (x, y), coordinates clamped to the border (replicated), written out by hand."""
    h, w = image.shape[:2]
    x, y = min(max(x, 0.0), w - 1.0), min(max(y, 0.0), h - 1.0)
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    ax, ay = x - x0, y - y0
    return (1 - ay) * ((1 - ax) * image[y0, x0] + ax * image[y0, x1]) + ay * (
        (1 - ax) * image[y1, x0] + ax * image[y1, x1]
    )


def reference_pair_error(a, b, forward, backward):
    """Eq. 7 of Lai et al. with Ruder et al.'s occlusion test, one pixel at a time."""
    h, w = a.shape[:2]
    total, visible = 0.0, 0
    squares = []
    for y in range(h):
        for x in range(w):
            f = forward[y, x].astype(np.float64)
            back = bilinear(backward.astype(np.float64), x + f[0], y + f[1])
            occluded = np.sum((f + back) ** 2) > 0.01 * (np.sum(f**2) + np.sum(back**2)) + 0.5
            gradient = 0.0
            for c in range(2):
                du = forward[y, x, c] - forward[y, x + 1, c] if x + 1 < w else 0.0
                dv = forward[y, x, c] - forward[y + 1, x, c] if y + 1 < h else 0.0
                gradient += du**2 + dv**2
            occluded |= gradient > 0.01 * np.sum(f**2) + 0.002
            difference = bilinear(b.astype(np.float64) / 255.0, x + f[0], y + f[1]) - a[y, x] / 255.0
            squares.append(np.sum(difference**2))
            if not occluded:
                total += np.sum(difference**2)
                visible += 1
    return total / (3 * visible) if visible else np.sum(squares) / (3 * h * w)


def test_lai_warping_error_matches_the_written_out_formula():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 10, 12, 3), dtype=np.uint8)
    flows = rng.normal(0.0, 1.5, (4, 10, 12, 2)).astype(np.float32)
    flows[:, :, :6] = [1.25, -0.5]  # a consistent region (visible) beside a random one (mostly occluded)
    flows[2:, :, :6] = [-1.25, 0.5]
    calls = []

    def flow_fn(a, b):  # forward pairs first, then backward pairs (the documented order of the two calls)
        calls.append(len(a))
        return flows[:2] if len(calls) == 1 else flows[2:]

    got = lai_pair_errors(frames, flow_fn)
    expected = [reference_pair_error(frames[t], frames[t + 1], flows[t], flows[2 + t]) for t in range(2)]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)
    calls.clear()
    assert warping_error(frames, flow_fn) == pytest.approx(np.mean(expected), rel=1e-5, abs=1e-9)


def test_occlusion_mask_flags_inconsistent_flow_and_motion_boundaries():
    forward = np.zeros((8, 8, 2), np.float32)
    backward = np.zeros((8, 8, 2), np.float32)
    forward[...] = [2.0, 0.0]
    backward[...] = [-2.0, 0.0]
    assert not occlusion_mask(forward, backward).any()  # consistent, smooth: all visible
    backward[:, 4:] = [3.0, 0.0]  # forward lands on a backward flow pointing elsewhere
    mask = occlusion_mask(forward, backward)
    assert mask[:, 2:6].all() and not mask[:, :1].any()
    edge = np.zeros((8, 8, 2), np.float32)
    edge[:, 4:] = [3.0, 0.0]
    assert occlusion_mask(edge, -edge)[:, 3].all()  # the motion boundary between columns 3 and 4


def test_published_scale_and_the_l1_variant_stay_apart():
    yy, xx = np.mgrid[:48, :48]
    base = np.stack([128 + 60 * np.sin(xx / 5.0), 128 + 60 * np.cos(yy / 7.0), 100 + 0 * xx], -1)
    smooth = np.stack([np.roll(base, 2 * t, axis=1) for t in range(5)]).astype(np.uint8)
    flicker = smooth.copy()
    flicker[1::2] = 255 - flicker[1::2]
    assert warping_error(smooth) < 1e-3 < warping_error(flicker)
    # squared error of [0, 1] values: far below the mean absolute error of the same frames
    assert warping_error(flicker) < mean_abs_warping_error(flicker)
    with pytest.raises(ValueError, match="at least 2 frames"):
        warping_error(smooth[:1])
    with pytest.raises(ValueError, match="flow_fn: expected flows of shape"):
        warping_error(smooth, lambda a, b: np.zeros((1, 2, 2, 2)))


def test_the_l1_variant_can_share_the_forward_farneback_flows():
    yy, xx = np.mgrid[:32, :32]
    base = np.stack([128 + 60 * np.sin(xx / 4.0), 128 + 60 * np.cos(yy / 5.0), 90 + 0 * xx], -1)
    frames = np.stack([np.roll(base, t, axis=0) for t in range(4)]).astype(np.uint8)
    forward, backward = pair_flows(frames)
    assert forward.shape == backward.shape == (3, 32, 32, 2)
    # the same Farneback kernels on the same frames in one process: bit-identical
    np.testing.assert_array_equal(pairwise_warping_errors(frames, forward), pairwise_warping_errors(frames))
    np.testing.assert_array_equal(lai_pair_errors(frames, flows=(forward, backward)), lai_pair_errors(frames))
