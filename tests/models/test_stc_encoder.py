"""Behaviour of STCEncoder: shapes, summation, scales, parity with the original branch's formulas, errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from videocomposer.models import STCEncoder
from videocomposer.models.stc_encoder import KNOWN_CONDITIONS, RELEASE_CONDITIONS


@pytest.fixture(scope="module")
def stc() -> STCEncoder:
    torch.manual_seed(0)
    return STCEncoder().eval()


def cond(name, batch=2, frames=3, size=(24, 24), seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, RELEASE_CONDITIONS[name], frames, *size, generator=gen)


def original_branch(branch, x, latent_size):
    """The original `{name}_embedding` + `Transformer_v2` written out from its formulas (fused qkv, einsum)."""
    b, c, f, H, W = x.shape
    y = x.permute(0, 2, 1, 3, 4).reshape(b * f, c, H, W)
    y = F.silu(F.conv2d(y, branch.conv_in.weight, branch.conv_in.bias, padding=1))
    y = F.adaptive_avg_pool2d(y, (4 * latent_size[0], 4 * latent_size[1]))
    y = F.silu(F.conv2d(y, branch.conv_mid.weight, branch.conv_mid.bias, stride=2, padding=1))
    y = F.conv2d(y, branch.conv_out.weight, branch.conv_out.bias, stride=2, padding=1)
    _, d, h, w = y.shape
    seq = y.reshape(b, f, d, h, w).permute(0, 3, 4, 1, 2).reshape(b * h * w, f, d)  # (b h w) f c
    # attention: x + to_out(softmax(q k^T / sqrt(8)) v), 2 heads of 8, qkv = one fused bias-free Linear
    a = branch.attn
    w_qkv = torch.cat([a.to_q.weight, a.to_k.weight, a.to_v.weight], dim=0)
    normed = F.layer_norm(seq, (d,), branch.norm.weight, branch.norm.bias)
    q, k, v = (normed @ w_qkv.T).chunk(3, dim=-1)
    heads = 2
    q, k, v = (t.reshape(t.shape[0], f, heads, -1).transpose(1, 2) for t in (q, k, v))
    attn = torch.softmax(torch.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(q.shape[-1]), dim=-1)
    out = torch.einsum("bhij,bhjd->bhid", attn, v).transpose(1, 2).reshape(seq.shape[0], f, -1)
    seq = seq + F.linear(out, a.to_out[0].weight, a.to_out[0].bias)
    # feed-forward without norm: Linear(8, 32), GELU, Linear(32, 8), residual
    ff = branch.ff.net
    seq = seq + F.linear(F.gelu(F.linear(seq, ff[0].proj.weight, ff[0].proj.bias)), ff[2].weight, ff[2].bias)
    return seq.reshape(b, h, w, f, d).permute(0, 4, 3, 1, 2)


def test_default_conditions_are_the_release_in_the_original_order(stc):
    assert stc.conditions == ("depth", "local_image", "motion", "sketch", "single_sketch", "masked")
    assert {n: stc.branches[n].conv_in.in_channels for n in stc.conditions} == RELEASE_CONDITIONS


@pytest.mark.parametrize("size,latent", [((96, 96), (8, 8)), ((64, 64), (8, 8)), ((48, 80), (6, 10)), ((30, 30), (8, 8))])
def test_any_condition_size_pools_to_four_times_the_latent(stc, size, latent):
    with torch.no_grad():
        out = stc({"depth": cond("depth", size=size)}, latent).sample
    assert out.shape == (2, 8, 3, *latent)


def test_single_branch_matches_the_original_formulas(stc):
    x = cond("motion", size=(32, 48))
    with torch.no_grad():
        got = stc({"motion": x}, (4, 6)).sample
        expected = original_branch(stc.branches["motion"], x, (4, 6))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_outputs_of_branches_are_summed_and_absent_means_zero(stc):
    depth, sketch = cond("depth", seed=1), cond("sketch", seed=2)
    with torch.no_grad():
        both = stc({"depth": depth, "sketch": sketch, "motion": None}, (6, 6)).sample
        only_depth = stc({"depth": depth}, (6, 6)).sample
        only_sketch = stc({"sketch": sketch}, (6, 6)).sample
    torch.testing.assert_close(both, only_depth + only_sketch, rtol=1e-5, atol=1e-6)
    assert (only_depth - only_sketch).abs().mean() > 1e-3


def test_condition_scale_float_dict_and_per_sample_tensor(stc):
    depth, sketch = cond("depth", seed=1), cond("sketch", seed=2)
    with torch.no_grad():
        d = stc({"depth": depth}, (6, 6)).sample
        s = stc({"sketch": sketch}, (6, 6)).sample
        torch.testing.assert_close(stc({"depth": depth}, (6, 6), condition_scale=0.5).sample, 0.5 * d)
        mixed = stc({"depth": depth, "sketch": sketch}, (6, 6), condition_scale={"depth": 2.0}).sample
        torch.testing.assert_close(mixed, 2.0 * d + s, rtol=1e-5, atol=1e-6)
        dropped = stc({"depth": depth, "sketch": sketch}, (6, 6), condition_scale={"sketch": torch.tensor([1.0, 0.0])}).sample
    torch.testing.assert_close(dropped[0], (d + s)[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dropped[1], d[1], rtol=1e-5, atol=1e-6)


def test_frames_attend_to_each_other_but_batch_elements_do_not(stc):
    x = cond("depth", batch=2, frames=4)
    with torch.no_grad():
        base = stc({"depth": x}, (6, 6)).sample
        changed = x.clone()
        changed[0, :, 3] += 1.0
        out = stc({"depth": changed}, (6, 6)).sample
    assert (out[0, :, 0] - base[0, :, 0]).abs().max() > 1e-4  # frame 0 sees frame 3
    torch.testing.assert_close(out[1], base[1], rtol=0, atol=0)  # exact: same kernels, same shapes, one process


def test_canny_and_custom_conditions_can_be_configured():
    model = STCEncoder(condition_channels={"motion": 2, "canny": KNOWN_CONDITIONS["canny"], "trajectory": 3})
    assert model.conditions == ("motion", "canny", "trajectory")
    with torch.no_grad():
        out = model({"trajectory": torch.randn(1, 3, 2, 16, 16)}, (4, 4)).sample
    assert out.shape == (1, 8, 2, 4, 4)


def test_save_and_load_round_trip_keeps_conditions_and_outputs(stc, tmp_path):
    stc.save_pretrained(tmp_path)
    loaded = STCEncoder.from_pretrained(tmp_path).eval()
    assert loaded.conditions == stc.conditions
    x = cond("masked")
    with torch.no_grad():
        # exact: same kernels, same shapes, one process
        torch.testing.assert_close(loaded({"masked": x}, (6, 6)).sample, stc({"masked": x}, (6, 6)).sample, rtol=0, atol=0)


@pytest.mark.parametrize(
    "conditions,match",
    [
        ({"flow": torch.randn(1, 2, 2, 8, 8)}, r"unknown condition\(s\) \['flow'\]"),
        ({"motion": torch.randn(1, 3, 2, 8, 8)}, r"conditions\['motion'\]: expected shape \(B, 2, F, H, W\)"),
        ({"depth": torch.randn(1, 1, 8, 8)}, r"conditions\['depth'\]"),
        ({"depth": torch.randn(1, 1, 2, 8, 8), "sketch": torch.randn(1, 1, 3, 8, 8)}, r"conditions\['sketch'\].*frames"),
        ({"depth": torch.randn(1, 1, 2, 8, 8), "sketch": torch.randn(2, 1, 2, 8, 8)}, r"conditions\['sketch'\].*batch"),
        ({"depth": None}, "at least one condition"),
    ],
)
def test_bad_conditions_raise_naming_the_condition(stc, conditions, match):
    with pytest.raises(ValueError, match=match):
        stc(conditions, (2, 2))


def test_bad_arguments_raise(stc):
    with pytest.raises(TypeError, match="conditions"):
        stc([torch.randn(1, 1, 2, 8, 8)], (2, 2))
    with pytest.raises(TypeError, match=r"conditions\['depth'\]"):
        stc({"depth": [1, 2]}, (2, 2))
    with pytest.raises(ValueError, match="latent_size"):
        stc({"depth": torch.randn(1, 1, 2, 8, 8)}, (2,))
    with pytest.raises(ValueError, match="condition_scale"):
        stc({"depth": torch.randn(1, 1, 2, 8, 8)}, (2, 2), condition_scale={"foo": 1.0})
    with pytest.raises(ValueError, match=r"condition_scale\['depth'\]"):
        stc({"depth": torch.randn(1, 1, 2, 8, 8)}, (2, 2), condition_scale={"depth": torch.ones(3)})
    with pytest.raises(ValueError, match="condition_channels"):
        STCEncoder(condition_channels={"depth": 0})
