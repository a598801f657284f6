"""The demo's training set in memory: synthetic clips with every condition extracted once.

Per clip (8 frames, 64x64, one object): the frames, the caption, codec motion vectors
(:class:`~condition_extractors.MotionVectorExtractor`, the extractor ``videocomposer demo`` and ``generate`` use),
Canny edges as the sketch (:class:`~condition_extractors.CannyExtractor` with ``SKETCH_CANNY_THRESHOLDS``: PiDiNet
weights cannot be downloaded here),
the generator's ground-truth z-order depth on the canonical scale (near object 10, background 0: what an 8-bit depth
image maps to in the pipeline) and the object trajectory. Masks and the local image are drawn during training.

Sizes follow ``extract_conditions``: motion vectors at the video size, every other condition at 1.5x (96x96) from
frames resized the same way (``resize_center_crop``), so the model sees at training what the extractors give it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from videocomposer.data.synthetic import clip_seeds, generate_clip
from videocomposer.motion.render import render_motion_field
from videocomposer.motion.strokes import DEFAULT_RADIUS

from .components import NUM_FRAMES, RESOLUTION, SKETCH_CANNY_THRESHOLDS

DEPTH_SCALE = 10.0  # ground-truth depth in [0, 1] -> canonical depth in [0, 10]
CONDITION_SIZE = round(1.5 * RESOLUTION)  # extract_conditions' size for all conditions but motion


@dataclass
class DemoClips:
    """Arrays over N clips: frames (N, F, H, W, 3) uint8, motion (N, F, 2, H, W) float16 (codec vectors),
    stroke_motion (N, F, 2, H, W) float16 (the ground-truth trajectory rendered as a hand-drawn stroke would be,
    ``render_motion_field`` with the default stroke radius); at the condition size S:
    condition_frames (N, F, S, S, 3) uint8, sketch (N, F, S, S) uint8 in {0, 1}, depth (N, F, S, S) float16 in
    [0, 10]; trajectories (N, F, 2) float32, captions (N,)."""

    frames: np.ndarray
    condition_frames: np.ndarray
    motion: np.ndarray
    stroke_motion: np.ndarray
    sketch: np.ndarray
    depth: np.ndarray
    trajectories: np.ndarray
    captions: list[str]

    def __len__(self) -> int:
        return len(self.captions)


def make_clips(num_clips: int, split: str = "train", seed: int = 0, with_conditions: bool = True) -> DemoClips:
    """Render ``num_clips`` one-object clips of ``split`` (seeds from :func:`clip_seeds`) and extract conditions."""
    from condition_extractors import CannyExtractor, MotionVectorExtractor, resize_center_crop

    motion_extractor, canny = MotionVectorExtractor(), CannyExtractor(*SKETCH_CANNY_THRESHOLDS)
    shape = (num_clips, NUM_FRAMES, CONDITION_SIZE, CONDITION_SIZE)
    frames = np.zeros((num_clips, NUM_FRAMES, RESOLUTION, RESOLUTION, 3), np.uint8)
    condition_frames = np.zeros((*shape, 3), np.uint8)
    motion = np.zeros((num_clips, NUM_FRAMES, 2, RESOLUTION, RESOLUTION), np.float16)
    stroke_motion = np.zeros_like(motion)
    sketch = np.zeros(shape, np.uint8)
    depth = np.zeros(shape, np.float16)
    trajectories = np.zeros((num_clips, NUM_FRAMES, 2), np.float32)
    captions = []
    for i, clip_seed in enumerate(clip_seeds(split, num_clips, seed)):
        clip = generate_clip(clip_seed, NUM_FRAMES, RESOLUTION, RESOLUTION, num_objects=1)
        frames[i] = clip.frames
        trajectories[i] = clip.trajectories[0]
        captions.append(clip.caption)
        if with_conditions:
            pixels = torch.from_numpy(clip.frames).permute(0, 3, 1, 2)
            motion[i] = motion_extractor(pixels.float() / 255.0).numpy()
            field = render_motion_field(clip.trajectories, [DEFAULT_RADIUS], RESOLUTION, RESOLUTION)  # (2, F, H, W)
            stroke_motion[i] = field.transpose(1, 0, 2, 3)
            resized = resize_center_crop(pixels, CONDITION_SIZE, CONDITION_SIZE)  # float in [0, 1]
            condition_frames[i] = resized.mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            sketch[i] = canny(resized)[:, 0].numpy().astype(np.uint8)
            gt_depth = torch.from_numpy(clip.depth)[:, None]
            depth[i] = F.interpolate(gt_depth, size=shape[2:], mode="bilinear")[:, 0].numpy() * DEPTH_SCALE
    return DemoClips(frames, condition_frames, motion, stroke_motion, sketch, depth, trajectories, captions)
