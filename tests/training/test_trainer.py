"""The training loop, in-process on a tiny model and tiny synthetic videos."""

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pipelines import VideoComposerPipeline
from videocomposer.data.video_dataset import VideoTextDataset
from videocomposer.training.adapters import TemporalLoRA, load_adapter
from videocomposer.training.arguments import parse_args
from videocomposer.training.checkpointing import resolve_checkpoint
from videocomposer.training.objective import (
    add_training_noise,
    encode_video_latents,
    eps_prediction_loss,
    training_scheduler,
)
from videocomposer.training.trainable import is_temporal_parameter

ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME = "adapter_config.json", "adapter_model.safetensors"  # peft's format


@torch.no_grad()
def evaluation_loss(pipe: VideoComposerPipeline, item: dict, draws: int = 16) -> float:
    """Mean eps-MSE of the text-only model over `draws` fixed (posterior, timestep, noise) samples of one clip."""
    generator = torch.Generator().manual_seed(1234)
    pipe.unet.eval()
    text = pipe.encode_prompt([item["prompt"]], torch.device("cpu"), 1, False)[0]
    losses = []
    scheduler = training_scheduler()
    for _ in range(draws):
        latents = encode_video_latents(pipe.vae, item["pixel_values"][None], generator)
        losses.append(eps_prediction_loss(pipe.unet, add_training_noise(scheduler, latents, generator), text).item())
    return sum(losses) / len(losses)


def test_thirty_steps_on_one_batch_lower_the_loss(tmp_path, model_dir, make_videos, training_argv, run_training):
    captions = make_videos(tmp_path / "videos", 1, num_frames=4)  # one 4-frame clip: every step sees the same batch
    output_dir = tmp_path / "out"
    result = run_training(training_argv(model_dir, captions, output_dir, "--stage", "t2v", "--max_train_steps", "30"))
    assert result.global_step == 30 and len(result.losses) == 30

    item = VideoTextDataset(captions.parent, captions, num_frames=4, fps=8, resolution=32)[0]
    before = evaluation_loss(VideoComposerPipeline.from_pretrained(str(model_dir)), item)
    after = evaluation_loss(VideoComposerPipeline.from_pretrained(str(output_dir)), item)
    assert after < 0.8 * before, (before, after)


def test_final_folder_loads_and_generates_and_validation_writes_a_video(
    tmp_path, model_dir, make_videos, training_argv, run_training
):
    captions = make_videos(tmp_path / "videos", 2)
    output_dir = tmp_path / "out"
    argv = training_argv(
        model_dir, captions, output_dir, "--stage", "compositional", "--conditions", "motion", "canny",
        "--max_train_steps", "2", "--train_batch_size", "2", "--use_ema",
        "--validation_prompt", "a red circle", "--validation_steps", "2", "--validation_num_inference_steps", "2",
        "--validation_conditions", str(next(captions.parent.glob("*.mp4"))),
    )  # fmt: skip
    run_training(argv)

    pipe = VideoComposerPipeline.from_pretrained(str(output_dir))
    initial = VideoComposerPipeline.from_pretrained(str(model_dir))
    assert not torch.equal(pipe.unet.conv_in.weight, initial.unet.conv_in.weight)  # the trained weights were saved
    assert not torch.equal(pipe.stc_encoder.branches["motion"].conv_in.weight,
                           initial.stc_encoder.branches["motion"].conv_in.weight)  # fmt: skip
    assert torch.equal(pipe.vae.encoder.conv_in.weight, initial.vae.encoder.conv_in.weight)  # frozen parts as loaded
    pipe.set_progress_bar_config(disable=True)
    frames = pipe(
        "a red circle", sketch=torch.rand(1, 1, 4, 48, 48), num_frames=4, height=32, width=32,
        num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt",
    ).frames  # fmt: skip
    assert frames.shape == (1, 4, 3, 32, 32) and torch.isfinite(frames).all()

    video = output_dir / "validation" / "step-2-0.mp4"
    with av.open(str(video)) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == 4 and (decoded[0].width, decoded[0].height) == (32, 32)


def test_gradient_checkpointing_gives_the_same_losses(tmp_path, model_dir, make_videos, training_argv, run_training):
    captions = make_videos(tmp_path / "videos", 2)
    common = ("--stage", "compositional", "--conditions", "motion", "canny", "--max_train_steps", "3")
    plain = run_training(training_argv(model_dir, captions, tmp_path / "plain", *common))
    checkpointed = run_training(
        training_argv(model_dir, captions, tmp_path / "gc", *common, "--gradient_checkpointing")
    )
    assert len(plain.losses) == 3
    assert len(set(plain.losses)) == 3  # different batches, noise and dropout each step
    torch.testing.assert_close(torch.tensor(checkpointed.losses), torch.tensor(plain.losses), rtol=1e-5, atol=1e-6)
    a = load_file(str(tmp_path / "plain" / "unet" / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(tmp_path / "gc" / "unet" / "diffusion_pytorch_model.safetensors"))
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-6)


def test_condition_dropout_overrides_set_each_conditions_probability(
    tmp_path, model_dir, make_videos, training_argv, run_training
):
    captions = make_videos(tmp_path / "videos", 2)
    common = ("--stage", "compositional", "--conditions", "motion", "canny", "--max_train_steps", "2",
              "--drop_all_prob", "0", "--keep_all_prob", "0")  # fmt: skip
    # text and style kept, both STC conditions dropped: said per condition, or as the default with overrides
    named = run_training(training_argv(model_dir, captions, tmp_path / "a", *common, "--condition_dropout_prob", "0",
                                       "--condition_dropout_overrides", "motion=1", "sketch=1"))  # fmt: skip
    default = run_training(training_argv(model_dir, captions, tmp_path / "b", *common, "--condition_dropout_prob", "1",
                                         "--condition_dropout_overrides", "text=0", "style=0"))  # fmt: skip
    kept = run_training(training_argv(model_dir, captions, tmp_path / "c", *common, "--condition_dropout_prob", "0"))
    torch.testing.assert_close(torch.tensor(named.losses), torch.tensor(default.losses), rtol=1e-5, atol=1e-7)
    assert named.losses[0] != kept.losses[0]  # the first step's draws are the same; only the conditions differ
    with pytest.raises(ValueError, match=r"--condition_dropout_overrides: \['edges'\] are not among \['text', "):
        run_training(training_argv(model_dir, captions, tmp_path / "d", *common,
                                   "--condition_dropout_overrides", "edges=0.5"))  # fmt: skip


def test_the_style_reference_is_each_clips_first_frame(
    tmp_path, model_dir, make_videos, training_argv, run_training, monkeypatch
):
    from videocomposer.training import trainer

    pixels, styles = [], []
    encode_latents, encode_image = trainer.encode_video_latents, VideoComposerPipeline.encode_image

    def spy_latents(vae, pixel_values, *args):
        pixels.append(pixel_values)
        return encode_latents(vae, pixel_values, *args)

    def spy_image(self, images, device):
        styles.append(images)
        return encode_image(self, images, device)

    monkeypatch.setattr(trainer, "encode_video_latents", spy_latents)
    monkeypatch.setattr(VideoComposerPipeline, "encode_image", spy_image)
    captions = make_videos(tmp_path / "videos", 2)
    extra = ("--conditions", "canny", "--max_train_steps", "1", "--train_batch_size", "2")
    run_training(training_argv(model_dir, captions, tmp_path / "out", *extra))
    [pixel_values], [images] = pixels, styles
    assert len(images) == 2 and all(image.mode == "RGB" and image.size == (32, 32) for image in images)
    # [-1, 1] -> [0, 255], rounded
    expected = ((pixel_values[:, 0] + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    assert torch.equal(torch.from_numpy(np.stack([np.asarray(image) for image in images])), expected)


def test_lora_saves_only_adapter_weights_that_load_back(tmp_path, model_dir, make_videos, training_argv, run_training):
    captions = make_videos(tmp_path / "videos", 1)
    output_dir = tmp_path / "out"
    run_training(training_argv(model_dir, captions, output_dir, "--stage", "t2v", "--trainable", "lora",
                               "--rank", "2", "--max_train_steps", "3", "--learning_rate", "1e-2"))  # fmt: skip

    assert sorted(p.name for p in output_dir.iterdir()) == sorted([ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME])
    saved = load_file(str(output_dir / ADAPTER_WEIGHTS_NAME))
    assert saved and all(".lora_A." in key or ".lora_B." in key for key in saved)
    assert any("transformer_in." in key for key in saved) and any("temp_attentions." in key for key in saved)
    assert any(key.endswith("lora_B.weight") and value.abs().sum() > 0 for key, value in saved.items())  # trained

    base = VideoComposerPipeline.from_pretrained(str(model_dir)).unet
    adapted = VideoComposerPipeline.from_pretrained(str(model_dir)).unet
    assert isinstance(load_adapter(adapted, output_dir), TemporalLoRA)
    loaded = {k: v for k, v in adapted.state_dict().items() if "lora_" in k}
    assert len(loaded) == len(saved)
    for key, value in saved.items():
        matches = [v for k, v in loaded.items() if k.replace(".default", "") == key]
        assert len(matches) == 1 and torch.equal(matches[0], value), key
    sample = torch.randn(1, 4, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    context = torch.randn(1, 16, base.config.cross_attention_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert not torch.allclose(
            adapted.eval()(sample, 500, context).sample, base.eval()(sample, 500, context).sample
        )


def test_lora_checkpoints_hold_only_adapter_weights_and_resume(
    tmp_path, model_dir, make_videos, training_argv, run_training
):
    captions = make_videos(tmp_path / "videos", 2)
    common = ("--stage", "t2v", "--trainable", "lora", "--rank", "2", "--learning_rate", "1e-2",
              "--max_train_steps", "3", "--checkpointing_steps", "2")  # fmt: skip
    run_training(training_argv(model_dir, captions, tmp_path / "full", *common))
    checkpoint = tmp_path / "full" / "checkpoint-2"
    assert sorted(p.name for p in (checkpoint / "unet_lora").iterdir()) == [ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME]
    assert not list(checkpoint.glob("model*.safetensors")) and not (checkpoint / "unet").exists()

    run_training(training_argv(model_dir, captions, tmp_path / "resumed", *common,
                               "--resume_from_checkpoint", str(checkpoint)))  # fmt: skip
    full = load_file(str(tmp_path / "full" / ADAPTER_WEIGHTS_NAME))
    resumed = load_file(str(tmp_path / "resumed" / ADAPTER_WEIGHTS_NAME))
    assert full.keys() == resumed.keys()
    for key in full:
        torch.testing.assert_close(resumed[key], full[key], rtol=1e-5, atol=1e-6)


def test_a_corrupt_video_is_skipped_and_counted(tmp_path, model_dir, make_videos, training_argv, run_training):
    captions = make_videos(tmp_path / "videos", 2)
    (captions.parent / "broken.mp4").write_bytes(b"this is not a video" * 50)
    with open(captions, "a", encoding="utf-8") as f:
        f.write("broken,a broken clip\n")
    with pytest.warns(UserWarning, match="broken"):
        result = run_training(training_argv(model_dir, captions, tmp_path / "out", "--stage", "t2v",
                                            "--max_train_steps", "3"))  # fmt: skip
    assert result.global_step == 3
    assert result.num_skipped_clips == 1


def test_checkpoints_are_pruned_to_the_total_limit(tmp_path, model_dir, make_videos, training_argv, run_training):
    captions = make_videos(tmp_path / "videos", 1)
    output_dir = tmp_path / "out"
    run_training(training_argv(model_dir, captions, output_dir, "--stage", "t2v", "--max_train_steps", "4",
                               "--checkpointing_steps", "1", "--checkpoints_total_limit", "2"))  # fmt: skip
    assert sorted(p.name for p in output_dir.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-4"]
    assert not list(output_dir.glob(".checkpoint-*"))


def test_resuming_from_a_checkpoint_path_continues_the_same_loss_curve(
    tmp_path, model_dir, make_videos, training_argv, run_training
):
    captions = make_videos(tmp_path / "videos", 3)
    common = ("--stage", "compositional", "--conditions", "motion", "canny", "--gradient_accumulation_steps", "2",
              "--use_ema", "--checkpointing_steps", "2")  # fmt: skip
    full = run_training(training_argv(model_dir, captions, tmp_path / "full", *common, "--max_train_steps", "5"))
    run_training(training_argv(model_dir, captions, tmp_path / "part", *common, "--max_train_steps", "2"))
    resumed = run_training(training_argv(model_dir, captions, tmp_path / "resumed", *common, "--max_train_steps", "5",
                                         "--resume_from_checkpoint", str(tmp_path / "part" / "checkpoint-2")))  # fmt: skip
    assert resumed.global_step == 5
    torch.testing.assert_close(torch.tensor(resumed.losses), torch.tensor(full.losses[2:]), rtol=1e-5, atol=1e-6)
    for name in ("unet", "stc_encoder"):
        a = load_file(str(tmp_path / "full" / name / "diffusion_pytorch_model.safetensors"))
        b = load_file(str(tmp_path / "resumed" / name / "diffusion_pytorch_model.safetensors"))
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6)


def test_bad_arguments_name_the_argument(tmp_path, model_dir, make_videos, training_argv):
    captions = make_videos(tmp_path / "videos", 1)
    base = training_argv(model_dir, captions, tmp_path / "out")
    with pytest.raises(ValueError, match="--conditions"):
        parse_args(base + ["--stage", "compositional"])
    with pytest.raises(ValueError, match="--trainable stc"):
        parse_args(base + ["--stage", "t2v", "--trainable", "stc"])
    with pytest.raises(ValueError, match="--resolution"):
        parse_args(base + ["--stage", "t2v", "--resolution", "30"])
    with pytest.raises(ValueError, match="--drop_all_prob"):
        parse_args(base + ["--stage", "t2v", "--drop_all_prob", "2"])
    with pytest.raises(SystemExit):  # argparse: "expected NAME=P (e.g. motion=0.05), got 'motion'"
        parse_args(base + ["--stage", "t2v", "--condition_dropout_overrides", "motion"])
    with pytest.raises(ValueError, match=r"--condition_dropout_overrides: expected NAME=P with P in \[0, 1\]"):
        parse_args(base + ["--stage", "t2v", "--condition_dropout_overrides", "text=1.5"])
    with pytest.raises(ValueError, match=r"--condition_dropout_overrides: each name once, got \['text', 'text'\]"):
        parse_args(base + ["--stage", "t2v", "--condition_dropout_overrides", "text=0.2", "text=0.3"])
    args = parse_args(base + ["--stage", "t2v", "--condition_dropout_overrides", "text=0.2", "style=1"])
    assert args.condition_dropout_overrides == {"text": 0.2, "style": 1.0}
    with pytest.raises(ValueError, match="--resume_from_checkpoint"):
        resolve_checkpoint(str(tmp_path / "missing"), tmp_path / "out")
    assert resolve_checkpoint("latest", tmp_path / "out") is None


def test_push_to_hub_uploads_the_final_folder_without_checkpoints(
    tmp_path, model_dir, make_videos, training_argv, run_training, monkeypatch
):
    import huggingface_hub

    calls = {}
    monkeypatch.setattr(huggingface_hub, "create_repo",
                        lambda repo_id, **kwargs: calls.setdefault("create", huggingface_hub.RepoUrl(
                            f"https://huggingface.co/{repo_id}")))  # fmt: skip
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **kwargs: calls.setdefault("upload", kwargs))
    captions = make_videos(tmp_path / "videos", 1)
    output_dir = tmp_path / "out"
    run_training(training_argv(model_dir, captions, output_dir, "--stage", "t2v", "--max_train_steps", "1",
                               "--push_to_hub", "--hub_model_id", "me/tiny-videocomposer"))  # fmt: skip
    upload = calls["upload"]
    assert upload["repo_id"] == "me/tiny-videocomposer" and upload["folder_path"] == str(output_dir)
    assert "checkpoint-*" in upload["ignore_patterns"]
    assert (output_dir / "model_index.json").is_file()
    assert (output_dir / "pipeline_videocomposer.py").is_file()  # the trained folder loads through DiffusionPipeline


def test_temporal_run_changes_only_temporal_weights(tmp_path, model_dir, make_videos, training_argv, run_training):
    captions = make_videos(tmp_path / "videos", 1)
    output_dir = tmp_path / "out"
    run_training(training_argv(model_dir, captions, output_dir, "--stage", "t2v", "--trainable", "temporal",
                               "--max_train_steps", "2"))  # fmt: skip
    before = load_file(str(model_dir / "unet" / "diffusion_pytorch_model.safetensors"))
    after = load_file(str(output_dir / "unet" / "diffusion_pytorch_model.safetensors"))
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    assert changed and all(is_temporal_parameter(key) for key in changed)
    assert any(key.startswith("transformer_in.") for key in changed)


def test_bf16_mixed_precision_trains_and_saves_float32_weights(
    tmp_path, model_dir, make_videos, training_argv, run_training
):
    captions = make_videos(tmp_path / "videos", 1)
    output_dir = tmp_path / "out"
    result = run_training(training_argv(model_dir, captions, output_dir, "--stage", "compositional",
                                        "--conditions", "motion", "--trainable", "stc", "--mixed_precision", "bf16",
                                        "--max_train_steps", "2"))  # fmt: skip
    assert result.global_step == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    for name in ("unet", "stc_encoder", "vae"):
        saved = load_file(str(output_dir / name / "diffusion_pytorch_model.safetensors"))
        assert {value.dtype for value in saved.values()} == {torch.float32}, name
    initial_vae = load_file(str(model_dir / "vae" / "diffusion_pytorch_model.safetensors"))
    saved_vae = load_file(str(output_dir / "vae" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(initial_vae[key], saved_vae[key]) for key in initial_vae)  # not rounded through bf16


def test_resuming_with_another_seed_is_refused(tmp_path, model_dir, make_videos, training_argv, run_training):
    captions = make_videos(tmp_path / "videos", 1)
    common = ("--stage", "t2v", "--max_train_steps", "2", "--checkpointing_steps", "1")
    run_training(training_argv(model_dir, captions, tmp_path / "out", *common))
    with pytest.raises(ValueError, match="--seed: the checkpoint was trained with --seed 0, this run has 1"):
        run_training(training_argv(model_dir, captions, tmp_path / "out", *common, "--seed", "1",
                                   "--resume_from_checkpoint", "latest"))  # fmt: skip
