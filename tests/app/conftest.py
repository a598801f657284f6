"""Clips for the app tests: a synthetic moving-shape clip written as a real mp4, a still image, a corrupt file."""

import os

import numpy as np
import PIL.Image
import pytest

from videocomposer.data.synthetic import encode_mp4, generate_clip


@pytest.fixture(scope="session")
def clip_frames() -> np.ndarray:
    return generate_clip(3, 8, 48, 64, num_objects=1).frames  # (8, 48, 64, 3) uint8


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory, clip_frames) -> str:
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    path.write_bytes(encode_mp4(clip_frames, fps=4))
    return str(path)


@pytest.fixture
def still_path(tmp_path) -> str:
    path = tmp_path / "still.png"
    PIL.Image.fromarray(np.full((30, 40, 3), (200, 30, 30), np.uint8)).save(path)
    return str(path)


@pytest.fixture
def corrupt_path(tmp_path) -> str:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(1500))
    return str(path)
