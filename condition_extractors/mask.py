"""Inpainting masks: the original's random irregular / rectangle / uncrop masks, or a user mask.

The original (``artist/ops/random_mask.py``, ``datasets.py``) draws one mask per clip at 512², 70% irregular strokes,
20% rectangles, 10% half-frame uncrop, resizes it (nearest) to 384² and uses it for every frame. Here the same
distributions are drawn from a seeded ``numpy.random.Generator``.

Output convention (the two pipeline keyword arguments, both in [0, 1]): ``mask`` is 1 in the hole, 0 where the video
is kept; ``masked_video`` is the video in [0, 1] with the hole set to 0, ``video * (1 - mask)``. The pipeline builds
the STC's 4-channel input ``cat((2 * masked_video - 1) * (1 - mask), 1 - mask)``, which equals the original's
``cat(video * (1 - m) in [-1, 1], 1 - m)`` (the hole is 0 either way).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from .base import ConditionExtractor, register_extractor
from .image import open_image_file
from .video import resize_crop_geometry

MASK_SIZE = 512
# the original's mix of random masks
MODE_PROBABILITIES = {"irregular": 0.7, "rectangle": 0.2, "uncrop": 0.1}

MaskInput = str | os.PathLike | PIL.Image.Image | np.ndarray | torch.Tensor | Sequence


def irregular_mask(
    rng: np.random.Generator,
    height: int = MASK_SIZE,
    width: int = MASK_SIZE,
    max_angle: int = 4,
    max_length: int = 200,
    max_width: int = 100,
    max_strokes: int = 5,
) -> np.ndarray:
    """1..max_strokes polylines of 1..5 thick segments (the original's distribution), float32 {0, 1}."""
    mask = np.zeros((height, width), np.float32)
    for stroke in range(rng.integers(1, max_strokes + 1)):
        x, y = int(rng.integers(width)), int(rng.integers(height))
        for _ in range(1 + rng.integers(5)):
            angle = 0.01 + rng.integers(max_angle)
            if stroke % 2 == 0:
                angle = 2 * np.pi - angle
            length = 10 + rng.integers(max_length)
            thickness = int(5 + rng.integers(max_width))
            x_end = int(np.clip(x + length * np.sin(angle), 0, width))
            y_end = int(np.clip(y + length * np.cos(angle), 0, height))
            cv2.line(mask, (x, y), (x_end, y_end), 1.0, thickness)
            x, y = x_end, y_end
    return mask


def rectangle_mask(
    rng: np.random.Generator,
    height: int = MASK_SIZE,
    width: int = MASK_SIZE,
    margin: int = 10,
    min_size: int = 30,
    max_size: int = 150,
    max_boxes: int = 4,
) -> np.ndarray:
    """1..max_boxes axis-aligned boxes of side in [min_size, max_size) inside a margin, float32 {0, 1}."""
    mask = np.zeros((height, width), np.float32)
    for _ in range(rng.integers(1, max_boxes + 1)):
        box_w, box_h = int(rng.integers(min_size, max_size)), int(rng.integers(min_size, max_size))
        left = int(rng.integers(margin, width - margin - box_w + 1))
        top = int(rng.integers(margin, height - margin - box_h + 1))
        mask[top : top + box_h, left : left + box_w] = 1.0
    return mask


def uncrop_mask(rng: np.random.Generator, height: int = MASK_SIZE, width: int = MASK_SIZE) -> np.ndarray:
    """One half of the frame (top, bottom, left or right, equally likely) is the hole, float32 {0, 1}."""
    mask = np.zeros((height, width), np.float32)
    halves = (np.s_[: height // 2], np.s_[height // 2 :], np.s_[:, : width // 2], np.s_[:, width // 2 :])
    mask[halves[rng.integers(4)]] = 1.0
    return mask


MASK_MAKERS = {"irregular": irregular_mask, "rectangle": rectangle_mask, "uncrop": uncrop_mask}


def _binary(values: np.ndarray, name: str) -> np.ndarray:
    """bool, uint8 (> 127 = hole) or float in [0, 1] (> 0.5 = hole) -> float32 {0, 1}."""
    if values.dtype == np.bool_:
        return values.astype(np.float32)
    if values.dtype == np.uint8:
        return (values > 127).astype(np.float32)
    if not np.issubdtype(values.dtype, np.floating):
        raise TypeError(f"{name}: mask values must be bool, uint8 or float in [0, 1], got {values.dtype}")
    if values.min() < 0.0 or values.max() > 1.0:  # never empty: _one_mask refused that
        raise ValueError(f"{name}: float mask values must lie in [0, 1], got [{values.min():.3g}, {values.max():.3g}]")
    return (values > 0.5).astype(np.float32)


def _one_mask(item, name: str) -> np.ndarray:
    """A path, PIL image, ``(H, W)`` array / tensor -> float32 ``(H, W)`` {0, 1}."""
    if isinstance(item, (str, os.PathLike)):
        item = open_image_file(item, "L", name)
    if isinstance(item, PIL.Image.Image):
        item = np.asarray(item.convert("L"))
    if isinstance(item, torch.Tensor):
        item = item.detach().cpu().numpy()
    if not isinstance(item, np.ndarray):
        raise TypeError(f"{name}: expected a path, PIL image, array or tensor, got {type(item).__name__}")
    if item.ndim != 2 or 0 in item.shape:
        raise ValueError(f"{name}: a mask must be (H, W), got shape {item.shape}")
    return _binary(item, name)


def user_masks(mask: MaskInput) -> torch.Tensor:
    """One mask (path, PIL image, ``(H, W)``) or a per-frame sequence (``(F, H, W)`` array / tensor, list of masks)
    -> float32 ``(M, 1, H, W)`` in {0, 1}, 1 = hole."""
    if isinstance(mask, (list, tuple)) or (isinstance(mask, (np.ndarray, torch.Tensor)) and mask.ndim == 3):
        items = list(mask)
    else:
        items = [mask]
    if not items:
        raise ValueError("mask: an empty sequence")
    arrays = [_one_mask(item, f"mask[{index}]" if len(items) > 1 else "mask") for index, item in enumerate(items)]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"mask: per-frame masks must share one size, got {sorted({a.shape for a in arrays})}")
    return torch.from_numpy(np.stack(arrays)).unsqueeze(1)


@register_extractor
class MaskGenerator(ConditionExtractor):
    """``(F, 4, H, W)`` = ``cat(masked_video, mask)``, split into the pipeline's ``masked_video`` and ``mask``.

    Args:
        mode: ``"random"`` (70% irregular, 20% rectangle, 10% uncrop, as the original), or one of ``"irregular"``,
            ``"rectangle"``, ``"uncrop"``. Random masks are drawn at 512², resized (nearest) to the frame size and
            shared by all frames.
        mask: a user mask instead: one mask (image file, PIL image, ``(H, W)`` array or tensor) for every frame, or
            one per frame (``(F, H, W)`` or a list). White / 1 / True = hole (uint8 > 127, float > 0.5). It gets the
            frames' short-side resize + centre crop (nearest), so draw it on the source video's frame.
        seed: seed of the random masks (each call draws the next mask of the seeded sequence).
    """

    name = "mask"

    def __init__(self, mode: str = "random", mask: MaskInput | None = None, seed: int | None = None):
        if mode != "random" and mode not in MASK_MAKERS:
            raise ValueError(f"mode must be 'random' or one of {sorted(MASK_MAKERS)}, got {mode!r}")
        if mask is not None and mode != "random":
            raise ValueError(f"give either a user mask or mode={mode!r}, not both")
        self.mode = mode
        self.masks = None if mask is None else user_masks(mask)
        self.rng = np.random.default_rng(seed)

    def draw(self) -> torch.Tensor:
        """Next random mask, ``(1, 1, 512, 512)`` float32 {0, 1}."""
        mode = self.mode
        if mode == "random":
            mode = self.rng.choice(list(MODE_PROBABILITIES), p=list(MODE_PROBABILITIES.values()))
        return torch.from_numpy(MASK_MAKERS[mode](self.rng))[None, None]

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        num_frames, _, height, width = frames.shape
        if self.masks is None:
            masks = F.interpolate(self.draw(), size=(height, width), mode="nearest")
        else:
            if len(self.masks) not in (1, num_frames):
                raise ValueError(f"mask: {len(self.masks)} per-frame masks given for {num_frames} frames")
            resized_height, resized_width, top, left = resize_crop_geometry(*self.masks.shape[2:], height, width)
            masks = F.interpolate(self.masks, size=(resized_height, resized_width), mode="nearest")
            masks = masks[:, :, top : top + height, left : left + width]
        masks = masks.to(frames.device).expand(num_frames, -1, -1, -1)
        masked_video = frames * (1.0 - masks)
        return torch.cat([masked_video, masks], dim=1)
