"""The demo's training set in memory: synthetic clips with every condition extracted once.

Per clip (8 frames, 64x64, one object): the frames, the caption, codec motion vectors
(:class:`~condition_extractors.MotionVectorExtractor`, the extractor ``videocomposer demo`` and ``generate`` use),
Canny edges as the sketch (:class:`~condition_extractors.CannyExtractor`: PiDiNet weights cannot be downloaded here),
the generator's ground-truth z-order depth on the canonical scale (near object 10, background 0: what an 8-bit depth
image maps to in the pipeline) and the object trajectory. Masks and the local image are drawn during training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from videocomposer.data.synthetic import clip_seeds, generate_clip

from .components import NUM_FRAMES, RESOLUTION

DEPTH_SCALE = 10.0  # ground-truth depth in [0, 1] -> canonical depth in [0, 10]


@dataclass
class DemoClips:
    """Arrays over N clips: frames (N, F, H, W, 3) uint8, motion (N, F, 2, H, W) float16, sketch (N, F, H, W) uint8
    in {0, 1}, depth (N, F, H, W) float16 in [0, 10], trajectories (N, F, 2) float32, captions (N,)."""

    frames: np.ndarray
    motion: np.ndarray
    sketch: np.ndarray
    depth: np.ndarray
    trajectories: np.ndarray
    captions: list[str]

    def __len__(self) -> int:
        return len(self.captions)


def make_clips(num_clips: int, split: str = "train", seed: int = 0, with_conditions: bool = True) -> DemoClips:
    """Render ``num_clips`` one-object clips of ``split`` (seeds from :func:`clip_seeds`) and extract conditions."""
    from condition_extractors import CannyExtractor, MotionVectorExtractor

    motion_extractor, canny = MotionVectorExtractor(), CannyExtractor()
    shape = (num_clips, NUM_FRAMES, RESOLUTION, RESOLUTION)
    frames = np.zeros((*shape, 3), np.uint8)
    motion = np.zeros((num_clips, NUM_FRAMES, 2, RESOLUTION, RESOLUTION), np.float16)
    sketch = np.zeros(shape, np.uint8)
    depth = np.zeros(shape, np.float16)
    trajectories = np.zeros((num_clips, NUM_FRAMES, 2), np.float32)
    captions = []
    for i, clip_seed in enumerate(clip_seeds(split, num_clips, seed)):
        clip = generate_clip(clip_seed, NUM_FRAMES, RESOLUTION, RESOLUTION, num_objects=1)
        frames[i] = clip.frames
        depth[i] = clip.depth * DEPTH_SCALE
        trajectories[i] = clip.trajectories[0]
        captions.append(clip.caption)
        if with_conditions:
            pixels = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
            motion[i] = motion_extractor(pixels).numpy()
            sketch[i] = canny(pixels)[:, 0].numpy().astype(np.uint8)
    return DemoClips(frames, motion, sketch, depth, trajectories, captions)
