"""What the app says about the model: plain condition words, the card's summary, the frame limit."""

import pytest

from pipelines import VideoComposerPipeline
from videocomposer.app.model_info import (
    BYTES_PER_FRAME_PIXEL_CHANNEL,
    LONG_VIDEO_WINDOWS,
    card_summary,
    condition_words,
    frame_limit,
    model_summary,
)


@pytest.fixture
def pipe(tiny_components) -> VideoComposerPipeline:
    return VideoComposerPipeline(**tiny_components)


def test_condition_words_are_words_a_user_knows():
    assert condition_words(["motion", "masked", "local_image", "single_sketch", "style_thing"]) == [
        "motion", "inpainting", "a first-frame image", "a single sketch", "style thing"]  # fmt: skip


def test_card_summary_is_the_first_paragraph(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: x\n---\n# name\n\nA small model\nof shapes.\n\n## More\n\nrest\n")
    assert card_summary(tmp_path) == "A small model of shapes."
    assert card_summary(tmp_path / "missing") == "" and card_summary(None) == ""


def test_frame_limit_follows_window_and_memory(pipe):
    window = pipe.unet.config.num_frames
    channels = pipe.unet.config.block_out_channels[0]
    assert frame_limit(pipe, 32, 32, memory=2**50) == LONG_VIDEO_WINDOWS * window
    per_frame = BYTES_PER_FRAME_PIXEL_CHANNEL * 32 * 32 * channels
    assert frame_limit(pipe, 32, 32, memory=int(2 * 5.5 * per_frame)) == 5  # half the memory: 5.5 frames -> 5
    assert frame_limit(pipe, 32, 32, memory=0) == 2


def test_summary_of_the_demo_model_reads_its_config_and_card():
    from videocomposer.commands.generate import load_pipeline
    from videocomposer.demo import DEMO_MODEL_DIR

    pipeline = load_pipeline(None)
    text = model_summary(pipeline, 64, 64, 40)
    first = (DEMO_MODEL_DIR / "README.md").read_text().split("\n\n")[1].split("\n")[0]
    assert text.startswith("**Model `videocomposer-demo`**: 64x64 video, trained on 8 frames (up to 40 here")
    assert first in text and "moving-shapes" in text and "converted release" in text
    assert "local_image" not in text and "masked" not in text and "inpainting" in text
