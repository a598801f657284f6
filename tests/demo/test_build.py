"""The demo build drives the project's trainer (videocomposer.train) in resumable chunks and publishes each model."""

import json

import pytest
import torch

from pipelines import VideoComposerPipeline
from videocomposer.demo import build


@pytest.fixture
def start_model(tmp_path, make_tiny_components):
    folder = tmp_path / "start"
    VideoComposerPipeline(**make_tiny_components(image_encoder=False, image_embed_dim=None)).save_pretrained(folder)
    return folder


def test_build_trains_in_chunks_publishes_the_model_and_resumes(tmp_path, start_model):
    work, output = tmp_path / "work", tmp_path / "model"
    argv = [
        "--init-from",
        str(start_model),
        "--init-note",
        "tiny",
        "--work-dir",
        str(work),
        "--output-dir",
        str(output),
        "--train-clips",
        "2",
        "--chunk-steps",
        "1",
        "--batch-size",
        "1",
        "--lr-warmup-steps",
        "0",
    ]
    build.main([*argv, "--max-steps", "2"])
    state = json.loads((work / "run" / build.STATE_NAME).read_text())
    assert state["steps"] == 2 and 0.0 < state["loss"] < 10.0
    assert sorted(p.name for p in (work / "run").glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert {p.name for p in output.iterdir()} == {*build.PIPELINE_ENTRIES, "README.md"}
    configs = [output / "model_index.json", *output.glob("*/config.json")]
    assert len(configs) >= 5 and not any("_name_or_path" in json.loads(c.read_text()) for c in configs)
    assert str(tmp_path) not in "".join(c.read_text() for c in configs)  # no path of the training machine
    card = (output / "README.md").read_text()
    assert "python -m videocomposer.demo.build --init-from" in card and "Started from: tiny." in card
    assert "50% of them 8-frame windows of clips" in card  # --window-clip-prob's default
    assert "2 steps of batch 1" in card and f"(mean of the last 100 steps): {state['loss']:.4f}." in card
    start = VideoComposerPipeline.from_pretrained(start_model)
    trained = VideoComposerPipeline.from_pretrained(output)
    changed = [not torch.equal(a, b) for a, b in zip(start.unet.parameters(), trained.unet.parameters())]
    assert any(changed)  # trained ...
    for name in ("vae", "text_encoder"):  # ... and the frozen parts as they were
        for a, b in zip(getattr(start, name).parameters(), getattr(trained, name).parameters()):
            assert torch.equal(a, b)

    build.main([*argv, "--max-steps", "3"])  # resumes from checkpoint-2: one more step
    assert json.loads((work / "run" / build.STATE_NAME).read_text())["steps"] == 3
    assert "3 steps of batch 1" in (output / "README.md").read_text()


def test_bad_build_arguments_name_the_option(tmp_path):
    with pytest.raises(ValueError, match="--chunk-steps: expected a positive integer, got 0"):
        build.main(["--chunk-steps", "0"])
    with pytest.raises(ValueError, match="--init-from: .* is not a folder"):
        build.main(["--init-from", str(tmp_path / "missing")])
    with pytest.raises(ValueError, match=r"--window-clip-prob: expected a probability in \[0, 1\], got 1.5"):
        build.main(["--window-clip-prob", "1.5"])
