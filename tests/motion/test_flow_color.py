import mmcv
import numpy as np
import pytest
import torch

from videocomposer.motion.flow_color import flow_to_color, middlebury_color_wheel


def test_color_wheel_matches_mmcv():
    np.testing.assert_allclose(middlebury_color_wheel(), mmcv.visualization.optflow.make_color_wheel(), atol=1e-6)


def test_flow_to_color_matches_mmcv_flow2rgb():
    flow = np.random.default_rng(0).normal(0, 3, (24, 32, 2)).astype(np.float32)
    expected = np.round(mmcv.flow2rgb(flow) * 255).astype(np.uint8)
    # another implementation's float steps: a last-bit difference may round to the next uint8 level
    np.testing.assert_allclose(flow_to_color(flow), expected, rtol=0, atol=1)


def test_known_colours():
    def colour(dx, dy):
        return flow_to_color(np.array([[[dx, dy]]], dtype=np.float64))[0, 0].tolist()

    assert colour(0.0, 0.0) == [255, 255, 255]  # no motion: white
    assert colour(1.0, 0.0) == [255, 0, 0]  # right: red
    red, green, blue = colour(-1.0, 0.0)  # left: cyan
    assert red == 0 and green > 150 and blue == 255
    red, green, blue = colour(0.0, 1.0)  # down (y grows downwards): yellow-orange
    assert red == 255 and green > 150 and blue == 0


def test_magnitude_sets_saturation_relative_to_the_largest_vector():
    flow = np.zeros((1, 3, 2))
    flow[0, 1, 0], flow[0, 2, 0] = 1.0, 2.0
    image = flow_to_color(flow)
    assert image[0, 0].tolist() == [255, 255, 255]
    assert image[0, 2].tolist() == [255, 0, 0]  # the largest vector is fully saturated
    assert image[0, 1].tolist() == [255, 128, 128]  # half as long: half saturated (1 - 0.5 (1 - colour))
    # A fixed max_radius: beyond it the colour is darkened by 0.75.
    assert flow_to_color(flow, max_radius=1.0)[0, 2].tolist() == [191, 0, 0]


def test_channel_layouts_and_torch_input_agree():
    flow = np.random.default_rng(1).normal(0, 1, (5, 7, 2))
    channels_last = flow_to_color(flow)
    # strided inputs may take numpy's non-SIMD loops: one uint8 level of rounding
    np.testing.assert_allclose(flow_to_color(flow.transpose(2, 0, 1)), channels_last, rtol=0, atol=1)
    np.testing.assert_allclose(flow_to_color(torch.from_numpy(flow.transpose(2, 0, 1))), channels_last, rtol=0, atol=1)
    assert channels_last.shape == (5, 7, 3) and channels_last.dtype == np.uint8


def test_non_finite_vectors_are_black():
    flow = np.ones((2, 2, 2))
    flow[0, 0, 0] = np.nan
    assert flow_to_color(flow)[0, 0].tolist() == [0, 0, 0]


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"flow must have shape \(2, H, W\) or \(H, W, 2\)"):
        flow_to_color(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="max_radius must be > 0"):
        flow_to_color(np.zeros((2, 4, 5)), max_radius=0.0)
