"""`videocomposer convert` end to end on tiny release files; safety of checkpoint loading; atomic output."""

import json
import os
import stat
from pathlib import Path

import open_clip
import pytest
import torch

from videocomposer.cli import main
from videocomposer.conversion.checkpoint import load_checkpoint


@pytest.fixture
def release_files(tmp_path, tiny_original_state_dict, tiny_vae, sd_checkpoint_of, tiny_open_clip_config):
    """Tiny stand-ins of the three release files, saved as torch checkpoints like the originals."""
    torch.manual_seed(0)
    files = {"unet": tmp_path / "non_ema.pth", "sd": tmp_path / "sd.ckpt", "open_clip": tmp_path / "open_clip.bin"}
    torch.save(tiny_original_state_dict, files["unet"])
    torch.save(sd_checkpoint_of(tiny_vae), files["sd"])
    torch.save(open_clip.CLIP(**tiny_open_clip_config).state_dict(), files["open_clip"])
    return files


def convert_argv(files, output, original_config, open_clip_config, *extra):
    return [
        "convert", "--unet", str(files["unet"]), "--sd-checkpoint", str(files["sd"]),
        "--open-clip", str(files["open_clip"]), "--output", str(output),
        "--original-config", json.dumps(original_config), "--open-clip-config", json.dumps(open_clip_config), *extra,
    ]  # fmt: skip


def test_convert_command_writes_a_folder_the_pipeline_loads(
    tmp_path, release_files, tiny_original_state_dict, tiny_original_config, tiny_open_clip_config
):
    from pipelines.pipeline_videocomposer import VideoComposerPipeline
    from videocomposer.conversion.original_unet import export_original_state_dict

    output = tmp_path / "videocomposer"
    assert main(convert_argv(release_files, output, tiny_original_config, tiny_open_clip_config)) == 0

    assert json.loads((output / "model_index.json").read_text())["unet"] == [
        "videocomposer.models.unet_3d",
        "VideoComposerUNet3DModel",
    ]
    assert (output / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert "NON-COMMERCIAL" in (output / "README.md").read_text().upper()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]

    pipe = VideoComposerPipeline.from_pretrained(output)
    exported = export_original_state_dict(pipe.unet, pipe.stc_encoder)
    assert all(torch.equal(exported[k], v) for k, v in tiny_original_state_dict.items())
    assert pipe.tokenizer.vocab_size == 49408 and pipe.text_encoder.config.num_hidden_layers == 2
    assert pipe.scheduler.config.steps_offset == 1 and pipe.scheduler.config.timestep_spacing == "leading"
    assert pipe.feature_extractor.crop_size == {"height": 32, "width": 32}
    assert pipe.vae.config.scaling_factor == 0.18215
    assert (pipe.unet.config.sample_size, pipe.unet.config.num_frames) == (32, 16)  # native 256x256, 16 frames

    from diffusers import DiffusionPipeline  # the generic entry point, as the model card says

    assert type(DiffusionPipeline.from_pretrained(output, trust_remote_code=True)) is VideoComposerPipeline
    assert "trust_remote_code=True" in (output / "README.md").read_text()


def test_convert_command_fp16_writes_half_precision(
    tmp_path, release_files, tiny_original_config, tiny_open_clip_config
):
    from safetensors import safe_open

    output = tmp_path / "fp16"
    assert (
        main(convert_argv(release_files, output, tiny_original_config, tiny_open_clip_config, "--dtype", "fp16")) == 0
    )
    for component in ("unet", "stc_encoder", "vae"):
        with safe_open(output / component / "diffusion_pytorch_model.safetensors", "pt") as f:
            assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}  # noqa: SIM118


def test_failed_conversion_leaves_no_folder(tmp_path, release_files, tiny_open_clip_config, capsys):
    output = tmp_path / "videocomposer"
    # The release config does not describe the tiny UNet: refused after the folder checks, before writing.
    assert main(convert_argv(release_files, output, {}, tiny_open_clip_config)) == 2
    assert "dim: original_config gives 320, the state dict has 32" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["non_ema.pth", "open_clip.bin", "sd.ckpt"]


def test_error_during_writing_removes_the_partial_folder(tmp_path):
    from videocomposer.conversion.atomic_folder import atomic_folder

    with pytest.raises(RuntimeError, match="disk full"), atomic_folder(tmp_path / "out") as staging:
        (staging / "half.safetensors").write_bytes(b"x")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_folder_is_refused(
    tmp_path, release_files, tiny_original_config, tiny_open_clip_config, capsys
):
    assert main(convert_argv(release_files, tmp_path, tiny_original_config, tiny_open_clip_config)) == 2
    assert f"output: {str(tmp_path)!r} already exists" in capsys.readouterr().err


class _CreatesAFile:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_pickle_that_executes_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": _CreatesAFile(str(marker))}, checkpoint)

    with pytest.raises(ValueError, match=r"unet: .*evil\.pth' was refused: it contains objects other than tensors"):
        load_checkpoint(checkpoint, "unet")
    assert not marker.exists()


def test_raw_pickle_is_refused_without_unpickling(tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "raw.pth"
    checkpoint.write_bytes(pickle.dumps({"payload": _CreatesAFile(str(marker))}))
    with pytest.raises(ValueError, match="not a zip-format torch checkpoint"):
        load_checkpoint(checkpoint)
    assert not marker.exists()


def test_checkpoint_is_read_tensors_only_and_memory_mapped(tmp_path, monkeypatch):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    path = tmp_path / "w.pth"
    torch.save({"w": torch.arange(6.0)}, path)
    assert torch.equal(load_checkpoint(path)["w"], torch.arange(6.0))
    assert calls == [{"map_location": "cpu", "weights_only": True, "mmap": True}]


def test_push_to_hub_uploads_the_finished_folder(tmp_path, monkeypatch):
    import huggingface_hub

    from videocomposer.conversion.release import upload_folder_to_hub

    calls = []
    monkeypatch.setattr(huggingface_hub, "create_repo", lambda repo_id, exist_ok: calls.append(("create", repo_id)))
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **kwargs: calls.append(("upload", kwargs)))
    upload_folder_to_hub(tmp_path, "user/videocomposer")
    assert calls[0] == ("create", "user/videocomposer")
    assert calls[1][1]["repo_id"] == "user/videocomposer" and calls[1][1]["folder_path"] == tmp_path


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_converted_folder_has_the_umask_modes(
    tmp_path, release_files, tiny_original_config, tiny_open_clip_config, umask
):
    output = tmp_path / "videocomposer"
    previous = os.umask(umask)
    try:
        assert main(convert_argv(release_files, output, tiny_original_config, tiny_open_clip_config)) == 0
    finally:
        os.umask(previous)
    entries = [output, *output.rglob("*")]
    assert len([p for p in entries if p.suffix == ".safetensors"]) >= 4
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in entries}
    assert modes == {str(p.relative_to(tmp_path)): (0o777 if p.is_dir() else 0o666) & ~umask for p in entries}
