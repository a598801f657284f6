"""One adapter protocol for LoRA and low-rank temporal modulation: the same target modules, the same files, one
loader that tells the kinds apart."""

import pytest
import torch

from videocomposer.models.lowrank_temporal import LowRankTemporalLinear
from videocomposer.training.adapters import LowRankTemporal, TemporalLoRA, build_adapter, load_adapter


def unet_output(unet) -> torch.Tensor:
    sample = torch.randn(1, 4, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    context = torch.randn(1, 16, unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return unet.eval()(sample, 500, context).sample


def test_both_adapters_target_the_same_modules(make_tiny_components):
    lora_unet, lowrank_unet = make_tiny_components()["unet"], make_tiny_components()["unet"]
    build_adapter("lora", 2, None, 4, 4.0).add(lora_unet, seed=0)
    build_adapter("lowrank_temporal", 2, None, 4, 4.0).add(lowrank_unet, seed=0)
    lora = {
        name.removesuffix(".lora_A.default")
        for name, _ in lora_unet.named_modules()
        if name.endswith("lora_A.default")
    }
    lowrank = {name for name, module in lowrank_unet.named_modules() if isinstance(module, LowRankTemporalLinear)}
    assert lora == lowrank and len(lora) > 0
    assert all(".attn1." in n or ".attn2." in n for n in lora)
    assert any(n.startswith("transformer_in.") for n in lora) and any(".temp_attentions." in n for n in lora)


@pytest.mark.parametrize(("trainable", "kind"), [("lora", TemporalLoRA), ("lowrank_temporal", LowRankTemporal)])
def test_load_adapter_tells_the_kinds_apart_and_restores_the_saved_adapter(
    tmp_path, make_tiny_components, trainable, kind
):
    unet = make_tiny_components()["unet"]
    adapter = build_adapter(trainable, 2, None, 4, 4.0)
    parameters = adapter.add(unet, seed=3)
    with torch.no_grad():
        for parameter in parameters:  # trained-looking weights: no factor at zero
            parameter.add_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(parameter.numel())))
    assert adapter.save(unet, tmp_path) == tmp_path / kind.weights_name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kind.config_name, kind.weights_name])
    expected = unet_output(unet)

    loaded_unet, base = make_tiny_components()["unet"], make_tiny_components()["unet"]
    loaded = load_adapter(loaded_unet, tmp_path)
    assert isinstance(loaded, kind) and loaded.config.to_dict() == adapter.config.to_dict()
    torch.testing.assert_close(unet_output(loaded_unet), expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(unet_output(base), expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("trainable", ["lora", "lowrank_temporal"])
def test_load_weights_is_strict_about_the_files_keys_and_shapes(tmp_path, make_tiny_components, trainable):
    unet = make_tiny_components()["unet"]
    adapter = build_adapter(trainable, 2, None, 4, 4.0)
    adapter.add(unet, seed=0)
    adapter.save(unet, tmp_path / "rank2")
    other = build_adapter(trainable, 3, None, 4, 4.0)
    other.add(other_unet := make_tiny_components()["unet"], seed=0)
    with pytest.raises(ValueError, match=r"adapter weights do not match this unet; missing \[\], unexpected \[\]"):
        other.load_weights(other_unet, tmp_path / "rank2")  # same keys, other shapes
    with pytest.raises(ValueError, match=f"'{tmp_path}' has no {adapter.weights_name}"):
        adapter.load_weights(unet, tmp_path)
    with pytest.raises(ValueError, match=f"'{tmp_path}' has no {adapter.config_name}"):
        type(adapter).from_pretrained(tmp_path)


def test_an_unadapted_unet_has_no_adapter_weights_to_save(tmp_path, make_tiny_components):
    with pytest.raises(ValueError, match="unet: has no adapter weights to save"):
        build_adapter("lowrank_temporal", 2, None, 4, 4.0).save(make_tiny_components()["unet"], tmp_path)
    assert not (tmp_path / LowRankTemporal.weights_name).exists()


def test_load_adapter_refuses_a_folder_without_an_adapter(tmp_path, make_tiny_components):
    with pytest.raises(ValueError, match="holds none of the adapter configs"):
        load_adapter(make_tiny_components()["unet"], tmp_path)
