"""Fixtures for pipeline tests: a tiny `VideoComposerPipeline`, tiny conditions and call arguments."""

from typing import Any

import pytest
import torch

from pipelines import VideoComposerPipeline

NUM_FRAMES, HEIGHT, WIDTH = 4, 32, 32
MISC = 48  # depth, sketch, masks and image at 1.5x the video size, as the original feeds them


@pytest.fixture
def pipe(tiny_components: dict[str, Any]) -> VideoComposerPipeline:
    pipe = VideoComposerPipeline(**tiny_components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make_conditions(batch: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """One tensor per pipeline condition keyword, in its canonical range and at the original's relative size."""
    g = torch.Generator().manual_seed(seed)
    motion = torch.zeros(batch, 2, NUM_FRAMES, HEIGHT, WIDTH)
    motion[..., 4::8, 4::8] = torch.randn(batch, 2, NUM_FRAMES, HEIGHT // 8, WIDTH // 8, generator=g) * 4  # sparse
    sketch = (torch.rand(batch, 1, NUM_FRAMES, MISC, MISC, generator=g) > 0.8).float()
    mask = torch.zeros(batch, 1, NUM_FRAMES, MISC, MISC)
    mask[..., 12:36, 12:36] = 1.0
    return {
        "motion_vectors": motion,
        "depth": torch.rand(batch, 1, NUM_FRAMES, MISC, MISC, generator=g) * 10,
        "sketch": sketch,
        "single_sketch": sketch[:, :, :1].expand(-1, -1, NUM_FRAMES, -1, -1).clone(),
        "masked_video": torch.rand(batch, 3, NUM_FRAMES, MISC, MISC, generator=g),
        "mask": mask,
        "image": torch.rand(batch, 3, 1, MISC, MISC, generator=g).expand(-1, -1, NUM_FRAMES, -1, -1).clone(),
    }


@pytest.fixture
def conditions() -> dict[str, torch.Tensor]:
    return make_conditions()


@pytest.fixture(name="make_conditions")
def make_conditions_fixture():
    """The factory `make_conditions(batch=1, seed=0)`."""
    return make_conditions


def call_kwargs(seed: int = 0, **overrides: Any) -> dict[str, Any]:
    """Small, seeded call arguments: 4 frames of 32x32, 2 steps, latent output."""
    kwargs = dict(
        num_frames=NUM_FRAMES,
        height=HEIGHT,
        width=WIDTH,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(seed),
        output_type="latent",
    )
    kwargs.update(overrides)
    return kwargs


@pytest.fixture(name="call_kwargs")
def call_kwargs_fixture():
    """The factory `call_kwargs(seed=0, **overrides)`."""
    return call_kwargs
