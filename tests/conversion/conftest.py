"""Fixtures of the conversion tests: original-layout state dicts built from the key lists of the original code.

``data/original_unet_keys_{tiny,full}.tsv`` list every key, shape and dtype of ``UNetSD_temporal`` built with the
tiny and the release configuration (copied from the project's reference notes).
"""

from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"

#: The original constructor arguments of the tiny key list (the rest are the release's).
TINY_ORIGINAL_CONFIG = {"dim": 32, "dim_mult": (1, 1, 2), "attn_scales": (1.0, 0.5), "head_dim": 32, "num_heads": 2}


def read_key_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` from ``data/original_unet_keys_{name}.tsv`` (columns: key, shape, dtype, numel)."""
    shapes = {}
    for line in (DATA / f"original_unet_keys_{name}.tsv").read_text().splitlines()[1:]:
        key, shape, dtype, numel = line.split("\t")
        assert dtype == "float32"
        shapes[key] = tuple(int(size) for size in shape.strip("[]").split(",") if size.strip())
        assert torch.Size(shapes[key]).numel() == int(numel)
    return shapes


def random_original_state_dict(name: str = "tiny", seed: int = 0) -> dict[str, torch.Tensor]:
    """Random float32 tensors with the names and shapes of the original layout (``name``: tiny or full on meta)."""
    generator = torch.Generator().manual_seed(seed)
    if name == "full":
        return {key: torch.empty(shape, device="meta") for key, shape in read_key_shapes(name).items()}
    return {key: torch.randn(shape, generator=generator) * 0.1 for key, shape in read_key_shapes(name).items()}


@pytest.fixture
def tiny_original_config() -> dict:
    return dict(TINY_ORIGINAL_CONFIG)


@pytest.fixture
def tiny_original_state_dict() -> dict[str, torch.Tensor]:
    """The tiny original layout with random values (fresh for each test)."""
    return random_original_state_dict("tiny")


@pytest.fixture
def full_original_meta_state_dict() -> dict[str, torch.Tensor]:
    """The release layout (1574 tensors, 1.4 B parameters) as meta tensors: shapes without memory."""
    return random_original_state_dict("full")
