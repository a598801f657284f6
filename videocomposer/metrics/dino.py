"""Subject consistency (VBench): DINO features of each frame against the previous and the first frame.

VBench uses DINO ViT-B/16 at 224; any transformers image backbone with a CLS token works (``Dinov2Model``,
``ViTModel``; a folder or hub id, ``trust_remote_code`` off). Numbers are comparable only within one backbone.
Frames are resized whole to ``image_size`` squared (bicubic, antialiased); VBench resizes the short side to 224
(bilinear, no antialiasing) and keeps the aspect ratio: the same geometry for square videos.
"""

from __future__ import annotations

import numpy as np

from .consistency import first_and_previous_similarity
from .video import image_batch, model_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DinoEncoder:
    """CLS-token features of a transformers vision backbone (``model(pixel_values).last_hidden_state[:, 0]``)."""

    def __init__(self, model, image_size: int = 224, batch_size: int = 32):
        if image_size < 1 or batch_size < 1:
            raise ValueError(f"image_size and batch_size must be positive, got {image_size}, {batch_size}")
        self.model, self.image_size, self.batch_size = model.eval(), image_size, batch_size

    @classmethod
    def load(cls, spec: str, device: str = "cpu", image_size: int = 224) -> DinoEncoder:
        """A transformers backbone from a local folder or hub id."""
        from transformers import AutoModel

        return cls(AutoModel.from_pretrained(spec).to(device), image_size)

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        """``(F, H, W, 3)`` frames -> ``(F, D)`` float64 CLS features."""
        import torch

        pixels = image_batch(frames, self.image_size, IMAGENET_MEAN, IMAGENET_STD)
        device = model_device(self.model)
        with torch.no_grad():
            parts = [
                self.model(pixel_values=c.to(device)).last_hidden_state[:, 0] for c in pixels.split(self.batch_size)
            ]
        return torch.cat(parts).double().cpu().numpy()


def subject_consistency(frames: np.ndarray, encoder: DinoEncoder) -> float:
    """VBench subject consistency: the mean over ``t >= 1`` of
    ``(max(0, cos(f_t, f_t-1)) + max(0, cos(f_t, f_0))) / 2``."""
    return first_and_previous_similarity(encoder.encode_frames(frames))
