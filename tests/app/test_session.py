"""`ComposerApp` on a tiny random pipeline: strokes -> conditions -> generation and its files; clip extraction."""

import json
import stat

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pipelines import VideoComposerPipeline
from videocomposer.app.canvas import new_canvas
from videocomposer.app.session import ComposerApp, check_generation
from videocomposer.motion import load_strokes, strokes_to_motion_vectors

PROMPT = "a red cat runs in the snow"
CANVAS = dict(new_canvas(128, 128, 32.0), strokes=[{"points": [[10, 100], [60, 70], [120, 20]], "radius": 32.0}])


@pytest.fixture
def app(tiny_components, tmp_path) -> ComposerApp:
    pipe = VideoComposerPipeline(**tiny_components)
    pipe.set_progress_bar_config(disable=True)
    return ComposerApp(pipe, tmp_path / "outputs", height=32, width=32)


def decoded(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def test_stroke_conditions_scale_the_canvas_to_the_video(app):
    assert (app.height, app.width) == (32, 32)
    strokes, conditions = app.stroke_conditions(CANVAS, 4, keep_speed=False)
    assert (strokes.width, strokes.height) == (128, 128)
    expected = strokes_to_motion_vectors(strokes.scaled_to(32, 32).strokes, 4, 32, 32)
    # exact: same kernels, same shapes, one process
    torch.testing.assert_close(conditions["motion_vectors"], expected, rtol=0, atol=0)
    assert conditions["motion_vectors"].abs().sum() > 0


def test_generate_writes_video_grid_conditions_and_strokes(app):
    strokes, conditions = app.stroke_conditions(CANVAS, 4, keep_speed=False)
    calls = []
    outputs = app.generate(PROMPT, "", conditions, strokes, num_frames=4, steps=3, guidance=2.0, seed=1,
                           scales={"motion": 1.0}, progress=lambda step, total: calls.append((step, total)))  # fmt: skip
    assert calls == [(1, 3), (2, 3), (3, 3)]
    video = decoded(outputs.video)
    assert video.shape == (4, 32, 32, 3)
    grid = decoded(outputs.grid)
    assert grid.shape == (4, 128, 3 * 128, 3)  # motion, generated, legend
    saved = load_file(outputs.conditions)
    assert list(saved) == ["motion_vectors"]
    torch.testing.assert_close(saved["motion_vectors"], conditions["motion_vectors"])
    assert load_strokes(outputs.strokes) == strokes
    assert json.loads(outputs.strokes.read_text())["width"] == 128
    for path in (outputs.video, outputs.grid, outputs.conditions, outputs.strokes):
        assert path.parent == outputs.video.parent and stat.S_IMODE(path.stat().st_mode) & 0o044  # not 0600


def test_condition_scale_zero_equals_no_condition(app):
    strokes, conditions = app.stroke_conditions(CANVAS, 4, keep_speed=False)
    common = dict(num_frames=4, steps=2, guidance=2.0, seed=0)
    off = decoded(app.generate(PROMPT, "", conditions, strokes, scales={"motion": 0.0}, **common).video)
    none = decoded(app.generate(PROMPT, "", {}, None, **common).video)
    on = decoded(app.generate(PROMPT, "", conditions, strokes, scales={"motion": 1.0}, **common).video)
    np.testing.assert_array_equal(off, none)  # exact: same kernels, same shapes, one process
    # a scale for a branch that gets no condition changes nothing (the pipeline scales the fed branches only)
    unfed = decoded(app.generate(PROMPT, "", {}, None, scales={"motion": 0.5}, **common).video)
    np.testing.assert_array_equal(unfed, none)
    assert np.abs(on.astype(int) - none).max() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(prompt=" "), "prompt: write a prompt"),
        (dict(num_frames=1), "frames: expected an integer >= 2"),
        (dict(steps=0), "steps: expected an integer >= 1"),
        (dict(guidance=-1.0), "guidance: expected a number >= 0"),
        (dict(seed=-3), "seed: expected an integer >= 0"),
        (dict(scales={"motion": -0.5}), "motion scale: expected a number >= 0"),
    ],
)
def test_check_generation(kwargs, message):
    arguments = dict(prompt=PROMPT, num_frames=4, steps=2, guidance=1.0, seed=0, scales=None) | kwargs
    with pytest.raises(ValueError, match=message):
        check_generation(**arguments)


def test_generate_rejects_conditions_of_another_frame_count(app):
    _, conditions = app.stroke_conditions(CANVAS, 6, keep_speed=False)
    with pytest.raises(ValueError, match="motion_vectors: extracted for 6 frames, but 4 are requested"):
        app.generate(PROMPT, "", conditions, num_frames=4, steps=1)


def test_extract_motion_canny_and_a_user_mask(app, clip_path):
    conditions, source = app.extract(clip_path, ["motion", "canny"], 4)
    assert sorted(conditions) == ["motion_vectors", "sketch"]
    assert tuple(conditions["motion_vectors"].shape) == (1, 2, 4, 32, 32)
    assert tuple(conditions["sketch"].shape) == (1, 1, 4, 48, 48)  # 1.5x the video, as the original
    assert source.shape == (4, 32, 32, 3) and source.dtype == np.uint8
    mask = np.zeros((48, 64), bool)
    mask[:, 32:] = True  # the right half of the clip's frame
    masked, _ = app.extract(clip_path, ["mask"], 4, mask=mask)
    hole = masked["mask"][0, 0]
    assert tuple(hole.shape) == (4, 48, 48)
    assert hole[:, :, :22].sum() == 0 and hole[:, :, 26:].min() == 1  # centre crop of the right half
    assert masked["masked_video"][0, :, :, :, 26:].abs().sum() == 0
    preview = app.preview(conditions, source)
    assert preview.shape == (4, 128, 4 * 128, 3)  # source, motion, sketch, legend


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([], "tick at least one condition"),
        (["depth"], "depth needs DPT depth weights: start the app with --depth-model"),
        (["sketch"], "sketch needs PiDiNet weights: start the app with --sketch-model"),
        (["sketch", "canny"], "sketch and canny both give the sketch condition"),
        (["flow"], r"conditions: unknown \['flow'\]"),
    ],
)
def test_extract_errors_before_reading_the_clip(app, names, message):
    with pytest.raises(ValueError, match=message):
        app.extract("/nonexistent/clip.mp4", names, 4)


def test_extract_needs_the_branch(tiny_components, make_tiny_components, tmp_path, clip_path):
    pipe = VideoComposerPipeline(**make_tiny_components(conditions={"sketch": 1}, image_encoder=False,
                                                        image_embed_dim=None))  # fmt: skip
    with pytest.raises(ValueError, match="the unet config has no `sample_size`"):
        ComposerApp(pipe, tmp_path)
    with pytest.raises(ValueError, match="width: expected a multiple of the VAE factor 8, got 36"):
        ComposerApp(pipe, tmp_path, height=32, width=36)
    app = ComposerApp(pipe, tmp_path, height=32, width=32)
    with pytest.raises(ValueError, match="motion: this model has no 'motion' condition"):
        app.extract(clip_path, ["motion"], 4)
    with pytest.raises(ValueError, match="strokes: this model has no 'motion' condition"):
        app.stroke_conditions(CANVAS, 4, False)
    assert app.scale_names == ["sketch"]


def test_stop_ends_the_generation_and_writes_nothing(app):
    from videocomposer.app.session import GenerationStopped

    strokes, conditions = app.stroke_conditions(CANVAS, 4, keep_speed=False)
    steps = []
    with pytest.raises(GenerationStopped, match="stopped after step 2 of 5; nothing was written") as caught:
        app.generate(PROMPT, "", conditions, strokes, num_frames=4, steps=5, seed=1,
                     progress=lambda step, total: steps.append(step), should_stop=lambda: len(steps) >= 2)  # fmt: skip
    assert (caught.value.step, caught.value.total) == (2, 5) and steps == [1, 2]
    assert not app.output_dir.exists() or not any(app.output_dir.iterdir())


def test_guidance_none_leaves_the_pipeline_default(app):
    def frames(outputs) -> np.ndarray:
        with av.open(str(outputs.video)) as container:
            return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])

    default = app.pipeline.config.default_guidance_scale
    from_model = frames(app.generate(PROMPT, "", {}, num_frames=2, steps=1, seed=0))
    given = frames(app.generate(PROMPT, "", {}, num_frames=2, steps=1, guidance=default, seed=0))
    other = frames(app.generate(PROMPT, "", {}, num_frames=2, steps=1, guidance=default + 4.0, seed=0))
    np.testing.assert_array_equal(from_model, given)  # exact: same kernels, same shapes, one process, same encoder
    assert not np.array_equal(from_model, other)

