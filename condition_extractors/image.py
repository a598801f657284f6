"""Single-image condition (``local_image``): one image in [0, 1] repeated over the frames, as the original."""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import torch

from .base import ConditionExtractor, register_extractor
from .video import frames_to_uint8, resize_center_crop

ImageInput = str | os.PathLike | PIL.Image.Image | np.ndarray | torch.Tensor


def open_image_file(path: str | os.PathLike, mode: str, name: str) -> PIL.Image.Image:
    """Read an image file in PIL ``mode``; a missing or unreadable file is a ValueError naming ``name``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{name}={path!r}: no such file")
    try:
        with PIL.Image.open(path) as opened:
            return opened.convert(mode)
    except (OSError, PIL.UnidentifiedImageError, SyntaxError) as error:
        raise ValueError(f"{name}={path!r}: not a readable image ({error})") from None


def load_image(image: ImageInput, height: int, width: int, name: str = "image") -> torch.Tensor:
    """An image file, PIL image, ``(H, W, 3)`` array or ``(3, H, W)`` tensor (uint8, or float in [0, 1]) ->
    ``(3, height, width)`` float in [0, 1], short side resized (antialiased) and centre-cropped."""
    if isinstance(image, (str, os.PathLike)):
        image = open_image_file(image, "RGB", name)
    if isinstance(image, PIL.Image.Image):
        batch = [image]
    elif isinstance(image, (np.ndarray, torch.Tensor)):
        batch = image[None]
    else:
        raise TypeError(f"{name}: expected a path, PIL image, numpy array or tensor, got {type(image).__name__}")
    return resize_center_crop(frames_to_uint8(batch, name), height, width)[0]


@register_extractor
class ImageExtractor(ConditionExtractor):
    """``(F, 3, H, W)``: ``image`` (or, when ``None``, the first video frame) in [0, 1], repeated over the frames."""

    name = "image"

    def __init__(self, image: ImageInput | None = None):
        if image is not None and not isinstance(image, ImageInput):
            raise TypeError(f"image: expected a path, PIL image, numpy array or tensor, got {type(image).__name__}")
        self.image = image

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        first = frames[0] if self.image is None else load_image(self.image, *frames.shape[2:]).to(frames.device)
        return first.unsqueeze(0).expand(frames.shape[0], -1, -1, -1).float().clone()
