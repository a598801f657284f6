"""Protocol details against the references: CLIP's preprocessing, CLIPSIM, VBench's rules, jumps, feature merging."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videocomposer.metrics import (
    ClipEncoder,
    FeatureStatistics,
    VideoFeatures,
    centroid_steps,
    clip_text_similarity,
    clipsim,
    content_steps,
    dynamic_decision,
    dynamic_interval,
    first_and_previous_similarity,
    is_dynamic,
    jump_ratio,
    pair_motion,
)
from videocomposer.metrics.clip import CLIP_MEAN, CLIP_STD


def embed(model, pixels):
    return model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)


def test_clip_frames_are_preprocessed_as_clips_own_processor_does(tiny_tokenizer, tiny_clip):
    from transformers import CLIPImageProcessor

    model = tiny_clip
    encoder = ClipEncoder.from_transformers(model, tiny_tokenizer)
    rng = np.random.default_rng(0)
    frames = (rng.random((3, 48, 96, 3)) * 255).astype(np.uint8)  # 2:1 frames: squashing would distort them
    frames[:, :, :24] = 0  # content the centre crop drops
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                   image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))  # fmt: skip
    pixels = processor(images=list(frames), return_tensors="pt").pixel_values
    with torch.no_grad():
        reference = F.normalize(embed(model, pixels).double(), dim=1).numpy()
        squashed = F.interpolate(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255, size=(32, 32),
                                 mode="bicubic", antialias=True).clamp(0, 1)  # fmt: skip
        squashed = (squashed - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        squashed = F.normalize(embed(model, squashed).double(), dim=1).numpy()
    ours = encoder.encode_frames(frames)
    ours = ours / np.linalg.norm(ours, axis=1, keepdims=True)
    # PIL's bicubic (the processor) and torch's antialiased bicubic differ by ~1/255 per pixel, not by the crop
    ours_error, squash_error = np.abs(ours - reference).max(), np.abs(squashed - reference).max()
    assert ours_error < 0.02 and ours_error < squash_error / 5


def test_clipsim_is_100_times_the_clamped_cosine_beside_the_raw_one(tiny_tokenizer, tiny_clip):
    encoder = ClipEncoder.from_transformers(tiny_clip, tiny_tokenizer)
    frames = np.random.default_rng(1).random((4, 32, 32, 3)).astype(np.float32)
    images = encoder.encode_frames(frames)
    text = encoder.encode_texts(["a red cat runs"])[0]
    cosines = images @ text / np.linalg.norm(images, axis=1) / np.linalg.norm(text)
    assert clip_text_similarity(frames, "a red cat runs", encoder) == pytest.approx(cosines.mean(), abs=1e-9)
    expected = np.mean(100 * np.maximum(cosines, 0))
    assert clipsim(frames, "a red cat runs", encoder) == pytest.approx(expected, abs=1e-7)


def test_subject_consistency_clamps_each_cosine_as_vbench():
    features = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.1]])
    # t = 1: cos(prev) = 0, cos(first) = 0; t = 2: cos(prev) = 0.0995 (> 0), cos(first) = -0.995 -> clamped to 0
    second = 0.1 / np.hypot(1.0, 0.1)
    assert first_and_previous_similarity(features) == pytest.approx((0.0 + (second + 0.0) / 2) / 2, abs=1e-12)


def test_dynamic_degree_uses_vbenchs_frame_step_and_count_rule():
    assert [dynamic_interval(fps) for fps in (4, 8, 12, 13, 24, 30, 60)] == [1, 1, 2, 2, 3, 4, 8]
    with pytest.raises(ValueError, match="fps: expected a positive frame rate"):
        dynamic_interval(0)
    flows = np.zeros((2, 20, 20, 2))
    flows[0, :2, :10, 0] = 3.0  # 20 pixels = the top 5 % of 400: motion 3 px
    np.testing.assert_allclose(pair_motion(flows), [3.0, 0.0])
    threshold = 6.0 * 20 / 256  # 0.47 px
    # VBench: round(4 * n / 16) pairs above the threshold; n = 8 frames -> 2 pairs, n = 5 -> round(1.25) = 1
    assert dynamic_decision(np.array([1.0, 0.0]), 8, 20, 20) is False
    assert dynamic_decision(np.array([1.0, 0.0]), 5, 20, 20) is True
    assert dynamic_decision(np.array([threshold, 1.0]), 8, 20, 20) is False  # strictly above
    assert is_dynamic(flows)  # 3 frames: round(0.75) = 1 pair needed


def test_jump_ratio_finds_the_teleport_against_the_median_step():
    centroids = np.array([[10.0, 5], [11, 5], [12, 5], [40, 5], [41, 5], [np.nan, np.nan], [43, 5]])
    steps = centroid_steps(centroids)
    np.testing.assert_allclose(steps[:4], [1, 1, 28, 1])
    jump = jump_ratio(steps)
    assert (jump.pair, jump.largest, jump.median, jump.ratio) == (2, 28.0, 1.0, 28.0)
    assert jump_ratio(np.zeros(4)).ratio == 1.0 and jump_ratio(np.array([0, 0, 0, 2.0])).ratio == np.inf
    still = np.zeros((4, 16, 16, 3), np.uint8)
    np.testing.assert_allclose(content_steps(still), 0.0)
    with pytest.raises(ValueError, match="at least 2 finite steps"):
        jump_ratio(np.array([1.0, np.nan]))


def test_feature_statistics_merge_equals_one_stream():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 3)), rng.normal(5, 2, size=(5, 3))
    whole, left, right = FeatureStatistics(), FeatureStatistics(), FeatureStatistics()
    whole.update(np.concatenate([a, b]))
    left.update(a)
    right.update(b)
    left.merge(right)
    left.merge(FeatureStatistics())  # an empty set adds nothing
    assert left.count == 12
    for got, expected in zip(left.mean_and_covariance(), whole.mean_and_covariance()):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        whole.mean_and_covariance()[1], np.cov(np.concatenate([a, b]), rowvar=False), rtol=1e-12, atol=1e-12
    )  # fmt: skip  (N - 1, as StyleGAN-V's np.cov)


def test_video_features_run_a_model_without_parameters():
    class Stats(torch.nn.Module):  # StyleGAN-V's detector signature, no parameters at all
        def forward(self, x, rescale: bool, resize: bool, return_features: bool):
            assert rescale and resize and return_features and x.max() > 1.0  # [0, 255] values, as StyleGAN-V
            return torch.stack([x.mean(dim=(1, 2, 3, 4)), x.std(dim=(1, 2, 3, 4))], dim=1)

    clips = np.random.default_rng(0).integers(0, 256, (2, 4, 8, 8, 3), dtype=np.uint8)
    features = VideoFeatures(torch.jit.script(Stats()), "i3d")(clips)
    expected = [[c.astype(np.float64).mean(), c.astype(np.float64).std(ddof=1)] for c in clips]
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-4)
