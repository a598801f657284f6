"""Optical flow with torchvision RAFT (user-provided weights) and VBench's dynamic degree.

:class:`RaftFlow` is a ``flow_fn`` for :func:`videocomposer.metrics.motion.flow_error` and
:func:`videocomposer.metrics.warping.warping_error` (Z. Teed, J. Deng, "RAFT: Recurrent All-Pairs Field Transforms
for Optical Flow", ECCV 2020), 20 refinement iterations as VBench runs it.

Dynamic degree (Z. Huang et al., "VBench", CVPR 2024, ``dynamic_degree.py``): the video's frames are first
subsampled every ``max(1, round(fps / 8))`` frames (:func:`dynamic_interval`; at 12 fps or less every frame is kept);
a pair's motion is the mean of its top 5 % flow magnitudes; a video is dynamic when at least
``round(4 * n / 16)`` pairs (``n`` = subsampled frames, Python's round) exceed ``6 * min(H, W) / 256`` pixels. The
dynamic degree of a set is the fraction of dynamic videos.
"""

from __future__ import annotations

import os

import numpy as np

from .video import as_uint8_video, model_device

MIN_SIZE = 128  # RAFT's correlation pyramid needs 128-pixel sides


class RaftFlow:
    """``(frames_a, frames_b) -> (N, H, W, 2)`` flows with ``a(p) ~ b(p + flow(p))`` from a torchvision RAFT model.

    RAFT needs sides of at least 128 and multiples of 8: smaller frames are upscaled (bilinear) so the short side is
    128 and the flow is brought back to the frames' size and pixel units; then sides are padded (edge-replicated)
    to multiples of 8 and the flow cropped back.
    """

    def __init__(self, model, batch_size: int = 8, num_flow_updates: int = 20):
        if batch_size < 1 or num_flow_updates < 1:
            raise ValueError(f"batch_size and num_flow_updates must be positive, got {batch_size}, {num_flow_updates}")
        self.model, self.batch_size, self.num_flow_updates = model.eval(), batch_size, num_flow_updates

    @classmethod
    def load(cls, weights: str | os.PathLike, device: str = "cpu") -> RaftFlow:
        """RAFT from a state-dict file (``.pth`` read with ``weights_only=True``, or ``.safetensors``); the
        architecture (``raft_large`` or ``raft_small``) is the one whose keys the file matches."""
        import torch
        from torchvision.models.optical_flow import raft_large, raft_small

        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"raft weights: no such file: {path}")
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        for build in (raft_large, raft_small):
            model = build(weights=None)
            if set(model.state_dict()) == set(state):
                model.load_state_dict(state)
                return cls(model.to(device))
        raise ValueError(f"raft weights: {path} matches neither torchvision raft_large nor raft_small")

    def __call__(self, frames_a: np.ndarray, frames_b: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        a, b = as_uint8_video(frames_a, "frames_a"), as_uint8_video(frames_b, "frames_b")
        if a.shape != b.shape:
            raise ValueError(f"frames_a and frames_b: shapes differ, {a.shape} vs {b.shape}")
        height, width = a.shape[1:3]
        scale = max(1.0, MIN_SIZE / min(height, width))
        size = (round(height * scale), round(width * scale))
        pad = (0, -size[1] % 8, 0, -size[0] % 8)
        device = model_device(self.model)

        def prepare(x: np.ndarray) -> torch.Tensor:
            pixels = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            if scale > 1.0:
                pixels = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False)
            return F.pad(pixels, pad, "replicate").to(device)

        flows = []
        for start in range(0, len(a), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            with torch.no_grad():
                flow = self.model(prepare(a[chunk]), prepare(b[chunk]), num_flow_updates=self.num_flow_updates)[-1]
            flow = flow[:, :, : size[0], : size[1]].float()
            if scale > 1.0:  # back to the frames' pixels: resample the field and shrink the vectors
                flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
                flow = flow * torch.tensor([width / size[1], height / size[0]]).view(1, 2, 1, 1)
            flows.append(flow.permute(0, 2, 3, 1).cpu().numpy())
        return np.concatenate(flows)


def dynamic_interval(fps: float) -> int:
    """VBench's frame step before dynamic degree: ``max(1, round(fps / 8))`` (about 8 fps kept)."""
    if not fps > 0:
        raise ValueError(f"fps: expected a positive frame rate, got {fps}")
    return max(1, round(fps / 8))


def pair_motion(flows: np.ndarray) -> np.ndarray:
    """``(N,)`` VBench per-pair motion: the mean of the top 5 % (``int(H * W * 0.05)`` pixels) flow magnitudes."""
    flows = np.asarray(flows, dtype=np.float64)
    if flows.ndim != 4 or flows.shape[-1] != 2 or len(flows) == 0:
        raise ValueError(f"flows: expected (N, H, W, 2) with N >= 1, got shape {flows.shape}")
    magnitude = np.linalg.norm(flows, axis=-1).reshape(len(flows), -1)
    top = max(1, int(magnitude.shape[1] * 0.05))
    return np.sort(magnitude, axis=1)[:, -top:].mean(axis=1)


def dynamic_decision(motion: np.ndarray, num_frames: int, height: int, width: int) -> bool:
    """VBench's ``check_move``: at least ``round(4 * num_frames / 16)`` pair motions above ``6 * min(H, W) / 256``."""
    threshold = 6.0 * min(height, width) / 256.0
    return int((np.asarray(motion) > threshold).sum()) >= round(4 * num_frames / 16.0)


def is_dynamic(flows: np.ndarray) -> bool:
    """VBench's dynamic-degree decision for one (already subsampled) video from its ``(F - 1, H, W, 2)`` flows."""
    motion = pair_motion(flows)
    return dynamic_decision(motion, len(motion) + 1, *np.shape(flows)[1:3])
