"""Canny edges with OpenCV: a weight-free stand-in for the sketch condition.

The released model was trained on PiDiNet + sketch-simplification strokes, which are thinner, cleaner and less
texture-sensitive than Canny edges: Canny maps are a *different distribution* from the training sketches, so expect
weaker or noisier sketch control than with ``SketchExtractor``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .base import ConditionExtractor, register_extractor


@register_extractor
class CannyExtractor(ConditionExtractor):
    """``(F, 1, H, W)`` binary Canny edges in {0, 1} (bright edges on dark), fed to the ``sketch`` condition."""

    name = "canny"

    def __init__(self, low_threshold: int = 100, high_threshold: int = 200):
        if not 0 <= low_threshold <= high_threshold:
            raise ValueError(f"need 0 <= low_threshold <= high_threshold, got {low_threshold}, {high_threshold}")
        self.low_threshold = low_threshold
        self.high_threshold = high_threshold

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        pixels = frames.mul(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        edges = [
            cv2.Canny(
                cv2.cvtColor(np.ascontiguousarray(p), cv2.COLOR_RGB2GRAY), self.low_threshold, self.high_threshold
            )
            for p in pixels
        ]
        return torch.from_numpy(np.stack(edges)).unsqueeze(1).float() / 255.0
