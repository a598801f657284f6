"""A condition defined outside the package (one spec, one extractor) goes through extraction, training and
generation without any edit of the package."""

import numpy as np
import torch

from condition_extractors import ConditionExtractor, base, extract_conditions, register_extractor
from condition_extractors.video import load_video, resize_center_crop
from pipelines import VideoComposerPipeline
from videocomposer import conditions as schema
from videocomposer.conditions import ConditionSpec, register_condition
from videocomposer.visualize import condition_grid


class HorizontalEdges(ConditionExtractor):
    """|horizontal grey-level difference| of each frame, in [0, 1]."""

    name = "edges"
    condition = "edges"

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        grey = frames.mean(1, keepdim=True)
        return torch.nn.functional.pad((grey[..., 1:] - grey[..., :-1]).abs(), (1, 0))


def test_a_plugin_condition_from_extraction_through_training_to_generation(
    tmp_path, monkeypatch, make_tiny_components, make_videos, training_argv, run_training
):
    for registry in (schema, base):  # registered for this test only
        monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_condition(ConditionSpec(name="edges", channels=1))
    register_extractor(HorizontalEdges)

    captions = make_videos(tmp_path / "videos", 1, num_frames=4)
    video = next(captions.parent.glob("*.mp4"))
    conditions = extract_conditions(video, ["edges"], num_frames=4, fps=8, height=32, width=32, progress=False)
    frames = resize_center_crop(load_video(video, 4, 8), 48, 48).numpy().mean(1)  # (F, 48, 48) at 1.5x
    expected = np.zeros_like(frames)
    expected[..., 1:] = np.abs(np.diff(frames, axis=-1))
    assert list(conditions) == ["edges"] and conditions["edges"].shape == (1, 1, 4, 48, 48)
    np.testing.assert_allclose(conditions["edges"][0, 0].numpy(), expected, rtol=0, atol=1e-6)
    assert conditions["edges"].max() > 0.1  # the shapes have edges

    model_dir, output_dir = tmp_path / "model", tmp_path / "out"
    VideoComposerPipeline(**make_tiny_components(conditions={"motion": 2, "edges": 1})).save_pretrained(model_dir)
    result = run_training(training_argv(model_dir, captions, output_dir, "--stage", "compositional",
                                        "--conditions", "edges", "--max_train_steps", "2"))  # fmt: skip
    assert result.global_step == 2 and len(result.losses) == 2
    initial = VideoComposerPipeline.from_pretrained(str(model_dir))
    pipe = VideoComposerPipeline.from_pretrained(str(output_dir))
    assert not torch.equal(pipe.stc_encoder.branches["edges"].conv_in.weight,
                           initial.stc_encoder.branches["edges"].conv_in.weight)  # fmt: skip

    pipe.set_progress_bar_config(disable=True)
    call = dict(num_frames=4, height=32, width=32, num_inference_steps=2, output_type="pt")
    steered = pipe("a red circle", conditions=conditions, generator=torch.Generator().manual_seed(0), **call).frames
    plain = pipe("a red circle", generator=torch.Generator().manual_seed(0), **call).frames
    assert steered.shape == (1, 4, 3, 32, 32) and torch.isfinite(steered).all()
    assert (steered - plain).abs().max() > 1e-4
    grid = condition_grid(steered[0], conditions, labels=False)
    assert grid.shape == (4, 32, 32 + 32, 3)  # the edges tile (48² shown at 32²) beside the video
