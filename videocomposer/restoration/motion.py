"""Motion between frames for restoration: dense Farneback flow or codec motion vectors, warping, consistency.

A flow `(H, W, 2)` from frame A to frame B says where each pixel of A is in B: `A(x) ~ B(x + flow(x))`, so
`warp(B, flow)` is B motion-compensated onto A.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..metrics.warping import warp

METHODS = ("farneback", "codec")


def luminance(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB `(..., H, W, 3)` -> float32 luma (BT.601) on [0, 255]."""
    return frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def farneback_flow(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
    """Dense flow A -> B of two float luma frames. Both are median-filtered first, so that dust and thin scratches,
    which are the defects to find, do not pull the flow."""
    a = cv2.medianBlur(np.clip(frame_a, 0, 255).astype(np.uint8), 5)
    b = cv2.medianBlur(np.clip(frame_b, 0, 255).astype(np.uint8), 5)
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 21, 3, 7, 1.5, 0)


def codec_flows(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block flows of every frame to its previous and to its next frame from MPEG-4 motion vectors (the codec
    VideoComposer's motion condition uses): the clip is encoded forward (vectors to the previous frame) and reversed
    (vectors to the next frame), each 16x16 block gets its vector. Returns `(backward, forward)`, each `(F, H, W, 2)`;
    a frame without a vector there (the first / last frame, intra blocks) gets zero motion."""
    import torch

    from condition_extractors.motion_vectors import MotionVectorExtractor, rgb_to_yuv420p, vectors_of_frame

    extractor = MotionVectorExtractor(mode="reencode", bit_rate=20_000_000, gop_size=10_000)
    height, width = frames.shape[1:3]

    def flows(ordered: np.ndarray) -> np.ndarray:
        decoded = extractor._encode_decode(rgb_to_yuv420p(torch.from_numpy(ordered).permute(0, 3, 1, 2)), 25.0)
        out = np.zeros((len(ordered), height, width, 2), np.float32)
        for index, frame in enumerate(decoded):
            dst, displacement = vectors_of_frame(frame)
            for (x, y), d in zip(dst, displacement):
                # displacement = dst - src (previous frame -> this one): this pixel is at x - d in the previous frame
                out[index, max(0, y - 8) : y + 8, max(0, x - 8) : x + 8] = -d
        return out

    backward = flows(frames)
    forward = flows(np.ascontiguousarray(frames[::-1]))[::-1]
    return backward, np.ascontiguousarray(forward)


def consistent(flow_ab: np.ndarray, flow_ba: np.ndarray, tolerance: float = 1.0) -> np.ndarray:
    """Forward-backward check: going A -> B along `flow_ab` and back along `flow_ba` lands within `tolerance` px
    (+5% of the motion) of the start. Boolean `(H, W)` on A; also False where the flow leaves the frame."""
    back = warp(flow_ba, flow_ab)
    error = np.linalg.norm(flow_ab + back, axis=-1)
    magnitude = np.linalg.norm(flow_ab, axis=-1) + np.linalg.norm(back, axis=-1)
    height, width = flow_ab.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width), np.arange(height))
    x, y = grid_x + flow_ab[..., 0], grid_y + flow_ab[..., 1]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    return (error <= tolerance + 0.05 * magnitude) & inside
