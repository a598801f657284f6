"""A moving textured clip with known defects: the ground truth the restoration tests check against."""

import cv2
import numpy as np
import pytest


def moving_texture(
    num_frames: int = 8, height: int = 64, width: int = 80, shift: int = 1, seed: int = 0
) -> np.ndarray:
    """uint8 `(F, H, W, 3)`: a smooth random texture panning `shift` px to the right per frame."""
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(40, 215, (height, width + shift * num_frames, 3)).astype(np.float32), (0, 0), 2)
    big = (big - big.mean()) * 2.5 + 128
    frames = [big[:, shift * (num_frames - i) : shift * (num_frames - i) + width] for i in range(num_frames)]
    return np.clip(np.stack(frames), 0, 255).round().astype(np.uint8)


def with_defects(clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clip with one dark blotch in frame 2, one bright speck in frame 5 and a bright vertical scratch over every
    frame at column 50; returns `(damaged, true masks)`."""
    damaged = clean.copy()
    masks = np.zeros(clean.shape[:3], bool)
    cv2.circle(masks[2].view(np.uint8), (20, 30), 4, 1, -1)
    masks[5, 10:12, 60:62] = True
    masks[:, 8:56, 50] = True
    damaged[2][masks[2]] = 10
    damaged[5, 10:12, 60:62] = 250
    damaged[:, 8:56, 50] = 245
    return damaged, masks


@pytest.fixture
def clean() -> np.ndarray:
    return moving_texture()
