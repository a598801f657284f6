"""The temporal shift against a loop-by-loop reference, and the temporal discriminator's sensitivity to frame order."""

import pytest
import torch

from videocomposer.models.temporal import temporal_shift
from videocomposer.models.temporal_discriminator import TemporalDiscriminator


def reference_shift(x: torch.Tensor, num_frames: int, fold_div: int) -> torch.Tensor:
    """Written out per clip, frame and channel: fold channels from t+1, fold from t-1, zeros past the ends."""
    out = torch.empty_like(x)
    fold = x.shape[1] // fold_div
    for clip in range(x.shape[0] // num_frames):
        for t in range(num_frames):
            row = clip * num_frames + t
            for c in range(x.shape[1]):
                if c < fold:
                    source = t + 1
                elif c < 2 * fold:
                    source = t - 1
                else:
                    source = t
                out[row, c] = x[clip * num_frames + source, c] if 0 <= source < num_frames else 0.0
    return out


@pytest.mark.parametrize("channels, fold_div, num_frames", [(16, 8, 4), (13, 4, 3), (8, 8, 1)])
def test_temporal_shift_equals_the_written_out_reference(channels, fold_div, num_frames):
    x = torch.randn(2 * num_frames, channels, 3, 2, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    shifted = temporal_shift(x, num_frames, fold_div)
    torch.testing.assert_close(shifted, reference_shift(x, num_frames, fold_div), rtol=0, atol=0)
    torch.testing.assert_close(x, before, rtol=0, atol=0)  # not in place


def test_temporal_shift_direction_on_a_ramp():
    # frame t holds the value t everywhere: channel 0 sees t+1 (0 at the end), channel 1 sees t-1 (0 at the start)
    x = torch.arange(4.0).view(4, 1, 1, 1).repeat(1, 8, 1, 1)
    shifted = temporal_shift(x, 4).flatten(1)
    assert shifted[:, 0].tolist() == [1.0, 2.0, 3.0, 0.0]
    assert shifted[:, 1].tolist() == [0.0, 0.0, 1.0, 2.0]
    assert shifted[:, 2:].equal(x.flatten(1)[:, 2:])


def test_temporal_shift_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"x: expected \(B \* 3, C"):
        temporal_shift(torch.zeros(4, 8), 3)
    with pytest.raises(ValueError, match="num_frames"):
        temporal_shift(torch.zeros(4, 8), 0)
    with pytest.raises(ValueError, match="fold_div"):
        temporal_shift(torch.zeros(4, 8), 2, fold_div=1)


def shuffled_logits(discriminator: TemporalDiscriminator) -> tuple[torch.Tensor, torch.Tensor]:
    video = torch.randn(2, 4, 6, 8, 8, generator=torch.Generator().manual_seed(1))
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        return discriminator(video), discriminator(video[:, :, order])


def test_the_discriminator_sees_frame_order_and_the_frame_wise_one_does_not():
    torch.manual_seed(0)
    temporal = TemporalDiscriminator(block_out_channels=(16, 32), fusion_resolution=4)
    logits, shuffled = shuffled_logits(temporal)
    assert logits.shape == (2,)
    assert (logits - shuffled).abs().min() > 1e-4

    frame_wise = TemporalDiscriminator(block_out_channels=(16, 32), fusion_resolution=4, temporal_shift=False)
    frame_wise.load_state_dict(temporal.state_dict())  # the same weights: only the shift differs
    logits, shuffled = shuffled_logits(frame_wise)
    torch.testing.assert_close(logits, shuffled, rtol=0, atol=1e-5)


def test_the_discriminator_shifts_only_above_the_fusion_resolution():
    torch.manual_seed(0)
    # fusion at 8: the first block's input (8x8) is already fused, so no block shifts and order does not matter
    discriminator = TemporalDiscriminator(block_out_channels=(16, 32), fusion_resolution=8)
    logits, shuffled = shuffled_logits(discriminator)
    torch.testing.assert_close(logits, shuffled, rtol=0, atol=1e-5)


def test_the_discriminator_matches_an_independent_forward():
    torch.manual_seed(0)
    d = TemporalDiscriminator(in_channels=3, block_out_channels=(8, 16), fusion_resolution=2)
    video = torch.randn(1, 3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    frames = video[0].permute(1, 0, 2, 3)  # (T, C, H, W)
    x = d.conv_in(frames)
    for block in d.blocks:  # inputs 8 and 4 are above 2: both blocks shift; fused after the last (2x2)
        skip = torch.nn.functional.avg_pool2d(block.skip(x), 2)
        r = reference_shift(x, 3, 8)
        r = torch.nn.functional.avg_pool2d(block.conv1(torch.nn.functional.leaky_relu(block.conv0(r), 0.2)), 2)
        x = (skip + r) / 2**0.5
    expected = d.proj_out(torch.nn.functional.leaky_relu(x.mean(0, keepdim=True), 0.2).sum((2, 3))).squeeze(1)
    with torch.no_grad():
        torch.testing.assert_close(d(video), expected.detach(), rtol=1e-5, atol=1e-6)


def test_the_discriminator_rejects_bad_shapes_and_configs():
    with pytest.raises(ValueError, match=r"video: expected \(B, 4, T, H, W\)"):
        TemporalDiscriminator(block_out_channels=(8,))(torch.zeros(1, 3, 2, 8, 8))
    with pytest.raises(ValueError, match="block_out_channels"):
        TemporalDiscriminator(block_out_channels=(4,))
    with pytest.raises(ValueError, match="fusion_resolution"):
        TemporalDiscriminator(fusion_resolution=0)


def stc_inputs():
    generator = torch.Generator().manual_seed(4)
    return {"motion": torch.randn(2, 2, 5, 16, 16, generator=generator)}


def test_stc_encoder_defaults_load_without_the_new_keys_and_compute_as_before(tmp_path):
    import json

    from videocomposer.models import STCEncoder

    torch.manual_seed(0)
    stc = STCEncoder(condition_channels={"motion": 2}).eval()
    assert stc.gate is None and not stc.branches["motion"].shift
    stc.save_pretrained(tmp_path / "stc")
    config = json.loads((tmp_path / "stc" / "config.json").read_text())
    del config["temporal_shift"], config["output_gate"]  # a config written before these options existed
    (tmp_path / "stc" / "config.json").write_text(json.dumps(config))
    loaded = STCEncoder.from_pretrained(tmp_path / "stc").eval()
    assert not loaded.config.temporal_shift and not loaded.config.output_gate
    with torch.no_grad():
        # exact: same kernels, same shapes, one process
        assert torch.equal(loaded(stc_inputs(), latent_size=(4, 4)).sample, stc(stc_inputs(), latent_size=(4, 4)).sample)


def test_stc_temporal_shift_mixes_frames_before_conv_mid():
    from videocomposer.models import STCEncoder

    torch.manual_seed(0)
    plain = STCEncoder(condition_channels={"motion": 2}).eval()
    shifted = STCEncoder(condition_channels={"motion": 2}, temporal_shift=True).eval()
    shifted.load_state_dict(plain.state_dict())  # no parameters of its own
    conditions = stc_inputs()
    branch = plain.branches["motion"]
    with torch.no_grad():
        x = conditions["motion"].permute(0, 2, 1, 3, 4).reshape(10, 2, 16, 16)
        x = torch.nn.functional.adaptive_avg_pool2d(branch.act(branch.conv_in(x)), (16, 16))
        x = branch.conv_out(branch.act(branch.conv_mid(reference_shift(x, 5, 8))))
        x = x.reshape(2, 5, 8, 4, 4).permute(0, 3, 4, 1, 2).reshape(-1, 5, 8)
        x = x + branch.attn(branch.norm(x))
        expected = (x + branch.ff(x)).reshape(2, 4, 4, 5, 8).permute(0, 4, 3, 1, 2)
        out = shifted(conditions, latent_size=(4, 4)).sample
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
        assert (out - plain(conditions, latent_size=(4, 4)).sample).abs().max() > 1e-3


def test_stc_output_gate_starts_closed_and_trains():
    from videocomposer.models import STCEncoder

    torch.manual_seed(0)
    stc = STCEncoder(condition_channels={"motion": 2}, output_gate=True)
    out = stc(stc_inputs(), latent_size=(4, 4)).sample
    assert torch.equal(out, torch.zeros_like(out))
    out.sum().backward()
    assert stc.gate.grad.abs().min() > 0  # every channel's gate can open
    with torch.no_grad():
        stc.gate.fill_(0.5)
        ungated = STCEncoder(condition_channels={"motion": 2})
        ungated.load_state_dict({k: v for k, v in stc.state_dict().items() if k != "gate"})
        torch.testing.assert_close(
            stc.eval()(stc_inputs(), latent_size=(4, 4)).sample,
            0.5 * ungated.eval()(stc_inputs(), latent_size=(4, 4)).sample,
        )
