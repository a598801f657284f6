"""Low-rank temporal modulation: B-spline frame codes against an independent evaluation, identity at init, gradients
of both factors after one step, `--trainable lowrank_temporal` changing only its parameters, adapter save / load and
checkpoint resume."""

import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pipelines import VideoComposerPipeline
from videocomposer.models.lowrank_temporal import (
    LowRankTemporalConfig,
    LowRankTemporalLinear,
    add_lowrank_temporal,
    set_frame_times,
)
from videocomposer.motion.bspline import evaluate_uniform
from videocomposer.training.adapters import load_adapter
from videocomposer.training.trainable import set_trainable

ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME = "lowrank_temporal_config.json", "lowrank_temporal.safetensors"


def unet_inputs(unet, num_frames: int = 4):
    sample = torch.randn(1, 4, num_frames, 4, 4, generator=torch.Generator().manual_seed(0))
    context = torch.randn(1, 16, unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(1))
    return sample, context


def test_frame_codes_are_the_uniform_quadratic_b_spline_of_the_anchors_padded_with_zeros():
    layer = LowRankTemporalLinear(
        torch.nn.Linear(6, 5), LowRankTemporalConfig(rank=3, num_anchors=4, anchor_spacing=2)
    )
    with torch.no_grad():
        layer.anchors.copy_(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    padded = np.concatenate([layer.anchors.detach().numpy(), np.zeros((3, 3))])  # anchors past the last: zero
    times = np.arange(9) / 2.0
    np.testing.assert_allclose(layer.frame_codes(9).detach().numpy(), evaluate_uniform(padded, times), atol=1e-6)
    assert layer.frame_codes(20)[-4:].abs().max() == 0  # far past the anchors: the static delta

    layer.frame_offset, layer.frame_step = 3.0, 0.5  # a later window at twice the frame rate
    expected = evaluate_uniform(padded, (3.0 + 0.5 * np.arange(5)) / 2.0)
    np.testing.assert_allclose(layer.frame_codes(5).detach().numpy(), expected, atol=1e-6)


def test_the_modulated_delta_equals_a_per_frame_weight():
    base = torch.nn.Linear(6, 5)
    layer = LowRankTemporalLinear(base, LowRankTemporalConfig(rank=2, num_anchors=3, anchor_spacing=1))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        layer.up.copy_(torch.randn(5, 2, generator=generator))
        layer.anchors.copy_(torch.randn(3, 2, generator=generator))
    x = torch.randn(7, 3, 6, generator=generator)
    codes = layer.frame_codes(3)
    for t in range(3):  # W_t = W + A diag(1 + e_t) B, applied frame by frame
        weight = base.weight + layer.up @ torch.diag(1 + codes[t]) @ layer.down
        torch.testing.assert_close(layer(x)[:, t], x[:, t] @ weight.T + base.bias)


def test_identity_at_init_and_both_factors_get_gradients_after_one_step(make_tiny_components):
    unet = make_tiny_components()["unet"].requires_grad_(False)  # frozen as add_lowrank_temporal leaves it: CPU
    sample, context = unet_inputs(unet)  # kernels may differ by requires_grad (~1e-7), the adapter adds exactly 0
    with torch.no_grad():
        before = unet(sample, 300, context).sample
    parameters = add_lowrank_temporal(unet, LowRankTemporalConfig(rank=2, num_anchors=4, anchor_spacing=2))
    with torch.no_grad():
        torch.testing.assert_close(unet(sample, 300, context).sample, before, rtol=0, atol=0)  # exactly

    wrapped = {n for n, m in unet.named_modules() if isinstance(m, LowRankTemporalLinear)}
    pattern = (
        r"(transformer_in|.*\.temp_attentions\.\d+)\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
    )
    assert len(wrapped) == 40 and all(re.fullmatch(pattern, n) for n in wrapped)
    assert {n for n, p in unet.named_parameters() if p.requires_grad} == {
        f"{n}.{k}" for n in wrapped for k in ("down", "up", "anchors")
    }

    optimizer = torch.optim.SGD(parameters, lr=0.1)
    grads = []
    for _ in range(2):
        optimizer.zero_grad()
        unet(sample, 300, context).sample.square().mean().backward()
        grads.append({k: sum(getattr(m, k).grad.abs().sum() for m in unet.modules()
                             if isinstance(m, LowRankTemporalLinear)) for k in ("down", "up", "anchors")})  # fmt: skip
        optimizer.step()
    assert grads[0]["up"] > 0 and grads[0]["down"] == 0  # A = 0 blocks B's gradient only on the first step
    assert all(value > 0 for value in grads[1].values())  # after one step: both factors and the codes


def test_set_frame_times_and_bad_configs():
    with pytest.raises(ValueError, match="rank"):
        LowRankTemporalConfig(rank=0)
    with pytest.raises(ValueError, match="num_anchors"):
        LowRankTemporalConfig(num_anchors=2)
    with pytest.raises(ValueError, match="has no low-rank temporal modulation"):
        set_frame_times(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no nn.Linear matches"):
        add_lowrank_temporal(torch.nn.Sequential(torch.nn.Linear(2, 2)), LowRankTemporalConfig())


def test_trainable_lowrank_temporal_trains_only_its_parameters(make_tiny_components):
    parts = make_tiny_components()
    unet, stc = parts["unet"], parts["stc_encoder"]
    assert set_trainable(unet, stc, "compositional", "lowrank_temporal") == {"unet": [], "stc_encoder": []}
    parameters = add_lowrank_temporal(unet, LowRankTemporalConfig(rank=2))
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    optimizer = torch.optim.AdamW(parameters, lr=1e-2, weight_decay=1e-2)
    sample, context = unet_inputs(unet)
    for _ in range(2):
        optimizer.zero_grad()
        unet(sample, 300, context).sample.square().mean().backward()
        optimizer.step()
    changed = {k for k, v in unet.state_dict().items() if not torch.equal(v, before[k])}
    own = {k for k in before if k.rsplit(".", 1)[-1] in ("down", "up", "anchors")}
    assert changed == own


def test_training_saves_an_adapter_that_loads_into_the_pipeline_and_resumes(
    tmp_path, model_dir, make_videos, training_argv, run_training
):
    captions = make_videos(tmp_path / "videos", 2)
    common = ("--stage", "t2v", "--trainable", "lowrank_temporal", "--rank", "2", "--learning_rate", "1e-2",
              "--max_train_steps", "3", "--checkpointing_steps", "2")  # fmt: skip
    run_training(training_argv(model_dir, captions, tmp_path / "full", *common))
    full = tmp_path / "full"
    assert sorted(p.name for p in full.iterdir() if p.is_file()) == sorted([ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME])
    checkpoint = full / "checkpoint-2"
    assert (
        not (checkpoint / "unet").exists() and (checkpoint / "unet_lowrank_temporal" / ADAPTER_WEIGHTS_NAME).is_file()
    )
    saved = load_file(str(full / ADAPTER_WEIGHTS_NAME))
    assert all(k.rsplit(".", 1)[1] in ("down", "up", "anchors") for k in saved)
    assert sum(v.abs().sum() for k, v in saved.items() if k.endswith(".up")) > 0  # trained

    pipe = VideoComposerPipeline.from_pretrained(str(model_dir))
    sample, context = unet_inputs(pipe.unet)
    with torch.no_grad():
        before = pipe.unet(sample, 500, context).sample
    config = load_adapter(pipe.unet, full).config
    assert config.rank == 2 and config.anchor_spacing == 4.0 and config.num_anchors == 4  # 4 frames: ceil(3/4) + 3
    saved_config = {"rank": 2, "num_anchors": 4, "anchor_spacing": 4.0, "target_modules": config.target_modules}
    assert json.loads((full / ADAPTER_CONFIG_NAME).read_text()) == saved_config  # the file format of earlier releases
    with torch.no_grad():
        assert not torch.allclose(pipe.unet(sample, 500, context).sample, before)

    run_training(training_argv(model_dir, captions, tmp_path / "resumed", *common,
                               "--resume_from_checkpoint", str(checkpoint)))  # fmt: skip
    resumed = load_file(str(tmp_path / "resumed" / ADAPTER_WEIGHTS_NAME))
    assert saved.keys() == resumed.keys()
    for key in saved:
        torch.testing.assert_close(resumed[key], saved[key], rtol=1e-5, atol=1e-6)
