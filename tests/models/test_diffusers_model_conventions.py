"""Our models follow the diffusers conventions its pipeline and test mixins rely on: `return_dict` on the STC encoder,
and `save_pretrained` signatures that let a pipeline pass `variant`, `safe_serialization` and `max_shard_size`."""

import inspect
import os

import torch
from diffusers.models.modeling_utils import ModelMixin

from pipelines import VideoComposerPipeline
from videocomposer.models import STCEncoder, VideoComposerUNet3DModel
from videocomposer.models.stc_encoder import STCEncoderOutput
from videocomposer.models.temporal_discriminator import TemporalDiscriminator


def test_stc_encoder_returns_an_output_or_a_one_tuple_holding_the_same_tensor():
    torch.manual_seed(0)
    stc = STCEncoder(condition_channels={"depth": 1}, hidden_channels=8, attention_head_dim=4).eval()
    depth = torch.rand(2, 1, 3, 16, 16)
    with torch.no_grad():
        output = stc({"depth": depth}, (4, 4))
        as_tuple = stc({"depth": depth}, (4, 4), return_dict=False)
    assert isinstance(output, STCEncoderOutput) and output.sample.shape == (2, 8, 3, 4, 4)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 1
    assert torch.equal(as_tuple[0], output.sample)


def test_save_pretrained_shows_diffusers_signature():
    expected = inspect.signature(ModelMixin.save_pretrained)
    for model_class in (VideoComposerUNet3DModel, STCEncoder, TemporalDiscriminator):
        assert inspect.signature(model_class.save_pretrained) == expected, model_class.__name__


def test_pipeline_save_with_a_variant_reaches_our_models_and_loads_back(make_tiny_components, tmp_path):
    pipe = VideoComposerPipeline(**make_tiny_components(conditions={"depth": 1}, image_encoder=False))
    pipe.save_pretrained(tmp_path, variant="fp16", safe_serialization=False)
    for name in ("unet", "stc_encoder"):
        assert sorted(os.listdir(tmp_path / name)) == ["config.json", "diffusion_pytorch_model.fp16.bin"], name
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "unet" / "diffusion_pytorch_model.fp16.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    loaded = STCEncoder.from_pretrained(tmp_path / "stc_encoder", variant="fp16")
    for key, value in pipe.stc_encoder.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
