from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
import torch

from condition_extractors import CannyExtractor, DepthExtractor, SingleSketchExtractor, SketchExtractor, load_image


class ScaledSum(torch.nn.Module):
    """Fake depth network: predicted_depth = 100 * (sum of the [-1, 1] input channels), to check the mapping."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, pixel_values):
        return SimpleNamespace(predicted_depth=100.0 * pixel_values.sum(dim=1))


def test_depth_with_tiny_dpt_has_shape_range_and_matches_the_model(tiny_dpt):
    frames = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    depth = DepthExtractor(model=tiny_dpt, batch_size=2)(frames)
    assert depth.shape == (3, 1, 64, 64) and depth.dtype == torch.float32
    assert depth.min() >= 0 and depth.max() <= 10
    with torch.no_grad():
        expected = tiny_dpt(pixel_values=frames * 2 - 1).predicted_depth.unsqueeze(1) / 20
    torch.testing.assert_close(depth, expected.clamp(0, 10))


def test_depth_divides_by_20_and_clamps_to_0_10():
    frames = torch.tensor([0.5, 0.51, 0.6, 1.0]).view(4, 1, 1, 1).expand(4, 3, 16, 16).contiguous()
    depth = DepthExtractor(model=ScaledSum())(frames)
    # inputs -> [-1, 1]: 0, 0.02, 0.2, 1; x 3 channels x 100 / 20 -> 0, 0.3, 3, 15 -> clamp 10
    torch.testing.assert_close(depth[:, 0, 0, 0], torch.tensor([0.0, 0.3, 3.0, 10.0]))


def test_depth_loads_a_local_folder(tiny_dpt, tmp_path):
    tiny_dpt.save_pretrained(tmp_path / "dpt")
    frames = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(DepthExtractor(model=str(tmp_path / "dpt"))(frames), DepthExtractor(tiny_dpt)(frames))


def test_depth_rejects_bad_arguments():
    with pytest.raises(TypeError, match=r"model: expected a hub id, a local path or a torch.nn.Module"):
        DepthExtractor(model=3)
    with pytest.raises(ValueError, match=r"depth_std, depth_clamp and batch_size must be positive"):
        DepthExtractor(model=ScaledSum(), depth_std=0)


def test_sketch_with_tiny_pidinet_uses_imagenet_normalisation_and_last_output(tiny_pidinet):
    frames = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    sketch = SketchExtractor(model=tiny_pidinet)(frames)
    assert sketch.shape == (2, 1, 32, 32) and sketch.min() >= 0 and sketch.max() <= 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = tiny_pidinet((frames - mean) / std)[-1]
    torch.testing.assert_close(sketch, expected)


def test_sketch_simplifier_is_applied_to_the_inverted_edges(tiny_pidinet):
    frames = torch.rand(2, 3, 32, 32)
    edges = SketchExtractor(model=tiny_pidinet)(frames)
    squared = SketchExtractor(model=tiny_pidinet, simplifier=Square())(frames)
    torch.testing.assert_close(squared, 1 - (1 - edges) ** 2)


class Square(torch.nn.Module):
    def forward(self, x):
        return x**2


def test_sketch_loads_table5_pidinet_weights_with_module_prefix(tiny_pidinet, tmp_path):
    state = {"module." + key: value for key, value in tiny_pidinet.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "table5_pidinet.pth")
    frames = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(SketchExtractor(model=tmp_path)(frames), SketchExtractor(model=tiny_pidinet)(frames))


def test_sketch_rejects_missing_weights_and_bad_models(tmp_path):
    with pytest.raises(ValueError, match=r"model=.*table5_pidinet\.pth.*no such PiDiNet weights file"):
        SketchExtractor(model=tmp_path)
    with pytest.raises(TypeError, match=r"model: expected a local weights path or a torch.nn.Module"):
        SketchExtractor(model=1.0)
    with pytest.raises(TypeError, match=r"simplifier"):
        SketchExtractor(model=Square(), simplifier="gan")


def test_single_sketch_repeats_the_first_frame_sketch(tiny_pidinet):
    frames = torch.rand(3, 3, 32, 32)
    single = SingleSketchExtractor(model=tiny_pidinet)(frames)
    first = SketchExtractor(model=tiny_pidinet)(frames[:1])
    assert single.shape == (3, 1, 32, 32)
    for frame in single:
        torch.testing.assert_close(frame, first[0])


def test_single_sketch_of_a_user_drawing_goes_through_pidinet(tiny_pidinet):
    drawing = np.zeros((64, 64, 3), np.uint8)
    drawing[20:40, 30] = 255
    single = SingleSketchExtractor(model=tiny_pidinet, image=PIL.Image.fromarray(drawing))(torch.rand(2, 3, 32, 32))
    expected = SketchExtractor(model=tiny_pidinet)(load_image(drawing, 32, 32)[None])
    assert single.shape == (2, 1, 32, 32)
    torch.testing.assert_close(single, expected.expand(2, -1, -1, -1))


def test_canny_marks_a_step_edge_and_nothing_on_flat_areas():
    frames = torch.zeros(2, 3, 32, 32)
    frames[:, :, :, 16:] = 1.0
    edges = CannyExtractor()(frames)
    assert edges.shape == (2, 1, 32, 32) and set(edges.unique().tolist()) == {0.0, 1.0}
    columns = torch.nonzero(edges[0, 0].sum(dim=0)).flatten().tolist()
    assert set(columns) <= {15, 16} and edges[0, 0, 2:-2, columns[0]].all()
    assert torch.count_nonzero(CannyExtractor()(torch.full((1, 3, 16, 16), 0.3))) == 0


def test_canny_rejects_inverted_thresholds():
    with pytest.raises(ValueError, match=r"low_threshold <= high_threshold"):
        CannyExtractor(200, 100)
