"""What the app tells the user about the loaded model: its size, its conditions in plain words, what its card says,
and how many frames this model and this machine allow.

Everything is read from the pipeline (its configs and the model card ``README.md`` of its folder), never hard-coded
per model.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..commands._checks import available_memory

# STC branch -> the words the app uses for it
CONDITION_WORDS = {
    "motion": "motion",
    "depth": "depth",
    "sketch": "sketch",
    "single_sketch": "a single sketch",
    "masked": "inpainting",
    "local_image": "a first-frame image",
}
LONG_VIDEO_WINDOWS = 8  # frames beyond the trained window run as overlapping windows; the app allows this many
# Peak memory per frame and per (pixel x channel of the UNet's first level), in bytes: the demo model's measured
# slope (3.07 MiB per frame at 64x64 with 32 channels, README "Long video") scaled to other sizes and widths.
BYTES_PER_FRAME_PIXEL_CHANNEL = 3.07 * 2**20 / (64 * 64 * 32)
MEMORY_SHARE = 0.5  # the share of the available memory one generation may plan to use


def condition_words(branches: list[str]) -> list[str]:
    """The model's STC branches in the app's words (``masked`` -> ``inpainting``)."""
    return [CONDITION_WORDS.get(branch, branch.replace("_", " ")) for branch in branches]


def frame_limit(pipeline, height: int, width: int, memory: int | None = None) -> int:
    """The most frames the app lets one generation ask for: ``LONG_VIDEO_WINDOWS`` times the model's trained window,
    fewer where the estimated peak memory (``BYTES_PER_FRAME_PIXEL_CHANNEL``) would pass ``MEMORY_SHARE`` of
    ``memory`` (default: `available_memory`); never below 2."""
    window = pipeline.unet.config.num_frames or 16
    limit = LONG_VIDEO_WINDOWS * window
    memory = available_memory() if memory is None else memory
    if memory is not None:
        per_frame = BYTES_PER_FRAME_PIXEL_CHANNEL * height * width * pipeline.unet.config.block_out_channels[0]
        limit = min(limit, int(MEMORY_SHARE * memory / per_frame))
    return max(2, limit)


def card_summary(folder: str | os.PathLike | None) -> str:
    """The first paragraph of the model card (``README.md`` in ``folder``) as one line; ``""`` without a card."""
    if not folder:
        return ""
    card = Path(folder) / "README.md"
    if not card.is_file():
        return ""
    text = card.read_text(encoding="utf-8")
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.DOTALL)  # the Hub's YAML metadata
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in paragraph.strip().splitlines()]
        if lines and not lines[0].startswith(("#", "|", "```", "!", "<")):
            return " ".join(lines)
    return ""


def model_summary(pipeline, height: int, width: int, max_frames: int) -> str:
    """The app's header line about the model: size, trained frames, the frame limit, conditions, the card's summary."""
    name = Path(pipeline.config._name_or_path or "model").name
    trained = pipeline.unet.config.num_frames
    frames = f"{trained} frames" if trained else "any frame count"
    words = ", ".join(condition_words(list(pipeline.stc_encoder.conditions)))
    summary = (f"**Model `{name}`**: {width}x{height} video, trained on {frames} (up to {max_frames} here with "
               f"long-video windows); conditions: {words}.")  # fmt: skip
    card = card_summary(pipeline.config._name_or_path)
    return f"{summary} {card}" if card else summary
