"""Weight-based metrics end to end with tiny randomly initialised networks of the real interfaces (offline)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videocomposer.metrics import (
    ClipEncoder,
    DinoEncoder,
    FeatureStatistics,
    FrameFeatures,
    RaftFlow,
    VideoFeatures,
    clip_frame_consistency,
    clip_text_similarity,
    flow_error,
    frechet_distance,
    is_dynamic,
    subject_consistency,
)
from videocomposer.metrics.clip import CLIP_MEAN, CLIP_STD
from videocomposer.metrics.dino import IMAGENET_MEAN, IMAGENET_STD


def random_video(num_frames=6, size=40, seed=0):
    return np.random.default_rng(seed).random((num_frames, size, size, 3)).astype(np.float32)


def normalise(frames, size, mean, std):
    pixels = F.interpolate(torch.from_numpy(frames).permute(0, 3, 1, 2), size=(size, size), mode="bicubic",
                           antialias=True, align_corners=False).clamp(0, 1)  # fmt: skip
    return (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def tiny_dino():
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                          image_size=32, patch_size=8)  # fmt: skip
    return Dinov2Model(config).eval()


def test_clip_frame_consistency_is_one_for_a_still_video_and_time_symmetric(tiny_tokenizer, tiny_clip):
    encoder = ClipEncoder.from_transformers(tiny_clip, tiny_tokenizer)
    video = random_video()
    still = np.repeat(video[:1], 4, axis=0)
    assert clip_frame_consistency(still, encoder) == pytest.approx(1.0, abs=1e-6)
    forward = clip_frame_consistency(video, encoder)
    assert forward < 0.999
    assert clip_frame_consistency(video[::-1], encoder) == pytest.approx(forward, abs=1e-6)  # float32 cosines ~1


def test_clip_text_similarity_matches_the_models_own_logits(tiny_tokenizer, tiny_clip):
    model = tiny_clip
    encoder = ClipEncoder.from_transformers(model, tiny_tokenizer)
    video, prompt = random_video(), "a red cat runs in the snow"
    tokens = tiny_tokenizer([prompt], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask,
                    pixel_values=normalise(video, 32, CLIP_MEAN, CLIP_STD))  # fmt: skip
    expected = (out.logits_per_image[:, 0] / model.logit_scale.exp()).mean().item()
    assert clip_text_similarity(video, prompt, encoder) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="prompt: expected a non-empty string"):
        clip_text_similarity(video, " ", encoder)


def test_clip_encoder_loads_a_saved_transformers_folder(tiny_tokenizer, tmp_path, tiny_clip):
    model = tiny_clip
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    video = random_video()
    direct = clip_frame_consistency(video, ClipEncoder.from_transformers(model, tiny_tokenizer))
    assert clip_frame_consistency(video, ClipEncoder.load(str(tmp_path))) == pytest.approx(direct, abs=1e-6)


def test_dino_subject_consistency_follows_vbench_formula():
    model = tiny_dino()
    encoder = DinoEncoder(model, image_size=32)
    video = random_video(5)
    assert subject_consistency(np.repeat(video[:1], 3, axis=0), encoder) == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        cls = model(pixel_values=normalise(video, 32, IMAGENET_MEAN, IMAGENET_STD)).last_hidden_state[:, 0]
    unit = F.normalize(cls.double(), dim=1)
    expected = np.mean([max(0.0, ((unit[t] @ unit[t - 1] + unit[t] @ unit[0]) / 2).item()) for t in range(1, 5)])
    assert subject_consistency(video, encoder) == pytest.approx(expected, abs=1e-6)


@pytest.fixture(scope="module")
def raft_file(tmp_path_factory):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("raft") / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    return path


def test_raft_flow_error_against_its_own_flow_is_zero_and_against_the_reverse_is_twice_its_size(raft_file):
    raft = RaftFlow.load(raft_file)
    raft.num_flow_updates = 3
    video = random_video(3, size=36)  # not a multiple of 8: padded and cropped back
    backward = raft(video[1:], video[:-1])
    assert backward.shape == (2, 36, 36, 2) and np.isfinite(backward).all()
    condition = np.zeros((3, 2, 36, 36), np.float32)
    condition[1:] = -backward.transpose(0, 3, 1, 2)  # the condition holds forward displacements
    assert flow_error(video, condition, raft) == pytest.approx(0.0, abs=1e-4)
    mask = np.abs(condition[1:]).sum(axis=1) > 0
    expected = 2 * np.linalg.norm(backward, axis=-1)[mask].mean()
    assert flow_error(video, -condition, raft) == pytest.approx(expected, rel=1e-4)


def test_raft_load_rejects_foreign_weights(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="matches neither torchvision raft_large nor raft_small"):
        RaftFlow.load(path)
    with pytest.raises(FileNotFoundError, match="raft weights: no such file"):
        RaftFlow.load(tmp_path / "missing.pth")


def test_dynamic_degree_decision_follows_vbench_thresholds():
    flows = np.zeros((15, 64, 64, 2))  # 16 frames of 64 px: threshold 1.5 px, 4 pairs needed
    flows[:4, :, :, 0] = 2.0
    assert is_dynamic(flows)
    flows[3] = 0.0
    assert not is_dynamic(flows)
    flows[:, :4, :4, 1] = 30.0  # top 5 % of 4096 px = 205 px: 16 moving px average to 30 * 16 / 205 = 2.3 px
    assert is_dynamic(flows)


class TinyI3D(torch.nn.Module):
    """StyleGAN-V's I3D call signature: (videos (N, 3, T, H, W) in [-1, 1], rescale, resize, return_features)."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(6, 8)

    def forward(self, x: torch.Tensor, rescale: bool, resize: bool, return_features: bool) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=(2, 3, 4)), x.std(dim=(2, 3, 4))], dim=1)
        return self.proj(pooled)


def test_fvd_with_a_torchscript_i3d_is_zero_for_one_set_and_positive_between_sets(tmp_path):
    torch.manual_seed(0)
    module = torch.jit.script(TinyI3D())
    path = tmp_path / "i3d_torchscript.pt"
    module.save(str(path))
    extractor = VideoFeatures.load(str(path))
    rng = np.random.default_rng(0)
    clips_a = rng.random((5, 4, 24, 24, 3)).astype(np.float32)
    clips_b = np.clip(clips_a * 0.5 + 0.4, 0, 1)
    features = extractor(clips_a)
    # StyleGAN-V's call: [0, 255] values at their own size, the detector rescales and resizes itself
    videos = torch.from_numpy((clips_a * 255).round()).permute(0, 4, 1, 2, 3)
    with torch.no_grad():
        np.testing.assert_allclose(features, module(videos, True, True, True).double().numpy(), rtol=1e-5, atol=1e-6)
    stats = {}
    for name, clips in (("a", clips_a), ("b", clips_b)):
        stats[name] = FeatureStatistics()
        stats[name].update(extractor(clips))
    assert frechet_distance(*stats["a"].mean_and_covariance(), *stats["a"].mean_and_covariance()) < 1e-9
    assert frechet_distance(*stats["a"].mean_and_covariance(), *stats["b"].mean_and_covariance()) > 1e-3
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        VideoFeatures.load("r3d_18:" + str(tmp_path / "missing.pth"))


def test_fid_frame_features_feed_uint8_batches_to_the_network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())

    class Uint8Net(torch.nn.Module):  # the torchmetrics Inception interface: uint8 (N, 3, H, W) in, (N, D) out
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            assert x.dtype == torch.uint8
            return self.net(x.float() / 255)

    extractor = FrameFeatures(Uint8Net(), batch_size=3)
    frames = random_video(7, size=16)
    with torch.no_grad():
        expected = net(torch.from_numpy((frames * 255).round().astype(np.uint8)).permute(0, 3, 1, 2).float() / 255)
    # float32 features of size ~1: batches of 3/3/1 and one of 7 may sum in another order (atol for values near 0)
    np.testing.assert_allclose(extractor(frames), expected.double().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="inception weights: no such file"):
        FrameFeatures.load_inception("missing.pth")


@pytest.mark.slow  # the real 24M-parameter Inception-v3, built twice
def test_torchmetrics_inception_loads_a_weights_file_and_gives_2048_features(tmp_path, monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    # a randomly initialised state dict of the real architecture: build it once with weight loading disabled
    with monkeypatch.context() as patch:
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: None)
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *args, **kwargs: None)
        torch.manual_seed(0)
        state = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    path = tmp_path / "inception.pth"
    torch.save(state, path)
    extractor = FrameFeatures.load_inception(path)
    frames = random_video(3, size=48)
    features = extractor(np.concatenate([frames, frames[:1]]))
    assert features.shape == (4, 2048) and np.isfinite(features).all()
    # float32 features of size ~1e-8 (random init), another row of the batch: atol scaled to their size
    np.testing.assert_allclose(features[3], features[0], rtol=1e-5, atol=1e-5 * np.abs(features[0]).max())
    assert not np.allclose(features[1], features[0], rtol=1e-3, atol=0)  # random-init features are ~1e-8


def test_open_clip_specs_need_an_architecture_and_a_weights_file(tmp_path):
    with pytest.raises(ValueError, match="expected open_clip:ARCH:WEIGHTS_FILE"):
        ClipEncoder.load("open_clip:ViT-H-14")
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        ClipEncoder.load(f"open_clip:ViT-H-14:{tmp_path / 'missing.bin'}")


def test_open_clip_checkpoint_loads_and_matches_the_model_it_was_saved_from(tmp_path):
    import json

    import open_clip

    config = tmp_path / "videocomposer-tiny-open-clip.json"  # open_clip registers a config under its file name
    config.write_text(json.dumps({
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }))  # fmt: skip
    open_clip.add_model_config(config)
    torch.manual_seed(1)
    model = open_clip.create_model("videocomposer-tiny-open-clip").eval()
    torch.save(model.state_dict(), tmp_path / "weights.bin")
    torch.manual_seed(2)  # a load that ignored the file would initialise differently
    encoder = ClipEncoder.load(f"open_clip:videocomposer-tiny-open-clip:{tmp_path / 'weights.bin'}")
    video, prompt = random_video(4), "a red cat runs"
    with torch.no_grad():
        images = F.normalize(model.encode_image(normalise(video, 32, CLIP_MEAN, CLIP_STD)).double(), dim=1)
        text = F.normalize(
            model.encode_text(open_clip.get_tokenizer("videocomposer-tiny-open-clip")([prompt])).double()
        )
    assert clip_text_similarity(video, prompt, encoder) == pytest.approx((images @ text[0]).mean().item(), abs=1e-6)
    expected = (images[1:] * images[:-1]).sum(dim=1).mean().item()
    assert clip_frame_consistency(video, encoder) == pytest.approx(expected, abs=1e-6)


def test_dino_encoder_loads_a_saved_transformers_folder(tmp_path):
    model = tiny_dino()
    model.save_pretrained(tmp_path)
    video = random_video(4)
    expected = subject_consistency(video, DinoEncoder(model, image_size=32))
    assert subject_consistency(video, DinoEncoder.load(str(tmp_path), image_size=32)) == pytest.approx(
        expected, abs=1e-6
    )
