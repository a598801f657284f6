"""The shipped demo model: loads offline from the installed package, is small, and its motion condition steers."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import videocomposer
from videocomposer.demo import DEMO_MODEL_DIR
from videocomposer.demo.components import CONDITIONS, NUM_FRAMES, build_tokenizer, caption_vocabulary

MAX_WEIGHT_BYTES = 25 * 1024 * 1024


@pytest.fixture(scope="module")
def demo_pipeline():
    from pipelines.pipeline_videocomposer import VideoComposerPipeline

    pipeline = VideoComposerPipeline.from_pretrained(DEMO_MODEL_DIR, local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_demo_model_is_inside_the_installed_package():
    assert DEMO_MODEL_DIR.is_relative_to(Path(videocomposer.__file__).resolve().parent)
    index = json.loads((DEMO_MODEL_DIR / "model_index.json").read_text())
    assert index["_class_name"] == "VideoComposerPipeline"
    assert index["unet"][1] == "VideoComposerUNet3DModel" and index["stc_encoder"][1] == "STCEncoder"


def test_demo_weights_are_safetensors_under_25_mb():
    weights = list(DEMO_MODEL_DIR.rglob("*.safetensors"))
    assert {path.parent.name for path in weights} == {"vae", "text_encoder", "unet", "stc_encoder"}
    assert not list(DEMO_MODEL_DIR.rglob("*.bin"))
    assert sum(path.stat().st_size for path in weights) <= MAX_WEIGHT_BYTES


def test_model_card_states_command_time_and_loss():
    card = (DEMO_MODEL_DIR / "README.md").read_text()
    assert "python -m videocomposer.demo.build" in card
    assert "min of UNet + STC training" in card
    loss = float(card.split("Final training loss (mean of the last 100 steps): ")[1].split(".\n")[0].rstrip("."))
    assert 0.0 < loss < 1.0


def test_demo_model_loads_offline(demo_pipeline, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert demo_pipeline.stc_encoder.conditions == tuple(
        name for name in ("depth", "local_image", "motion", "sketch", "masked") if name in CONDITIONS
    )
    assert demo_pipeline.image_encoder is None
    assert demo_pipeline.unet.config.sample_size * demo_pipeline.vae_scale_factor == 64


def test_every_caption_word_is_one_token():
    tokenizer = build_tokenizer()
    for word in caption_vocabulary():
        assert tokenizer.tokenize(word) == [f"{word}</w>"]


def test_distinct_captions_give_distinct_text_embeddings(demo_pipeline):
    embeddings, _ = demo_pipeline.encode_prompt(
        ["a red circle moving left on a plain background", "a blue circle moving left on a plain background"],
        torch.device("cpu"), 1, False,
    )  # fmt: skip
    assert (embeddings[0] - embeddings[1]).abs().max() > 0.1


def _object_centroid_x(frames: np.ndarray) -> np.ndarray:
    """Per-frame x of the saturated (object) pixels, weighted by saturation."""
    high, low = frames.max(axis=-1), frames.min(axis=-1)
    saturation = np.clip((high - low) / np.maximum(high, 1e-6) - 0.3, 0.0, None)
    xs = np.arange(frames.shape[2])[None, None, :]
    return (saturation * xs).sum(axis=(1, 2)) / np.maximum(saturation.sum(axis=(1, 2)), 1e-6)


@pytest.mark.parametrize("direction", ["right", "left"])
def test_motion_condition_moves_the_object_along_the_stroke(demo_pipeline, direction):
    """Coarse and able to fail: a horizontal stroke across the frame; the object's centroid must travel its way."""
    from videocomposer.motion import Stroke, strokes_to_motion_vectors

    points = [(10.0, 32.0), (54.0, 32.0)] if direction == "right" else [(54.0, 32.0), (10.0, 32.0)]
    motion = strokes_to_motion_vectors([Stroke(points=points, radius=16.0)], NUM_FRAMES, 64, 64)
    frames = demo_pipeline(
        f"a red circle moving {direction} on a plain background", motion_vectors=motion, num_frames=NUM_FRAMES,
        height=64, width=64, num_inference_steps=4, guidance_scale=3.0, generator=torch.Generator().manual_seed(0),
    ).frames[0]  # fmt: skip
    x = _object_centroid_x(frames)
    travel = x[-1] - x[1]  # frame 0 has no motion vectors (an I-frame)
    assert (travel > 4.0) if direction == "right" else (travel < -4.0), f"centroid x per frame: {np.round(x, 1)}"
