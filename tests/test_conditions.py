"""The condition schema: specs, the registry (and its entry-point group), and the condition processor."""

import importlib.metadata
import re

import numpy as np
import PIL.Image
import pytest
import torch

from videocomposer import conditions as schema
from videocomposer.conditions import (
    BUILT_IN_CONDITIONS,
    ConditionProcessor,
    ConditionSpec,
    condition_of_input,
    get_condition,
    native_size,
    register_condition,
    video_size,
)
from videocomposer.models.stc_encoder import RELEASE_CONDITIONS


@pytest.fixture
def clean_registry(monkeypatch):
    """A registry that forgets what a test registers."""
    monkeypatch.setattr(schema, "_REGISTRY", dict(schema._REGISTRY))


def test_a_spec_needs_only_name_and_channels():
    spec = ConditionSpec(name="edges", channels=1)
    assert dict(spec.inputs) == {"edges": 1} and spec.extractors == ("edges",)
    assert (spec.value_range, spec.scale, spec.single_frame, spec.display) == ((0.0, 1.0), 1.5, False, "image")
    assert spec.size(64, 32) == (96, 48)
    with pytest.raises(ValueError, match=re.escape("inputs {'a': 2} must have positive channels summing to 1")):
        ConditionSpec(name="edges", channels=1, inputs={"a": 2})
    with pytest.raises(ValueError, match="ConditionSpec.name: expected an identifier"):
        ConditionSpec(name="my edges", channels=1)


def test_the_built_in_table_is_the_originals():
    assert [spec.name for spec in BUILT_IN_CONDITIONS] == [
        "depth", "local_image", "motion", "canny", "sketch", "single_sketch", "masked"
    ]  # fmt: skip  (the original's summation order)
    assert {name: get_condition(name).channels for name in RELEASE_CONDITIONS} == RELEASE_CONDITIONS
    assert condition_of_input("mask").name == condition_of_input("masked_video").name == "masked"
    assert condition_of_input("image").name == "local_image" and "canny" in get_condition("sketch").extractors
    assert get_condition("motion").size(256, 256) == (256, 256) and get_condition("depth").size(256, 256) == (384, 384)


def test_register_condition_refuses_clashes(clean_registry):
    spec = register_condition(ConditionSpec(name="edges", channels=1))
    assert register_condition(ConditionSpec(name="edges", channels=1)) == spec  # the same spec again: a no-op
    assert get_condition("edges") is spec and condition_of_input("edges") is spec
    with pytest.raises(ValueError, match="condition name 'edges' is already registered"):
        register_condition(ConditionSpec(name="edges", channels=2, inputs={"edges": 2}))
    with pytest.raises(ValueError, match=re.escape("input keyword(s) ['depth'] already feed 'depth'")):
        register_condition(ConditionSpec(name="depth2", channels=1, inputs={"depth": 1}))
    with pytest.raises(ValueError, match="unknown condition 'nope'; known condition inputs: .*'edges'"):
        condition_of_input("nope")


def test_entry_point_group_adds_a_condition(clean_registry, monkeypatch):
    point = importlib.metadata.EntryPoint("flow3", "tests.test_conditions:FLOW3", schema.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [point] if group == point.group else [])
    schema._load_entry_points.cache_clear()
    try:
        assert get_condition("flow3") == FLOW3 and condition_of_input("flow3").channels == 3
    finally:
        schema._load_entry_points.cache_clear()


FLOW3 = ConditionSpec(name="flow3", channels=3, value_range=None)


def test_video_size_is_the_native_size_unless_given():
    assert video_size({"sample_size": 8, "num_frames": 16}, 8) == (16, 64, 64)
    assert video_size({"sample_size": 8}, 8, 4, 32, None) == (4, 32, 64)
    with pytest.raises(ValueError, match="the unet config has no `sample_size`"):
        video_size({"sample_size": None}, 8, height=32)
    assert native_size({"sample_size": 40}, 8) == 320
    assert native_size({"sample_size": None}, 8) is None and native_size({}, 8) is None


def test_pil_images_map_onto_the_value_range():
    grey = PIL.Image.fromarray(np.full((6, 4), 255, np.uint8))
    depth = ConditionProcessor.to_tensor("depth", grey, 3)  # one image: repeated, 255 -> the depth clamp 10
    assert depth.shape == (1, 1, 3, 6, 4) and torch.equal(depth, torch.full((1, 1, 3, 6, 4), 10.0))
    sketch = ConditionProcessor.to_tensor("sketch", [grey, PIL.Image.new("L", (4, 6))], 2)
    assert torch.equal(sketch[0, 0, :, 0, 0], torch.tensor([1.0, 0.0]))
    with pytest.raises(TypeError, match="`motion_vectors` must be a torch.Tensor, a np.ndarray, got Image"):
        ConditionProcessor.to_tensor("motion_vectors", grey, 2)


def test_shapes_that_do_not_fit_the_video_name_both_sizes():
    processor = ConditionProcessor({"motion": 2, "depth": 1})
    fit = dict(num_frames=4, height=32, width=32)
    processor.check_shapes({"motion_vectors": (1, 2, 4, 32, 32), "depth": (1, 1, 4, 48, 48)}, **fit)
    with pytest.raises(ValueError, match=re.escape("`motion_vectors` is 64x64 but the video is 32x32: its values "
                                                   "are pixel displacements, so it has to be 32x32")):  # fmt: skip
        processor.check_shapes({"motion_vectors": (1, 2, 4, 64, 64)}, **fit)
    with pytest.raises(ValueError, match=re.escape("(condition 8x48x48, video 4x32x32)")):
        processor.check_shapes({"depth": (1, 1, 8, 48, 48)}, **fit)
    with pytest.raises(ValueError, match="`image`: the stc_encoder was not built with the 'local_image' condition"):
        processor.check_shapes({"image": (1, 3, 4, 48, 48)}, **fit)


def test_values_outside_the_range_are_refused():
    processor = ConditionProcessor({"sketch": 1})
    with pytest.raises(ValueError, match=re.escape("`sketch` has to be in [0, 1], got values in [255, 255]")):
        processor.check({"sketch": torch.full((1, 1, 2, 12, 12), 255.0)}, num_frames=2, height=8, width=8,
                        batch_size=1)  # fmt: skip


def test_to_stc_builds_the_masked_condition_and_broadcasts():
    g = torch.Generator().manual_seed(0)
    video, mask = torch.rand(1, 3, 2, 6, 6, generator=g), (torch.rand(1, 1, 2, 6, 6, generator=g) > 0.5).float()
    depth = torch.rand(2, 1, 2, 6, 6, generator=g)
    stc = ConditionProcessor.to_stc({"masked_video": video, "mask": mask, "depth": depth}, 2, "cpu", torch.float64)
    keep = 1 - mask.double()
    expected = torch.cat([(2 * video.double() - 1) * keep, keep], dim=1).expand(2, -1, -1, -1, -1)
    torch.testing.assert_close(stc["masked"], expected, rtol=0, atol=1e-12)
    assert stc["depth"].dtype == torch.float64 and torch.equal(stc["depth"], depth.double())
