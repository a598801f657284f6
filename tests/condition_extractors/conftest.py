"""Videos written by the tests with PyAV, and tiny random depth / edge networks (offline, milliseconds)."""

from collections.abc import Callable

import av
import numpy as np
import pytest
import torch


def write_video(path, frames: np.ndarray, fps: int = 8, codec: str = "libx264", options: dict | None = None) -> str:
    """Encode uint8 ``(F, H, W, 3)`` frames to ``path`` with PyAV; returns the path as a string."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def counter_frames(num_frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Frame ``i`` is uniformly red = 5 * i, so a decoded frame tells its index."""
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    frames[..., 0] = (np.arange(num_frames) * 5).astype(np.uint8)[:, None, None]
    return frames


def moving_square(
    num_frames: int, size: int = 128, velocity: tuple[int, int] = (3, 2), square: int = 64, start=(16, 16)
) -> np.ndarray:
    """A smoothly textured square moving ``velocity`` px per frame over a static smooth background."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    background = np.stack([60 + 40 * np.sin(xx / 23.0), 80 + 40 * np.cos(yy / 29.0), 90 + 0 * xx], axis=-1)
    sy, sx = np.mgrid[0:square, 0:square].astype(np.float32)
    texture = np.stack(
        [180 + 60 * np.sin(sx / 5.0) * np.cos(sy / 7.0), 120 + 80 * np.cos(sx / 9.0 + sy / 6.0), 200 - sx], axis=-1
    )
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        frame = background.copy()
        x0, y0 = start[0] + velocity[0] * t, start[1] + velocity[1] * t
        frame[y0 : y0 + square, x0 : x0 + square] = texture
        frames[t] = frame.clip(0, 255).astype(np.uint8)
    return frames


@pytest.fixture
def video_writer() -> Callable:
    return write_video


@pytest.fixture
def tiny_dpt() -> torch.nn.Module:
    from transformers import DPTConfig, DPTForDepthEstimation

    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=64,
        patch_size=16,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        reassemble_factors=[4, 2, 1, 0.5],
        is_hybrid=False,
        head_in_index=-1,
    )
    return DPTForDepthEstimation(config).eval()


@pytest.fixture
def tiny_pidinet() -> torch.nn.Module:
    from controlnet_aux.pidi.model import pidinet

    torch.manual_seed(0)
    return pidinet().eval()


@pytest.fixture
def square_frames() -> Callable:
    return moving_square


@pytest.fixture
def counter_video(tmp_path) -> str:
    """5 s at 8 fps (40 frames, 64x48) whose frame i has red = 5 * i."""
    return write_video(tmp_path / "counter.mp4", counter_frames(40))


@pytest.fixture
def indexed_frames() -> Callable:
    return counter_frames
