"""Input checks shared by the metrics: videos are ``(F, H, W, 3)`` uint8, or float in [0, 1]."""

from __future__ import annotations

import numpy as np


def as_float_video(frames: np.ndarray, name: str = "frames", min_frames: int = 1) -> np.ndarray:
    """``(F, H, W, 3)`` float32 in [0, 1] from uint8 (divided by 255) or float in [0, 1] frames."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{name}: expected (F, H, W, 3), got {frames.shape}")
    if len(frames) < min_frames:
        raise ValueError(f"{name}: needs at least {min_frames} frames, got {len(frames)}")
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / 255.0
    if not np.issubdtype(frames.dtype, np.floating):
        raise TypeError(f"{name}: expected uint8 or float frames, got {frames.dtype}")
    if frames.size and (frames.min() < 0.0 or frames.max() > 1.0 or not np.isfinite(frames).all()):
        raise ValueError(f"{name}: float frames must lie in [0, 1], got [{frames.min():.3g}, {frames.max():.3g}]")
    return frames.astype(np.float32, copy=False)


def as_uint8_video(frames: np.ndarray, name: str = "frames", min_frames: int = 1) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 from uint8 or float-in-[0, 1] frames (rounded)."""
    frames = np.asarray(frames)
    if frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3 and len(frames) >= min_frames:
        return frames
    return (as_float_video(frames, name, min_frames) * 255.0).round().astype(np.uint8)


def model_device(model):
    """The torch device of ``model``'s first parameter; the CPU for a model without parameters (no StopIteration)."""
    import torch

    return next(iter(model.parameters()), torch.empty(0)).device


def image_batch(
    frames: np.ndarray,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    name: str = "frames",
    crop: bool = False,
):
    """Frames -> normalised ``(F, 3, size, size)`` float32 torch tensor for an image encoder.

    ``crop=True`` is CLIP's own preprocessing (OpenAI ``clip.load``'s transform, ``CLIPImageProcessor``): bicubic
    resize of the short side to ``size`` (antialiased), then a centre crop. ``crop=False`` resizes the whole frame to
    ``size x size`` (bicubic, antialiased, no crop; square frames give the same result).
    """
    import torch
    import torch.nn.functional as F
    import torchvision.transforms.functional as TF

    pixels = torch.from_numpy(np.ascontiguousarray(as_float_video(frames, name))).permute(0, 3, 1, 2)
    if crop:
        if min(pixels.shape[-2:]) != size:
            pixels = TF.resize(pixels, size, interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
        pixels = TF.center_crop(pixels, [size, size])
    elif pixels.shape[-2:] != (size, size):
        pixels = F.interpolate(pixels, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    pixels = pixels.clamp(0.0, 1.0)
    return (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
