import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from condition_extractors import (
    ConditionExtractor,
    available_extractors,
    base,
    extract_conditions,
    get_extractor,
    register_extractor,
)

BUILT_IN = {"canny", "depth", "image", "mask", "motion", "single_sketch", "sketch"}


def test_built_in_extractors_are_available_with_their_pipeline_keys():
    assert BUILT_IN <= set(available_extractors())
    motion = get_extractor("motion")
    assert (motion.condition, motion.outputs, motion.channels, motion.scale) == (
        "motion",
        {"motion_vectors": 2},
        2,
        1.0,
    )
    mask = get_extractor("mask", seed=0)
    assert (mask.condition, mask.outputs, mask.channels, mask.scale) == (
        "masked",
        {"masked_video": 3, "mask": 1},
        4,
        1.5,
    )


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"unknown extractor name 'flow'; available: \['canny'"):
        get_extractor("flow")


def test_registering_a_taken_name_raises(monkeypatch):
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))

    class Other(ConditionExtractor):
        name, condition, outputs = "motion", "motion", {"motion_vectors": 2}

        def extract(self, frames):
            return frames[:, :2]

    with pytest.raises(ValueError, match=r"'motion' is already registered"):
        register_extractor(Other)
    with pytest.raises(TypeError, match=r"ConditionExtractor subclass"):
        register_extractor(object)


def test_extractor_call_validates_frames():
    canny = get_extractor("canny")
    with pytest.raises(ValueError, match=r"CannyExtractor: frames must be a \(F, 3, H, W\) tensor"):
        canny(torch.rand(2, 1, 8, 8))
    with pytest.raises(TypeError, match=r"float in \[0, 1\]"):
        canny(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        canny(torch.full((2, 3, 8, 8), -1.0))


def test_third_party_extractor_is_found_through_an_entry_point(tmp_path, monkeypatch):
    (tmp_path / "vc_fake_plugin.py").write_text(
        textwrap.dedent("""
        from condition_extractors import ConditionExtractor

        class BrightnessExtractor(ConditionExtractor):
            name = "brightness"
            condition = "depth"
            outputs = {"depth": 1}

            def __init__(self, gain=1.0):
                self.gain = gain

            def extract(self, frames):
                return frames.mean(dim=1, keepdim=True) * self.gain
    """)
    )
    dist_info = tmp_path / "vc_fake_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: vc-fake-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[videocomposer.condition_extractors]\nbrightness = vc_fake_plugin:BrightnessExtractor\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "vc_fake_plugin", raising=False)

    assert "brightness" in available_extractors()
    extractor = get_extractor("brightness", gain=2.0)
    frames = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(extractor(frames), frames.mean(dim=1, keepdim=True) * 2)
    out = extract_conditions(
        frames, ["brightness"], num_frames=2, height=8, width=8, progress=False, brightness={"gain": 0.5}
    )
    assert out["depth"].shape == (1, 1, 2, 12, 12)


def test_extract_conditions_returns_every_pipeline_kwarg_at_its_size(
    tmp_path, video_writer, square_frames, tiny_dpt, tiny_pidinet
):
    path = video_writer(tmp_path / "clip.mp4", square_frames(8, size=64, square=24, start=(8, 8)), fps=4)
    out = extract_conditions(
        path,
        ["motion", "depth", "sketch", "single_sketch", "mask", "image"],
        num_frames=4,
        fps=4,
        height=32,
        width=32,
        progress=False,
        depth={"model": tiny_dpt},
        sketch={"model": tiny_pidinet},
        single_sketch={"model": tiny_pidinet},
        mask={"seed": 0},
    )
    shapes = {key: tuple(value.shape) for key, value in out.items()}
    assert shapes == {
        "motion_vectors": (1, 2, 4, 32, 32),
        "depth": (1, 1, 4, 48, 48),
        "sketch": (1, 1, 4, 48, 48),
        "single_sketch": (1, 1, 4, 48, 48),
        "masked_video": (1, 3, 4, 48, 48),
        "mask": (1, 1, 4, 48, 48),
        "image": (1, 3, 4, 48, 48),
    }
    assert all(value.dtype == torch.float32 for value in out.values())
    frames_384 = out["image"][0, :, 0]  # the first frame at 1.5x, [0, 1]
    assert frames_384.min() >= 0 and frames_384.max() <= 1
    torch.testing.assert_close(out["masked_video"][0, :, 0], frames_384 * (1 - out["mask"][0, :, 0]))


def test_extract_conditions_accepts_built_extractors_and_frames():
    frames = torch.rand(3, 3, 20, 20)
    out = extract_conditions(frames, [get_extractor("canny")], num_frames=3, height=16, width=16, progress=False)
    assert out["sketch"].shape == (1, 1, 3, 24, 24)


def test_extract_conditions_rejects_bad_arguments():
    frames = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"names must be a non-empty list"):
        extract_conditions(frames, "motion", num_frames=2)
    with pytest.raises(ValueError, match=r"both produce 'sketch'"):
        extract_conditions(frames, ["canny", get_extractor("canny")], num_frames=2)
    with pytest.raises(ValueError, match=r"\['depth'\] match no name"):
        extract_conditions(frames, ["motion"], num_frames=2, depth={"model": "x"})
    with pytest.raises(TypeError, match=r"extractor_kwargs\['mask'\] must be a dict"):
        extract_conditions(frames, ["mask"], num_frames=2, mask=3)


def test_importing_the_package_loads_no_models_pipelines_or_heavy_backends():
    code = (
        "import sys, condition_extractors; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pipelines', 'transformers', 'controlnet_aux') "
        "or m.startswith('videocomposer')]; print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=root, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_extractor_that_no_condition_lists_must_name_its_condition():
    class Orphan(ConditionExtractor):
        name = "orphan_edges"

        def extract(self, frames):
            return frames[:, :1]

    with pytest.raises(ValueError, match="extractor 'orphan_edges': no condition of the schema lists it"):
        _ = Orphan().condition
    assert (get_extractor("canny").condition, get_extractor("mask").condition) == ("sketch", "masked")
