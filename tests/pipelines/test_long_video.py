"""Long video in `VideoComposerPipeline`: windows beyond the trained length, long-range noise, long conditions and
prompt segments (tiny components, trained window 8)."""

import sys
from pathlib import Path

import pytest
import torch
from diffusers.utils.testing_utils import CaptureLogger
from diffusers.utils.torch_utils import randn_tensor

from condition_extractors import CannyExtractor, extract_conditions
from pipelines import VideoComposerPipeline
from pipelines import long_video as long_video_module
from pipelines.long_video import LongVideoSettings, prompt_segment_weights, split_prompt_segments
from pipelines.long_video_noise import bspline_noise, freenoise_noise, long_video_noise
from videocomposer.models.temporal_windows import TemporalWindows
from videocomposer.motion.bspline import uniform_quadratic_weights

WINDOW, LONG = 8, 24


@pytest.fixture
def pipe(tiny_components) -> VideoComposerPipeline:
    pipe = VideoComposerPipeline(**tiny_components)
    pipe.set_progress_bar_config(disable=True)
    pipe.unet.register_to_config(num_frames=WINDOW)
    return pipe


def run(pipe, num_frames, seed=0, prompt="a red ball", **kwargs):
    kwargs = (
        dict(
            num_frames=num_frames,
            height=32,
            width=32,
            num_inference_steps=2,
            guidance_scale=3.0,
            generator=torch.Generator().manual_seed(seed),
            output_type="latent",
        )
        | kwargs
    )
    return pipe(prompt, **kwargs).frames


def long_depth(num_frames: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 1, num_frames, 48, 48, generator=torch.Generator().manual_seed(seed)) * 10


@pytest.mark.parametrize("noise_type", ["random", "shuffle_context", "bspline"])
def test_24_frames_with_window_8_for_every_noise_type(pipe, noise_type):
    pipe.enable_long_video(noise_type=noise_type)
    latents = run(pipe, LONG, depth=long_depth(LONG))
    assert latents.shape == (1, 4, LONG, 4, 4)
    assert torch.isfinite(latents).all()
    assert pipe.stc_encoder.temporal_windows == TemporalWindows(WINDOW, 4, "pyramid")
    assert pipe.unet.temporal_windows == TemporalWindows(WINDOW, 4, "pyramid")


@pytest.mark.parametrize("num_frames", [5, WINDOW])
def test_within_the_window_long_video_settings_change_nothing(pipe, num_frames):
    reference = run(pipe, num_frames, depth=long_depth(num_frames))
    pipe.enable_long_video(context_stride=2, weighting_scheme="flat", noise_type="bspline")
    # exact: same kernels, same shapes, one process
    assert torch.equal(run(pipe, num_frames, depth=long_depth(num_frames)), reference)
    pipe.disable_long_video()
    # exact: same kernels, same shapes, one process
    assert torch.equal(run(pipe, num_frames, depth=long_depth(num_frames)), reference)


def test_long_video_is_automatic_beyond_the_window_and_logged_once(pipe):
    logger = long_video_module.logger
    with CaptureLogger(logger) as captured:
        automatic = run(pipe, LONG)
        run(pipe, LONG, seed=1)
    assert captured.out.count("exceeds the 8 frames the model was trained on") == 1
    assert pipe.unet.temporal_windows == TemporalWindows(WINDOW, 4, "pyramid")
    pipe.enable_long_video()  # the documented defaults
    with CaptureLogger(logger) as captured:
        assert torch.equal(run(pipe, LONG), automatic)  # exact: same kernels, same shapes, one process
    assert captured.out == ""


def test_disable_long_video_restores_full_length_attention(pipe):
    pipe.enable_long_video(noise_type="random")
    windowed = run(pipe, LONG)
    pipe.disable_long_video()
    full = run(pipe, LONG)
    assert pipe.unet.temporal_windows is None and pipe.stc_encoder.temporal_windows is None
    # same noise (random noise is the plain draw), different temporal attention
    assert not torch.allclose(windowed, full)
    pipe.unet.set_temporal_windows(None)
    assert torch.equal(run(pipe, LONG), full)  # exact: same kernels, same shapes, one process


def test_enable_long_video_validates_its_arguments(pipe):
    with pytest.raises(ValueError, match=r"context_stride: expected an int in \[1, context_length=8\]"):
        pipe.enable_long_video(context_stride=9)
    with pytest.raises(TypeError, match="mode"):  # Gen-L-Video moved to benchmarks/gen_l_video.py
        pipe.enable_long_video(mode="unet")
    with pytest.raises(ValueError, match="noise_type: expected one of"):
        pipe.enable_long_video(noise_type="pink")
    with pytest.raises(ValueError, match="prompt_transition: expected a positive int"):
        pipe.enable_long_video(prompt_transition=0)
    with pytest.raises(ValueError, match="weighting_scheme: expected one of"):
        pipe.enable_long_video(weighting_scheme="gauss")


def test_random_noise_is_the_plain_draw():
    shape = (2, 4, 20, 3, 3)
    noise = long_video_noise(shape, "random", TemporalWindows(8), 4, torch.manual_seed(3), "cpu", torch.float32)
    assert torch.equal(noise, randn_tensor(shape, generator=torch.manual_seed(3)))


def test_freenoise_reuses_each_earlier_window_block_in_shuffled_order():
    shape, windows = (1, 4, 27, 3, 3), TemporalWindows(8, 4)
    noise = freenoise_noise(shape, windows, torch.manual_seed(0), "cpu", torch.float32)
    first = randn_tensor(shape, generator=torch.manual_seed(0))[:, :, :8]
    assert torch.equal(noise[:, :, :8], first)
    for start in range(8, 27, 4):
        block = noise[:, :, start : min(start + 4, 27)]
        source = noise[:, :, start - 8 : start - 8 + block.shape[2]]
        # the same frames, in some order: every frame of the block equals exactly one source frame
        matches = [
            [torch.equal(block[:, :, i], source[:, :, j]) for j in range(source.shape[2])]
            for i in range(block.shape[2])
        ]
        assert all(sum(row) == 1 for row in matches)
        assert sorted(row.index(True) for row in matches) == list(range(block.shape[2]))


def test_bspline_noise_blends_anchors_with_unit_variance_weights():
    shape, spacing = (2, 3, 17, 4, 4), 4
    noise = bspline_noise(shape, spacing, torch.manual_seed(0), "cpu", torch.float64)
    anchors = randn_tensor((2, 3, (17 - 1) // spacing + 3, 4, 4), generator=torch.manual_seed(0), dtype=torch.float64)
    for t in (0, 5, 16):
        j, u = divmod(t, spacing)
        w = torch.from_numpy(uniform_quadratic_weights(u / spacing))
        expected = sum(w[i] * anchors[:, :, j + i] for i in range(3)) / w.square().sum().sqrt()
        torch.testing.assert_close(noise[:, :, t], expected)
    big = bspline_noise((64, 4, 24, 8, 8), spacing, torch.manual_seed(1), "cpu", torch.float64)
    assert big.std(dim=(0, 1, 3, 4)).sub(1).abs().max() < 0.05  # unit variance at every frame
    correlation = lambda a, b: (big[:, :, a] * big[:, :, b]).mean().item()  # noqa: E731
    assert correlation(4, 5) > 0.8  # neighbours share their anchors
    assert abs(correlation(4, 20)) < 0.05  # 4 anchor spacings apart: independent


def spy_unet(pipe) -> list[tuple]:
    """Record the (sample, encoder_hidden_states) of every UNet call."""
    calls, original = [], pipe.unet.forward

    def spy(sample, timestep, encoder_hidden_states, *args, **kwargs):
        calls.append((sample, encoder_hidden_states))
        return original(sample, timestep, encoder_hidden_states, *args, **kwargs)

    pipe.unet.forward = spy
    return calls


@pytest.mark.parametrize("noise_type", ["random", "shuffle_context", "bspline"])
def test_the_first_step_denoises_the_noise_of_the_noise_type(pipe, noise_type):
    pipe.enable_long_video(noise_type=noise_type, context_stride=3, noise_anchor_spacing=5)
    calls = spy_unet(pipe)
    run(pipe, LONG, seed=7)
    expected = long_video_noise(
        (1, 4, LONG, 4, 4),
        noise_type,
        TemporalWindows(8, 3),
        5,
        torch.Generator().manual_seed(7),
        "cpu",
        torch.float32,
    )
    first_sample = calls[0][0]  # both guidance branches: the same latents
    torch.testing.assert_close(first_sample[1:], expected * pipe.scheduler.init_noise_sigma)


def test_a_single_frame_condition_is_repeated_over_every_frame(pipe):
    one = long_depth(1)
    # exact: same kernels, same shapes, one process
    assert torch.equal(run(pipe, LONG, depth=one), run(pipe, LONG, depth=one.expand(-1, -1, LONG, -1, -1).clone()))


def test_a_condition_shorter_than_the_video_is_an_error(pipe):
    with pytest.raises(ValueError, match=r"`depth` has 8 frames but `num_frames` is 24; .* or a single frame"):
        run(pipe, LONG, depth=long_depth(8))


def test_extract_conditions_takes_the_whole_clip_without_num_frames():
    clip = torch.rand(37, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    conditions = extract_conditions(clip, [CannyExtractor()], num_frames=None, height=32, width=32, progress=False)
    assert conditions["sketch"].shape == (1, 1, 37, 48, 48)


def test_prompt_segment_weights_ramp_over_the_transition():
    weights = prompt_segment_weights([0, 10], 20, transition=4)
    torch.testing.assert_close(weights.sum(0), torch.ones(20, dtype=torch.float64))
    # ramp (f + 0.5 - 10) / 4 + 0.5: frames 8..11 blend, 7 and 12 are pure
    assert weights[1, :12].tolist() == [0.0] * 8 + [0.125, 0.375, 0.625, 0.875]
    assert weights[1, 12:].tolist() == [1.0] * 8
    hard = prompt_segment_weights([0, 5, 7], 10, transition=1)
    assert hard.argmax(0).tolist() == [0] * 5 + [1] * 2 + [2] * 3 and set(hard.flatten().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize(
    ("prompt", "error", "message"),
    [
        ([(1, "a"), (5, "b")], ValueError, "start at frame 0"),
        (
            [(0, "a"), (5, "b"), (5, "c")],
            ValueError,
            r"strictly increasing frames below num_frames=24, got starts \[0, 5, 5\]",
        ),
        ([(0, "a"), (24, "b")], ValueError, "below num_frames=24"),
        ([(0, "a"), (4, " ")], ValueError, "non-empty texts"),
        ([(0, "a"), "b"], TypeError, r"\(start_frame, text\) segments for one video, got the item 'b'"),
        ([(0.5, "a")], TypeError, "segments"),
        ([(True, "a")], TypeError, "segments"),
    ],
)
def test_prompt_segments_are_validated(pipe, prompt, error, message):
    with pytest.raises(error, match=message):
        split_prompt_segments(prompt, LONG)
    with pytest.raises(error, match=message):
        run(pipe, LONG, prompt=prompt)


def test_ordinary_prompts_are_not_segments():
    assert split_prompt_segments("a", 8) == ("a", None)
    assert split_prompt_segments(["a", "b"], 8) == (["a", "b"], None)
    assert split_prompt_segments([(0, "a"), (4, "b")], 8) == ("a", [(0, "a"), (4, "b")])


def test_prompt_segments_of_one_text_equal_the_single_prompt(pipe):
    single = run(pipe, LONG, prompt="a red ball")
    segmented = run(pipe, LONG, prompt=[(0, "a red ball"), (12, "a red ball")])
    torch.testing.assert_close(segmented, single, rtol=1e-5, atol=1e-5)


def test_prompt_segments_interpolate_embeddings_per_frame(pipe):
    pipe.enable_long_video(prompt_transition=4)
    calls = spy_unet(pipe)
    run(pipe, LONG, prompt=[(0, "a red ball"), (12, "a blue square")], num_videos_per_prompt=2)
    context = calls[0][1]  # (2 guidance branches x 2 videos, F, L, D)
    assert context.shape[:2] == (4, LONG)
    embeds = pipe._encode_text(["", "a red ball", "a blue square"], "cpu")
    torch.testing.assert_close(context[0], embeds[0][None].expand(LONG, -1, -1))  # negative: constant
    torch.testing.assert_close(context[2, 0], embeds[1])
    torch.testing.assert_close(context[3, 23], embeds[2])
    torch.testing.assert_close(context[2, 11], 0.625 * embeds[1] + 0.375 * embeds[2])  # ramp 0.375


def test_settings_defaults_follow_the_unet_window(pipe):
    assert pipe.long_video_settings == LongVideoSettings(TemporalWindows(8, 4), prompt_transition=8)
    pipe.enable_long_video(context_length=6, context_stride=3, noise_type="bspline")
    assert pipe.long_video_settings == LongVideoSettings(
        TemporalWindows(6, 3), noise_type="bspline", noise_anchor_spacing=3, prompt_transition=6
    )
    pipe.disable_long_video()
    assert pipe.long_video_settings is None


def test_cli_generates_64_frames_from_a_stroke_with_the_demo_model(tmp_path, capsys):
    from condition_extractors import load_video
    from videocomposer.cli import main

    strokes = tmp_path / "stroke.json"
    strokes.write_text('{"width": 64, "height": 64, "strokes": [{"points": [[10, 32], [54, 32], [54, 10]]}]}')
    output = tmp_path / "long.mp4"
    code = main(["generate", "--prompt", "a red circle moving right", "--strokes", str(strokes), "--frames", "64",
                 "--steps", "1", "--frame-chunk-size", "16", "--noise-type", "bspline", "--output", str(output)])  # fmt: skip
    assert code == 0
    assert "64 frames, temporal attention over windows of 8 frames" in capsys.readouterr().out
    assert tuple(load_video(output, num_frames=None, fps=4).shape) == (64, 3, 64, 64)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--context-stride", "9", "--context-length", "8"],
            "--context-stride: expected an integer in [1, --context-length]",
        ),
        (["--frame-chunk-size", "0"], "--frame-chunk-size: expected a positive integer"),
        (["--context-length", "0"], "--context-length: expected a positive integer"),
    ],
)
def test_cli_rejects_bad_long_video_options(tmp_path, capsys, extra, message):
    from videocomposer.cli import main

    code = main(["generate", "--prompt", "a red circle", "--output", str(tmp_path / "out.mp4"), *extra])
    assert code == 2 and message in capsys.readouterr().err


def test_gen_l_video_fuses_whole_unet_predictions_of_each_window(pipe):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from gen_l_video import gen_l_video

    pipe.enable_long_video(context_stride=6, weighting_scheme="flat")
    g = torch.Generator().manual_seed(0)
    sample, context = torch.randn(1, 4, 14, 4, 4, generator=g), torch.randn(1, 14, 16, 32, generator=g)
    conditions = torch.randn(1, 8, 14, 4, 4, generator=g)

    def window(s, e):
        return pipe.unet(sample[:, :, s:e], 500, context[:, s:e], conditions[:, :, s:e], return_dict=False)[0]

    first, second = window(0, 8), window(6, 14)  # windows (0, 8) and (6, 14), flat weights: overlap 6, 7 averaged
    expected = torch.cat([first[:, :, :6], (first[:, :, 6:] + second[:, :, :2]) / 2, second[:, :, 2:]], dim=2)
    pipe.unet.set_temporal_windows(pipe.long_video_settings.windows)  # as the pipeline installs them: removed inside
    with gen_l_video(pipe):
        fused = pipe.unet(sample, 500, context, conditions, None, return_dict=False)[0]
        assert pipe.unet.temporal_windows is None
        assert pipe.unet(sample, 500, context, conditions, None).sample.shape == sample.shape
        latents = run(pipe, LONG)
    torch.testing.assert_close(fused, expected)
    assert "forward" not in vars(pipe.unet)  # the class's forward again
    assert latents.shape == (1, 4, LONG, 4, 4) and torch.isfinite(latents).all()
