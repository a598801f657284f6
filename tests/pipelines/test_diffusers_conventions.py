"""VideoComposerPipeline follows diffusers' conventions: generic loading, any STC subset, native-size defaults, the
unknown-token warning, attention slicing, VAE slicing / tiling and FreeU."""

import ast
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from diffusers.models.attention_processor import Attention, AttnProcessor2_0, SlicedAttnProcessor

from pipelines import VideoComposerPipeline
from pipelines.model_index import PIPELINE_CLASS_NAME, PIPELINE_FILE_TEXT, loading_instructions
from videocomposer.conditions import condition_of_input
from videocomposer.conversion.model_card import render_model_card
from videocomposer.demo import DEMO_MODEL_DIR

REPO = Path(__file__).resolve().parents[2]


def test_save_pretrained_writes_a_folder_diffusers_can_resolve(pipe, tmp_path):
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline_videocomposer", "VideoComposerPipeline"]
    assert index["unet"] == ["videocomposer.models.unet_3d", "VideoComposerUNet3DModel"]
    assert index["stc_encoder"] == ["videocomposer.models.stc_encoder", "STCEncoder"]
    pipeline_file = tmp_path / "pipeline_videocomposer.py"
    assert pipeline_file.read_text() == PIPELINE_FILE_TEXT
    umask = os.umask(0)
    os.umask(umask)
    assert pipeline_file.stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "model_index.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_push_to_hub_uploads_the_completed_folder(pipe, tmp_path, monkeypatch):
    import huggingface_hub

    uploaded = {}

    def upload(self, working_dir, repo_id, token=None, commit_message=None, create_pr=False):
        folder = Path(working_dir)
        uploaded.update(repo_id=repo_id, files=sorted(p.name for p in folder.iterdir()))
        uploaded["index"] = json.loads((folder / "model_index.json").read_text())

    monkeypatch.setattr(
        huggingface_hub, "create_repo", lambda repo_id, **kwargs: huggingface_hub.RepoUrl(f"https://hf.co/{repo_id}")
    )
    monkeypatch.setattr(VideoComposerPipeline, "_upload_folder", upload)
    pipe.save_pretrained(tmp_path / "folder", push_to_hub=True, repo_id="me/tiny")
    assert uploaded["repo_id"] == "me/tiny"
    assert "pipeline_videocomposer.py" in uploaded["files"] and "unet" in uploaded["files"]
    assert uploaded["index"]["_class_name"] == list(PIPELINE_CLASS_NAME)


def test_the_class_loads_without_remote_code_and_the_generic_entry_point_asks_for_it(pipe, tmp_path):
    pipe.save_pretrained(tmp_path)
    loaded = VideoComposerPipeline.from_pretrained(tmp_path)
    assert type(loaded) is VideoComposerPipeline
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        DiffusionPipeline.from_pretrained(tmp_path)


LOAD_SCRIPT = """
import json, sys, torch
from diffusers import DiffusionPipeline  # nothing of videocomposer imported by hand
for folder in sys.argv[1:]:
    pipe = DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)
    pipe.set_progress_bar_config(disable=True)
    video = pipe("a cat", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt").frames
    print(json.dumps([type(pipe).__module__, type(pipe).__name__, list(video.shape), float(video.sum())]))
"""


def test_generic_entry_point_loads_a_saved_folder_and_the_demo_in_a_fresh_process(pipe, tmp_path):
    pipe.unet.register_to_config(sample_size=4, num_frames=4)  # native 32x32, 4 frames
    pipe.save_pretrained(tmp_path / "saved")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    environment["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(tmp_path / "saved"), str(DEMO_MODEL_DIR)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved, demo = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert saved[:2] == demo[:2] == ["pipelines.pipeline_videocomposer", "VideoComposerPipeline"]
    reference = pipe("a cat", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt")
    assert saved[2] == list(reference.frames.shape) == [1, 4, 3, 32, 32]
    assert saved[3] == pytest.approx(float(reference.frames.sum()), rel=1e-5)
    assert demo[2] == [1, 8, 3, 64, 64]


def test_the_demo_folder_is_written_as_save_pretrained_writes_it():
    index = json.loads((DEMO_MODEL_DIR / "model_index.json").read_text())
    assert index["_class_name"] == list(PIPELINE_CLASS_NAME)
    assert (DEMO_MODEL_DIR / "pipeline_videocomposer.py").read_text() == PIPELINE_FILE_TEXT
    unet = json.loads((DEMO_MODEL_DIR / "unet" / "config.json").read_text())
    assert (unet["sample_size"], unet["num_frames"]) == (8, 8)
    assert loading_instructions("path/to/videocomposer-demo") in (DEMO_MODEL_DIR / "README.md").read_text()


def test_model_cards_say_how_to_load():
    card = render_model_card("unet.pth", "sd.ckpt", "clip.bin", ("depth",), "fp16")
    assert 'DiffusionPipeline.from_pretrained("PATH_OR_REPO", trust_remote_code=True, dtype=torch.float16)' in card
    assert 'VideoComposerPipeline.from_pretrained("PATH_OR_REPO", dtype=torch.float16)' in card
    assert "import torch\n" in card


@pytest.mark.parametrize(
    "branches,given",
    [
        ({"motion": 2}, ["motion_vectors"]),
        ({"depth": 1, "sketch": 1}, ["depth", "sketch"]),
        ({"single_sketch": 1, "local_image": 3}, ["image"]),
    ],
)
def test_any_subset_of_stc_branches_works(make_tiny_components, conditions, call_kwargs, branches, given):
    pipe = VideoComposerPipeline(**make_tiny_components(conditions=branches))
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a cat", **{name: conditions[name] for name in given}, **call_kwargs()).frames
    plain = pipe("a cat", **call_kwargs()).frames
    assert out.shape == plain.shape == (1, 4, 4, 4, 4)
    assert (out - plain).abs().max() > 1e-4
    with pytest.raises(ValueError, match="`masked_video`: the stc_encoder was not built with the 'masked' condition"):
        pipe("a cat", masked_video=conditions["masked_video"], mask=conditions["mask"], **call_kwargs())
    missing = next(name for name in ("sketch", "motion_vectors") if name not in given)
    branch = condition_of_input(missing).name
    with pytest.raises(ValueError, match=f"`{missing}`: the stc_encoder was not built with the '{branch}' condition"):
        pipe("a cat", **{missing: conditions[missing]}, **call_kwargs())


def test_size_and_frames_default_to_the_models_native_ones(pipe, call_kwargs):
    pipe.unet.register_to_config(sample_size=4, num_frames=2)
    kwargs = call_kwargs()
    for name in ("num_frames", "height", "width"):
        kwargs.pop(name)
    assert pipe("a cat", **kwargs).frames.shape == (1, 4, 2, 4, 4)  # 4 * vae factor 8 = 32 pixels
    assert pipe("a cat", **kwargs, height=48).frames.shape == (1, 4, 2, 6, 4)
    pipe.unet.register_to_config(sample_size=None)
    with pytest.raises(
        ValueError, match="`height` and `width` have to be given: the unet config has no `sample_size`"
    ):
        pipe("a cat", **kwargs)


def test_encode_prompt_outputs_replace_the_text_encoder_in_call(tiny_components, call_kwargs):
    """diffusers' `test_encode_prompt_works_in_isolation`: the names of `encode_prompt`'s return statement are
    `__call__` parameters, and its outputs fed to a pipeline without text encoder give the same video."""
    source = textwrap.dedent(inspect.getsource(VideoComposerPipeline.encode_prompt))
    returns = [node.value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Return)]
    assert len(returns) == 1 and isinstance(returns[0], ast.Tuple)
    names = [element.id for element in returns[0].elts]
    assert names == ["prompt_embeds", "negative_prompt_embeds"]
    assert set(names) <= set(inspect.signature(VideoComposerPipeline.__call__).parameters)

    full = VideoComposerPipeline(**tiny_components)
    full.set_progress_bar_config(disable=True)
    embeds = dict(zip(names, full.encode_prompt("a cat", "cpu", 1, True, negative_prompt="a dog")))
    no_text = VideoComposerPipeline(**{**tiny_components, "text_encoder": None, "tokenizer": None})
    no_text.set_progress_bar_config(disable=True)
    expected = full("a cat", negative_prompt="a dog", **call_kwargs()).frames
    torch.testing.assert_close(no_text(**embeds, **call_kwargs()).frames, expected, rtol=1e-5, atol=1e-6)


def test_the_demo_model_renders_its_native_size_by_default():
    pipe = VideoComposerPipeline.from_pretrained(DEMO_MODEL_DIR)
    pipe.set_progress_bar_config(disable=True)
    video = pipe("a red circle moving to the right", num_inference_steps=1, generator=torch.manual_seed(0)).frames
    assert video.shape == (1, 8, 64, 64, 3)


def test_unknown_tokens_are_warned_once_per_word(pipe, call_kwargs, caplog):
    with caplog.at_level("WARNING"):
        pipe("a cat 42", **call_kwargs())
    assert "unknown token" in caplog.text and "['42']" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        pipe(["a cat 42", "a dog"], **call_kwargs())
        pipe("a red cat", **call_kwargs())
    assert "unknown token" not in caplog.text
    with caplog.at_level("WARNING"):
        pipe("a cat #7", **call_kwargs())
    assert "['#7']" in caplog.text


def attention_processors(pipe) -> set[type]:
    return {
        type(m.processor)
        for model in (pipe.unet, pipe.stc_encoder)
        for m in model.modules()
        if isinstance(m, Attention)
    }


def test_enable_attention_slicing_slices_the_unet_and_the_stc_encoder(pipe, conditions, call_kwargs):
    expected = pipe("a cat", **conditions, **call_kwargs()).frames
    pipe.enable_attention_slicing("max")
    assert attention_processors(pipe) == {SlicedAttnProcessor}
    torch.testing.assert_close(pipe("a cat", **conditions, **call_kwargs()).frames, expected, rtol=1e-4, atol=1e-5)
    pipe.disable_attention_slicing()
    assert attention_processors(pipe) == {AttnProcessor2_0}


def count_decoder_calls(pipe) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    pipe.vae.decoder.register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0].shape)))
    return shapes


def test_vae_slicing_decodes_one_frame_at_a_time_with_the_same_frames(pipe, call_kwargs):
    expected = pipe("a cat", **call_kwargs(output_type="np")).frames
    shapes = count_decoder_calls(pipe)
    pipe.enable_vae_slicing()
    sliced = pipe("a cat", **call_kwargs(output_type="np")).frames
    assert shapes == [(1, 4, 4, 4)] * 4  # 4 frames
    np.testing.assert_allclose(sliced, expected, rtol=1e-5, atol=1e-5)
    pipe.disable_vae_slicing()
    shapes.clear()
    pipe("a cat", **call_kwargs(output_type="np"))
    assert shapes == [(4, 4, 4, 4)]


def test_vae_tiling_decodes_every_frame_in_tiles(pipe, call_kwargs):
    latents = pipe("a cat", **call_kwargs(height=64, width=64)).frames  # (1, 4, F, 8, 8)
    pipe.vae.tile_sample_min_size, pipe.vae.tile_latent_min_size = 32, 4  # tiles of 4x4 latents
    shapes = count_decoder_calls(pipe)
    pipe.enable_vae_tiling()
    tiled = pipe("a cat", **call_kwargs(height=64, width=64, output_type="pt")).frames
    assert len(shapes) > 1 and all(max(shape[-2:]) <= 4 for shape in shapes)  # tiles, never the whole 8x8 latent
    frames = latents[0].permute(1, 0, 2, 3) / pipe.vae.config.scaling_factor  # (F, 4, 8, 8)
    with torch.no_grad():
        by_hand = torch.stack([pipe.vae.tiled_decode(frame[None]).sample[0] for frame in frames])
    expected = (by_hand / 2 + 0.5).clamp(0, 1)  # (F, 3, 64, 64) in [0, 1]
    torch.testing.assert_close(tiled[0], expected, rtol=1e-4, atol=1e-4)
    pipe.disable_vae_tiling()
    assert not pipe.vae.use_tiling


def test_freeu_changes_the_video_and_disabling_restores_it(pipe, call_kwargs):
    expected = pipe("a cat", **call_kwargs()).frames
    pipe.enable_freeu(s1=0.9, s2=0.2, b1=1.2, b2=1.4)
    assert (pipe("a cat", **call_kwargs()).frames - expected).abs().max() > 1e-4
    pipe.disable_freeu()
    # exact: same kernels, same shapes, one process
    torch.testing.assert_close(pipe("a cat", **call_kwargs()).frames, expected, rtol=0, atol=0)


def test_the_readme_demo_quickstart_runs_as_written(tmp_path, monkeypatch):
    from videocomposer.data.synthetic import generate_clip
    from videocomposer.visualize import save_video

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    snippet = (
        readme.split("With the demo model that ships with the package")[1].split("```python\n")[1].split("```")[0]
    )
    (tmp_path / "outputs").mkdir()  # where `make demo` writes the source clip the snippet reads
    save_video(generate_clip(0, num_frames=16, height=64, width=64, num_objects=1).frames,
               tmp_path / "outputs" / "source.mp4")  # fmt: skip
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102
    video = namespace["video"]
    assert video.shape == (8, 64, 64, 3) and 0.0 <= video.min() and video.max() <= 1.0
    assert namespace["conditions"]["motion_vectors"].shape == (1, 2, 8, 64, 64)
