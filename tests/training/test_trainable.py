"""What each `--trainable` choice trains, and the temporal LoRA's placement and identity start."""

import re

import pytest
import torch

from videocomposer.training.adapters import build_adapter
from videocomposer.training.trainable import set_trainable


def trained_names(model: torch.nn.Module) -> set[str]:
    return {name for name, parameter in model.named_parameters() if parameter.requires_grad}


def test_all_trains_the_unet_and_the_stc_encoder_only_in_the_compositional_stage(make_tiny_components):
    parts = make_tiny_components()
    unet, stc = parts["unet"], parts["stc_encoder"]
    trained = set_trainable(unet, stc, "compositional", "all")
    assert len(trained["unet"]) == len(list(unet.parameters())) and len(trained["stc_encoder"]) == len(
        list(stc.parameters())
    )
    trained = set_trainable(unet, stc, "t2v", "all")
    assert trained["stc_encoder"] == [] and not trained_names(stc)


def test_stc_trains_the_encoder_and_conv_in(make_tiny_components):
    parts = make_tiny_components()
    unet, stc = parts["unet"], parts["stc_encoder"]
    set_trainable(unet, stc, "compositional", "stc")
    assert trained_names(unet) == {"conv_in.weight", "conv_in.bias"}
    assert trained_names(stc) == {name for name, _ in stc.named_parameters()}
    with pytest.raises(ValueError, match="--trainable stc needs --stage compositional"):
        set_trainable(unet, stc, "t2v", "stc")


def test_temporal_trains_exactly_the_temporal_layers(make_tiny_components):
    parts = make_tiny_components()
    unet, stc = parts["unet"], parts["stc_encoder"]
    set_trainable(unet, stc, "compositional", "temporal")
    expected = {
        name
        for name, _ in unet.named_parameters()
        if re.match(r"(transformer_in\.|.*\.(temp_convs|temp_attentions)\.)", name)
    }
    assert expected and trained_names(unet) == expected
    assert not trained_names(stc)


def test_temporal_lora_targets_temporal_attention_and_starts_unchanged(make_tiny_components):
    unet = make_tiny_components()["unet"]
    sample = torch.randn(1, 4, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    context = torch.randn(1, 16, unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = unet(sample, 300, context).sample

    adapters = build_adapter("lora", 2, None, 4, 4.0).add(unet, seed=0)
    with torch.no_grad():
        after = unet(sample, 300, context).sample
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)  # B = 0: only float summation order may differ

    adapted = {name.rsplit(".lora_", 1)[0] for name in trained_names(unet)}
    expected = {
        name for name, module in unet.named_modules()
        if re.fullmatch(r"(transformer_in|.*\.temp_attentions\.\d+)\.transformer_blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)", name)
    }  # fmt: skip
    assert len(expected) == 5 * 8  # transformer_in + 4 temp_attentions in the tiny UNet; 2 attentions x 4 projections
    assert adapted == expected
    assert len(adapters) == 2 * len(expected) and all(p.requires_grad for p in adapters)
    with pytest.raises(ValueError, match="rank"):
        build_adapter("lora", 0, None, 4, 4.0)
