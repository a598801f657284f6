"""Overlapping temporal windows: window layout, fusion weights, windowed attention, and the models using them."""

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from videocomposer.models import STCEncoder, VideoComposerUNet3DModel
from videocomposer.models.temporal_windows import (
    TemporalWindows,
    WindowedAttnProcessor,
    context_windows,
    fuse_windows,
    fusion_weights,
    set_temporal_windows,
    window_profile,
)


def tiny_unet(num_frames: int = 8) -> VideoComposerUNet3DModel:
    torch.manual_seed(0)
    unet = VideoComposerUNet3DModel(
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        layers_per_block=1,
        norm_num_groups=8,
        cross_attention_dim=12,
        attention_head_dim=8,
        transformer_in_num_heads=2,
        image_embed_dim=None,
        dropout=0.0,
        num_frames=num_frames,
    ).eval()
    with torch.no_grad():  # zero-initialised output projections would hide the temporal attention
        for parameter in unet.parameters():
            if not parameter.any():
                parameter.normal_(0, 0.2)
    return unet


def unet_inputs(num_frames: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(1, 4, num_frames, 8, 8, generator=g),
        "timestep": 500,
        "encoder_hidden_states": torch.randn(1, 5, 12, generator=g),
        "condition_latents": torch.randn(1, 8, num_frames, 8, 8, generator=g),
    }


@pytest.mark.parametrize(
    ("num_frames", "length", "stride", "expected_starts"),
    [
        (24, 8, 4, [0, 4, 8, 12, 16]),
        (25, 8, 4, [0, 4, 8, 12, 16, 17]),
        (20, 8, 8, [0, 8, 12]),
        (9, 8, 1, [0, 1]),
    ],
)
def test_context_windows_have_full_length_and_reach_the_last_frame(num_frames, length, stride, expected_starts):
    windows = context_windows(num_frames, length, stride)
    assert windows == [(s, s + length) for s in expected_starts]


@pytest.mark.parametrize("num_frames", [1, 5, 8])
def test_a_sequence_within_one_window_is_one_window(num_frames):
    assert context_windows(num_frames, 8, 4) == [(0, num_frames)]


def test_pyramid_profile_trusts_window_edges_least():
    assert window_profile(8, "pyramid").tolist() == [1, 2, 3, 4, 4, 3, 2, 1]
    assert window_profile(5, "pyramid").tolist() == [1, 2, 3, 2, 1]
    assert window_profile(4, "flat").tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("weighting", ["flat", "pyramid"])
@pytest.mark.parametrize(
    ("num_frames", "length", "stride"), [(24, 8, 4), (64, 8, 4), (31, 8, 3), (17, 16, 16), (8, 8, 4)]
)
def test_fusion_weights_sum_to_one_and_cover_every_frame(weighting, num_frames, length, stride):
    windows = context_windows(num_frames, length, stride)
    weights = fusion_weights(num_frames, windows, weighting)
    assert weights.shape == (len(windows), num_frames)
    torch.testing.assert_close(weights.sum(0), torch.ones(num_frames, dtype=torch.float64), rtol=0, atol=1e-12)
    assert (weights >= 0).all()
    for index, (start, end) in enumerate(windows):
        assert (weights[index, :start] == 0).all() and (weights[index, end:] == 0).all()
        assert (weights[index, start:end] > 0).all()
    covered = torch.zeros(num_frames, dtype=torch.bool)
    for start, end in windows:
        covered[start:end] = True
    assert covered.all()


def test_fusion_weights_follow_the_normalised_profile():
    # frame 5 of 12 frames, windows (0, 8) and (4, 12): pyramid r = 3 in the first (position 5), 2 in the second.
    weights = fusion_weights(12, [(0, 8), (4, 12)], "pyramid")
    assert weights[:, 5].tolist() == pytest.approx([3 / 5, 2 / 5])
    assert weights[:, 0].tolist() == [1.0, 0.0]


def test_fusion_weights_reject_uncovered_frames():
    with pytest.raises(ValueError, match=r"frames \[4\] lie in no window"):
        fusion_weights(8, [(0, 4), (5, 8)], "flat")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"context_length": 0}, "context_length: expected a positive int"),
        ({"context_length": 8, "context_stride": 9}, r"context_stride: expected an int in \[1, context_length=8\]"),
        ({"context_length": 8, "context_stride": 0}, "context_stride"),
        ({"context_length": 8, "weighting": "gauss"}, "weighting: expected one of"),
    ],
)
def test_temporal_windows_validate_their_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TemporalWindows(**kwargs)


def test_fuse_windows_matches_a_direct_weighted_sum():
    # fn depends on the window (cumulative sum from the window start), so every window's output differs.
    x = torch.randn(2, 20, 3, dtype=torch.float64)
    windows = TemporalWindows(8, 5, "pyramid")
    fused = fuse_windows(lambda s, e: x[:, s:e].cumsum(dim=1), 20, windows, dim=1)
    spans = [(0, 8), (5, 13), (10, 18), (12, 20)]
    expected = torch.zeros_like(x)
    for f in range(20):
        held = [(s, e) for s, e in spans if s <= f < e]
        r = [min(f - s + 1, e - f) for s, e in held]
        for (s, _end), weight in zip(held, r):
            expected[:, f] += weight / sum(r) * x[:, s : f + 1].sum(dim=1)
    torch.testing.assert_close(fused, expected)


def _attention(seed: int = 0) -> Attention:
    torch.manual_seed(seed)
    return Attention(query_dim=16, heads=2, dim_head=8, bias=False, out_bias=True).eval()


def test_windowed_attention_is_the_unwindowed_attention_within_one_window():
    attn, x = _attention(), torch.randn(6, 8, 16)
    with torch.no_grad():
        full = attn(x)
        attn.set_processor(WindowedAttnProcessor(attn.processor, TemporalWindows(8, 4)))
        assert torch.equal(attn(x), full)  # exact: same kernels, same shapes, one process
        attn.set_processor(WindowedAttnProcessor(attn.processor.processor, TemporalWindows(32, 4)))
        assert torch.equal(attn(x), full)  # exact: same kernels, same shapes, one process


def test_windowed_attention_equals_attention_restricted_to_each_window():
    attn, x = _attention(1), torch.randn(3, 14, 16, dtype=torch.float64)
    attn = attn.double()

    def plain_attention(frames: torch.Tensor) -> torch.Tensor:  # softmax(q k^T / sqrt(d)) v per head, written out
        q, k, v = attn.to_q(frames), attn.to_k(frames), attn.to_v(frames)
        split = lambda t: t.reshape(*t.shape[:2], 2, 8).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        weights = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5, dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(*frames.shape[:2], 16)
        return attn.to_out[0](out)

    with torch.no_grad():
        attn.set_processor(WindowedAttnProcessor(AttnProcessor2_0(), TemporalWindows(8, 6, "flat")))
        windowed = attn(x)
        windows = [(0, 8), (6, 14)]
        outputs = [plain_attention(x[:, s:e]) for s, e in windows]
        expected = torch.empty_like(x)
        expected[:, :6] = outputs[0][:, :6]
        expected[:, 6:8] = (outputs[0][:, 6:8] + outputs[1][:, :2]) / 2
        expected[:, 8:] = outputs[1][:, 2:]
        torch.testing.assert_close(windowed, expected)
        assert not torch.allclose(windowed, plain_attention(x))


def test_windowed_attention_rejects_cross_attention():
    attn = _attention()
    attn.set_processor(WindowedAttnProcessor(attn.processor, TemporalWindows(4, 2)))
    with pytest.raises(ValueError, match="temporal self-attention only"):
        attn(torch.randn(1, 8, 16), encoder_hidden_states=torch.randn(1, 3, 16))


def test_set_temporal_windows_wraps_once_and_unwraps():
    attn = _attention()
    original = attn.processor
    set_temporal_windows([attn], TemporalWindows(8, 4))
    set_temporal_windows([attn], TemporalWindows(8, 2))
    assert isinstance(attn.processor, WindowedAttnProcessor) and attn.processor.processor is original
    assert attn.processor.windows == TemporalWindows(8, 2)
    set_temporal_windows([attn], None)
    assert attn.processor is original


def test_unet_num_frames_config_is_validated_and_saved():
    assert tiny_unet(num_frames=8).config.num_frames == 8
    with pytest.raises(ValueError, match="num_frames: expected a positive int"):
        tiny_unet(num_frames=0)


@pytest.mark.parametrize("num_frames", [3, 8])
def test_unet_within_the_window_is_bit_identical_with_windows(num_frames):
    unet, inputs = tiny_unet(), unet_inputs(num_frames)
    with torch.no_grad():
        reference = unet(**inputs).sample
        unet.set_temporal_windows(TemporalWindows(8, 4))
        assert unet.temporal_windows == TemporalWindows(8, 4)
        windowed = unet(**inputs).sample
    assert torch.equal(windowed, reference)  # exact: same kernels, same shapes, one process


def test_unet_windows_change_only_long_sequences_and_can_be_removed():
    unet, inputs = tiny_unet(), unet_inputs(20)
    with torch.no_grad():
        full = unet(**inputs).sample
        unet.set_temporal_windows(TemporalWindows(8, 4))
        windowed = unet(**inputs).sample
        unet.set_temporal_windows(None)
        assert unet.temporal_windows is None
        again = unet(**inputs).sample
    assert windowed.shape == full.shape and torch.isfinite(windowed).all()
    assert (windowed - full).abs().max() > 1e-4
    assert torch.equal(again, full)  # exact: same kernels, same shapes, one process


def test_stc_encoder_windows_are_bit_identical_within_a_window_and_local_beyond():
    torch.manual_seed(0)
    stc = STCEncoder(condition_channels={"depth": 1}, hidden_channels=8, num_attention_heads=2, attention_head_dim=4)
    stc.eval()
    g = torch.Generator().manual_seed(0)
    short, long = torch.rand(1, 1, 8, 32, 32, generator=g), torch.rand(1, 1, 24, 32, 32, generator=g)
    with torch.no_grad():
        short_full, long_full = stc({"depth": short}, (8, 8)).sample, stc({"depth": long}, (8, 8)).sample
        stc.set_temporal_windows(TemporalWindows(8, 4))
        assert stc.temporal_windows == TemporalWindows(8, 4)
        assert torch.equal(stc({"depth": short}, (8, 8)).sample, short_full)  # exact: same kernels, same shapes, one process
        long_windowed = stc({"depth": long}, (8, 8)).sample
        # frames 0..3 lie only in the first window: they see frames 0..7 only, so changing frame 20 cannot reach them
        edited = long.clone()
        edited[:, :, 20] = 0.0
        # exact: same kernels, same shapes, one process
        assert torch.equal(stc({"depth": edited}, (8, 8)).sample[:, :, :4], long_windowed[:, :, :4])
    assert (long_windowed - long_full).abs().max() > 1e-6


@pytest.mark.parametrize("chunk_size", [1, 3, 8])
def test_unet_frame_chunking_gives_the_same_prediction(chunk_size):
    unet, inputs = tiny_unet(), unet_inputs(6)
    inputs["encoder_hidden_states"] = torch.randn(1, 6, 5, 12)  # per-frame context is chunked with the frames
    with torch.no_grad():
        reference = unet(**inputs).sample
        unet.enable_frame_chunking(chunk_size)
        chunked = unet(**inputs).sample
        unet.disable_frame_chunking()
    torch.testing.assert_close(chunked, reference, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="chunk_size: expected a positive int"):
        unet.enable_frame_chunking(0)


def test_unet_per_frame_context_equals_shared_context_when_frames_agree():
    unet, inputs = tiny_unet(), unet_inputs(5)
    with torch.no_grad():
        shared = unet(**inputs).sample
        per_frame = dict(inputs, encoder_hidden_states=inputs["encoder_hidden_states"][:, None].expand(-1, 5, -1, -1))
        # exact: same kernels, same shapes, one process
        torch.testing.assert_close(unet(**per_frame).sample, shared, rtol=0, atol=0)
        other = per_frame["encoder_hidden_states"].clone()
        other[:, 4] = torch.randn(5, 12)
        changed = unet(**dict(inputs, encoder_hidden_states=other)).sample
    assert not torch.allclose(changed, shared)
    with pytest.raises(ValueError, match=r"encoder_hidden_states: expected \(1, L, 12\) or \(1, 5, L, 12\)"):
        unet(**dict(inputs, encoder_hidden_states=torch.randn(1, 4, 5, 12)))
