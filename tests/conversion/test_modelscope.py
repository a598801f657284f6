"""`videocomposer convert-modelscope`: the text-to-video UNet plus an STC encoder whose zero output gate makes it add
exactly zero, yet train."""

import pytest
import torch
from diffusers import UNet3DConditionModel

from videocomposer.cli import main
from videocomposer.models import STCEncoder, VideoComposerUNet3DModel


@pytest.fixture
def modelscope_unet_dir(tmp_path):
    torch.manual_seed(0)
    unet = UNet3DConditionModel(
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        layers_per_block=1,
        norm_num_groups=8,
        attention_head_dim=8,
        cross_attention_dim=24,
    )
    with torch.no_grad():  # diffusers zero-initialises some output layers; make every path visible
        for parameter in unet.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    unet.save_pretrained(tmp_path / "t2v" / "unet")
    return tmp_path / "t2v"


def test_convert_modelscope_equals_text_to_video_until_trained_and_trains(tmp_path, modelscope_unet_dir):
    output = tmp_path / "start"
    argv = ["convert-modelscope", "--unet", str(modelscope_unet_dir), "--subfolder", "unet", "--output", str(output),
            "--conditions", "motion", "depth"]  # fmt: skip
    assert main(argv) == 0

    reference = UNet3DConditionModel.from_pretrained(modelscope_unet_dir, subfolder="unet").eval()
    unet = VideoComposerUNet3DModel.from_pretrained(output / "unet").eval()
    stc = STCEncoder.from_pretrained(output / "stc_encoder")
    assert stc.conditions == ("depth", "motion")  # the original's summation order
    assert torch.count_nonzero(unet.conv_in.weight[:, 4:]) > 0  # the condition channels can learn

    generator = torch.Generator().manual_seed(1)
    sample = torch.randn(1, 4, 3, 8, 8, generator=generator)
    text = torch.randn(1, 5, 24, generator=generator)
    conditions = {"motion": torch.randn(1, 2, 3, 32, 32, generator=generator),
                  "depth": torch.rand(1, 1, 3, 32, 32, generator=generator)}  # fmt: skip
    with torch.no_grad():
        expected = reference(sample, 10, text).sample
    condition_latents = stc(conditions, latent_size=(8, 8)).sample
    out = unet(sample, 10, text, condition_latents=condition_latents).sample
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)

    assert torch.equal(stc.gate, torch.zeros(8)) and condition_latents.abs().max() == 0
    assert all(branch.conv_out.weight.abs().sum() > 0 for branch in stc.branches.values())  # default init

    optimizer = torch.optim.SGD(stc.parameters(), lr=0.1)
    for step in range(2):  # the gate opens at the first step, every branch layer learns from the second
        optimizer.zero_grad()
        out = unet(sample, 10, text, condition_latents=stc(conditions, latent_size=(8, 8)).sample).sample
        out.square().mean().backward()
        assert stc.gate.grad.abs().sum() > 0
        for name in stc.conditions:
            grads = [stc.branches[name].get_parameter(p).grad for p in ("conv_in.weight", "attn.to_q.weight")]
            assert all((g is not None and g.abs().sum() > 0) == (step == 1) for g in grads), (name, step)
        optimizer.step()


def test_convert_modelscope_refuses_unknown_conditions(tmp_path, modelscope_unet_dir, capsys):
    argv = ["convert-modelscope", "--unet", str(modelscope_unet_dir), "--subfolder", "unet",
            "--output", str(tmp_path / "out"), "--conditions", "motion", "optical_flow"]  # fmt: skip
    assert main(argv) == 2
    assert "conditions: expected distinct names of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
