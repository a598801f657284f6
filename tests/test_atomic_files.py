"""Atomic writes keep the umask's permissions (0644 / 0755 under umask 022, 0600 / 0700 under 077), everywhere."""

import os
import stat

import numpy as np
import pytest
import torch

from videocomposer.atomic_files import atomic_folder, atomic_path, atomic_write_bytes, atomic_write_text, current_umask


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def file_mode(umask: int) -> int:
    return 0o666 & ~umask


def test_current_umask_reads_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_write_bytes_gets_the_umask_mode_and_leaves_no_temporary(tmp_path, umask):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"abc")
    assert target.read_bytes() == b"abc"
    assert mode(target) == file_mode(umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_atomic_write_replaces_an_existing_file_with_the_umask_mode(tmp_path, umask):
    target = tmp_path / "a.txt"
    target.write_text("old")
    os.chmod(target, 0o600)
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == file_mode(umask)


def test_atomic_path_overrides_a_writer_that_creates_0600(tmp_path, umask):
    target = tmp_path / "x.mp4"
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".mp4" and temporary.name.startswith(".x.")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT, 0o600)  # what mkstemp does
        os.write(fd, b"v")
        os.close(fd)
    assert mode(target) == file_mode(umask)


def test_atomic_path_removes_the_temporary_on_error_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_atomic_path_needs_an_existing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="output folder does not exist"), atomic_path(tmp_path / "no" / "f"):
        pass


def test_two_writers_of_one_target_use_different_temporaries(tmp_path):
    with atomic_path(tmp_path / "t.bin") as first, atomic_path(tmp_path / "t.bin") as second:
        assert first != second
        first.write_bytes(b"1")
        second.write_bytes(b"2")
    assert (tmp_path / "t.bin").read_bytes() == b"1"  # the outer one renames last


def test_atomic_folder_gets_the_umask_mode_not_mkdtemp_0700(tmp_path, umask):
    target = tmp_path / "model"
    with atomic_folder(target) as staging:
        (staging / "config.json").write_text("{}")
    assert mode(target) == 0o777 & ~umask
    assert (target / "config.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_folder_refuses_or_replaces_an_existing_folder(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old").write_text("x")
    with pytest.raises(FileExistsError, match="already exists"), atomic_folder(target):
        pass
    with atomic_folder(target, replace=True) as staging:
        (staging / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_folder_is_removed_on_error(tmp_path):
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "model") as staging:
        (staging / "half").write_text("x")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


# --- the call sites ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".mp4", ".gif"])
def test_save_video_respects_the_umask(tmp_path, umask, extension):
    from videocomposer.visualize import save_video

    frames = np.zeros((2, 16, 16, 3), np.uint8)
    path = save_video(frames, tmp_path / f"v{extension}", fps=4)
    assert mode(path) == file_mode(umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"v{extension}"]


def test_save_strokes_respects_the_umask(tmp_path, umask):
    from videocomposer.motion import Stroke, StrokeSet, load_strokes, save_strokes

    strokes = StrokeSet([Stroke(points=[(1.0, 2.0), (10.0, 12.0)], radius=4.0)], 32, 32)
    save_strokes(strokes, tmp_path / "s.json")
    assert mode(tmp_path / "s.json") == file_mode(umask)
    assert load_strokes(tmp_path / "s.json").strokes[0].points == [(1.0, 2.0), (10.0, 12.0)]


def test_synthetic_dataset_and_condition_cache_respect_the_umask(tmp_path, umask):
    from videocomposer.data.synthetic import write_dataset
    from videocomposer.data.video_dataset import VideoTextDataset, write_cache_index, write_condition_cache

    write_dataset(tmp_path / "data", num_clips=1, seed=0, fps=8, num_frames=8, height=32, width=32)
    written = sorted((tmp_path / "data").iterdir())
    assert [mode(p) for p in written] == [file_mode(umask)] * len(written) and len(written) == 3
    dataset = VideoTextDataset(tmp_path / "data", tmp_path / "data" / "captions.csv", num_frames=2, resolution=32,
                               conditions=["canny"])  # fmt: skip
    write_condition_cache(dataset, tmp_path / "cache", progress=False)
    write_cache_index(dataset, tmp_path / "cache")
    cached = sorted((tmp_path / "cache").iterdir())
    assert [p.name for p in cached] == ["index.json", "train_00000000.safetensors"]
    assert [mode(p) for p in cached] == [file_mode(umask)] * 2


def test_conversion_output_folder_respects_the_umask(tmp_path, umask):
    from videocomposer.conversion.atomic_folder import atomic_folder as conversion_folder

    with conversion_folder(tmp_path / "converted") as staging:
        torch.save({"w": torch.zeros(1)}, staging / "w.pt")
    assert mode(tmp_path / "converted") == 0o777 & ~umask
    assert mode(tmp_path / "converted" / "w.pt") == file_mode(umask)


def test_extract_output_respects_the_umask(tmp_path, umask):
    from videocomposer.cli import main
    from videocomposer.data.synthetic import encode_mp4, generate_clip

    video = tmp_path / "clip.mp4"
    video.write_bytes(encode_mp4(generate_clip(0, 4, 32, 32, num_objects=1).frames, fps=4))
    output = tmp_path / "c.safetensors"
    assert main(["extract", str(video), "--conditions", "canny", "--frames", "2", "--height", "32", "--width", "32",
                 "--output", str(output)]) == 0  # fmt: skip
    assert mode(output) == file_mode(umask)


def test_temporal_lora_adapter_files_respect_the_umask(tmp_path, umask, make_tiny_components):
    from videocomposer.training.adapters import build_adapter, load_adapter

    unet = make_tiny_components()["unet"]
    adapter = build_adapter("lora", 2, None, 4, 4.0)
    adapter.add(unet, seed=0)
    weights = adapter.save(unet, tmp_path / "lora")
    assert sorted(p.name for p in (tmp_path / "lora").iterdir()) == sorted([weights.name, "adapter_config.json"])
    assert [mode(p) for p in (tmp_path / "lora").iterdir()] == [file_mode(umask)] * 2
    assert load_adapter(make_tiny_components()["unet"], tmp_path / "lora").config.r == 2


def saved_modes(folder) -> dict[str, int]:
    return {str(p.relative_to(folder)): mode(p) for p in sorted(folder.rglob("*"))}


def test_pipeline_save_pretrained_gives_every_file_and_folder_the_umask_mode(tmp_path, umask, tiny_components):
    from pipelines.pipeline_videocomposer import VideoComposerPipeline

    VideoComposerPipeline(**tiny_components).save_pretrained(tmp_path / "pipe")
    modes = saved_modes(tmp_path / "pipe")
    weights = [name for name in modes if name.endswith(".safetensors")]
    assert len(weights) >= 4 and "unet/diffusion_pytorch_model.safetensors" in weights  # unet, stc, vae, text, ...
    expected = {name: (0o777 if (tmp_path / "pipe" / name).is_dir() else 0o666) & ~umask for name in modes}
    assert modes == expected and mode(tmp_path / "pipe") == 0o777 & ~umask


@pytest.mark.parametrize("name", ["unet", "stc_encoder", "vae"])
def test_model_save_pretrained_gives_the_umask_mode(tmp_path, umask, make_tiny_components, name):
    from videocomposer.atomic_files import umask_modes

    model = make_tiny_components()[name]
    if name == "vae":  # diffusers' own class: saved through `umask_modes` (as fit_vae does)
        with umask_modes(tmp_path / name):
            model.save_pretrained(tmp_path / name)
    else:
        model.save_pretrained(tmp_path / name)
    modes = saved_modes(tmp_path / name)
    assert sorted(modes) == ["config.json", "diffusion_pytorch_model.safetensors"]
    assert set(modes.values()) == {file_mode(umask)}


def test_umask_modes_keeps_what_was_there_and_stays_untouched(tmp_path, umask):
    from videocomposer.atomic_files import umask_modes

    folder = tmp_path / "out"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    (folder / "mine.txt").write_text("keep")
    os.chmod(folder / "mine.txt", 0o640)
    (folder / "old.bin").write_text("old")
    os.chmod(folder / "old.bin", 0o600)
    with umask_modes(folder):
        for name in ("new.bin", "old.bin"):  # written as diffusers does: a 0600 temporary, renamed
            fd = os.open(folder / ".tmp", os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"x")
            os.close(fd)
            os.replace(folder / ".tmp", folder / name)
        (folder / "sub").mkdir()
    assert saved_modes(folder) == {"mine.txt": 0o640, "new.bin": file_mode(umask), "old.bin": file_mode(umask),
                                   "sub": 0o777 & ~umask}  # fmt: skip
    assert mode(folder) == 0o700  # the user's folder keeps its mode
