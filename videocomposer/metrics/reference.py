"""Full-reference metrics: a video against its reference (the clean clip), frame by frame.

- :func:`psnr`: peak signal-to-noise ratio ``10 log10(1 / MSE)`` of [0, 1] RGB values, per frame, averaged over
  frames (the video-restoration convention); with ``mask`` only the masked pixels count (PSNR inside defects).
- :func:`ssim`: structural similarity (Z. Wang, A. Bovik, H. Sheikh, E. Simoncelli, "Image Quality Assessment:
  From Error Visibility to Structural Similarity", IEEE TIP 2004): Gaussian window 11x11, sigma 1.5, K1 = 0.01,
  K2 = 0.03, data range 1, population (co)variances; the SSIM map is averaged over the pixels whose window lies
  inside the frame, per RGB channel, then over channels and frames (``skimage.metrics.structural_similarity`` with
  ``gaussian_weights=True, use_sample_covariance=False, channel_axis=-1, data_range=1``).
- :class:`Lpips`: LPIPS v0.1 (R. Zhang, P. Isola, A. Efros, E. Shechtman, O. Wang, "The Unreasonable Effectiveness
  of Deep Features as a Perceptual Metric", CVPR 2018), AlexNet variant: the ImageNet AlexNet's five ReLU outputs
  of both frames, channel-normalised, squared differences weighted by the learned 1x1 layers, averaged over space
  and summed over layers. Weights by path: the linear layers (``alex.pth`` of the ``lpips`` package v0.1) and the
  torchvision AlexNet state dict; nothing is downloaded. Lower is more similar.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from .video import as_float_video

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
ALEX_TAPS = (1, 4, 7, 9, 11)  # torchvision AlexNet ``features`` indices of the five ReLUs LPIPS reads
ALEX_CHANNELS = (64, 192, 384, 256, 256)


def _pair(frames: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames, reference = as_float_video(frames), as_float_video(reference, "reference")
    if frames.shape != reference.shape:
        raise ValueError(f"frames and reference: shapes differ, {frames.shape} vs {reference.shape}")
    return frames.astype(np.float64), reference.astype(np.float64)


def frame_psnr(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``(F,)`` PSNR in dB of each frame (inf where the frame equals the reference on the counted pixels).

    Args:
        frames, reference: ``(F, H, W, 3)`` uint8 or float in [0, 1], same shape.
        mask: optional bool ``(H, W)`` or ``(F, H, W)``: only True pixels count (all three channels).
    """
    frames, reference = _pair(frames, reference)
    squared = ((frames - reference) ** 2).mean(axis=-1)  # (F, H, W), channels averaged
    if mask is None:
        mse = squared.reshape(len(frames), -1).mean(axis=1)
    else:
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(f"mask: expected a bool array, got {mask.dtype}")
        if mask.shape not in (frames.shape[1:3], frames.shape[:3]):
            raise ValueError(f"mask: expected (H, W) or (F, H, W) = {frames.shape[:3]}, got {mask.shape}")
        mask = np.broadcast_to(mask, frames.shape[:3])
        counts = mask.reshape(len(frames), -1).sum(axis=1)
        if not counts.all():
            raise ValueError(f"mask: frames {np.flatnonzero(counts == 0).tolist()} have no masked pixel")
        mse = (squared * mask).reshape(len(frames), -1).sum(axis=1) / counts
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(1.0 / mse)


def psnr(frames: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean over frames of :func:`frame_psnr` (dB, higher is closer; inf for an exact copy)."""
    return float(frame_psnr(frames, reference, mask).mean())


def _gaussian_filter(image: np.ndarray) -> np.ndarray:
    """The 11x11 Gaussian (sigma 1.5) of ``(H, W)`` float64, only where the window lies inside the image."""
    kernel = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA, cv2.CV_64F)
    half = SSIM_WINDOW // 2
    filtered = cv2.sepFilter2D(image, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT_101)
    return filtered[half:-half, half:-half]


def frame_ssim(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(F,)`` SSIM of each frame (Wang et al. 2004, see the module docstring); frames need sides >= 11."""
    frames, reference = _pair(frames, reference)
    if min(frames.shape[1:3]) < SSIM_WINDOW:
        raise ValueError(f"frames: SSIM needs sides of at least {SSIM_WINDOW}, got {frames.shape[1:3]}")
    c1, c2 = (SSIM_K1 * 1.0) ** 2, (SSIM_K2 * 1.0) ** 2
    scores = np.empty(len(frames))
    for t in range(len(frames)):
        channels = []
        for c in range(3):
            x, y = frames[t, ..., c], reference[t, ..., c]
            mu_x, mu_y = _gaussian_filter(x), _gaussian_filter(y)
            var_x = _gaussian_filter(x * x) - mu_x**2
            var_y = _gaussian_filter(y * y) - mu_y**2
            cov = _gaussian_filter(x * y) - mu_x * mu_y
            ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
            channels.append(ssim_map.mean())
        scores[t] = np.mean(channels)
    return scores


def ssim(frames: np.ndarray, reference: np.ndarray) -> float:
    """Mean over frames of :func:`frame_ssim` (1 for an exact copy)."""
    return float(frame_ssim(frames, reference).mean())


class Lpips:
    """LPIPS v0.1 with the AlexNet backbone: ``(frames, reference) -> (F,)`` distances (see the module docstring).

    Args:
        features: torchvision ``alexnet().features`` (ImageNet weights loaded).
        linear: five ``(1, C, 1, 1)`` weight tensors of the 1x1 layers (``lin0`` ... ``lin4``).
    """

    def __init__(self, features, linear, batch_size: int = 16):
        import torch

        if len(linear) != len(ALEX_TAPS) or [w.shape[:2] for w in linear] != [(1, c) for c in ALEX_CHANNELS]:
            raise ValueError(f"linear: expected 5 weights of shape (1, C, 1, 1), C = {ALEX_CHANNELS}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.features, self.batch_size = features.eval(), batch_size
        self.linear = [torch.as_tensor(w, dtype=torch.float32).reshape(1, -1, 1, 1) for w in linear]
        self.shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
        self.scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    @classmethod
    def load(cls, linear_weights: str | os.PathLike, backbone_weights: str | os.PathLike, device: str = "cpu"):
        """From the ``lpips`` package's ``alex.pth`` (keys ``lin{k}.model.1.weight``) and a torchvision AlexNet state
        dict (``.pth`` read with ``weights_only=True``, or ``.safetensors``)."""
        import torch
        from torchvision.models import alexnet

        states = []
        for name, path in (("lpips weights", linear_weights), ("lpips backbone", backbone_weights)):
            path = os.fspath(path)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{name}: no such file: {path}")
            if path.endswith(".safetensors"):
                from safetensors.torch import load_file

                states.append(load_file(path))
            else:
                states.append(torch.load(path, map_location="cpu", weights_only=True))
        linear_state, backbone_state = states
        keys = [f"lin{k}.model.1.weight" for k in range(5)]
        if not all(k in linear_state for k in keys):
            raise ValueError(f"lpips weights: {linear_weights} lacks the keys {keys} of the lpips package's alex.pth")
        model = alexnet(weights=None)
        try:
            model.load_state_dict(backbone_state)
        except RuntimeError as error:
            raise ValueError(f"lpips backbone: {backbone_weights} is not a torchvision AlexNet state dict") from error
        lpips = cls(model.features.to(device), [linear_state[k] for k in keys])
        lpips.linear = [w.to(device) for w in lpips.linear]
        lpips.shift, lpips.scale = lpips.shift.to(device), lpips.scale.to(device)
        return lpips

    def __call__(self, frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
        import torch

        frames, reference = _pair(frames, reference)
        device = self.shift.device
        distances = []
        for start in range(0, len(frames), self.batch_size):
            batch = [
                torch.from_numpy(x[start : start + self.batch_size]).float().permute(0, 3, 1, 2).to(device)
                for x in (frames, reference)
            ]
            taps = [self._taps((x * 2.0 - 1.0 - self.shift) / self.scale) for x in batch]
            total = 0.0
            for a, b, weight in zip(*taps, self.linear):
                a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
                b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
                total = total + ((a - b) ** 2 * weight).sum(dim=1).mean(dim=(1, 2))
            distances.append(total.double().cpu())
        return torch.cat(distances).numpy()

    def _taps(self, x):
        import torch

        outputs = []
        with torch.no_grad():
            for index, layer in enumerate(self.features):
                x = layer(x)
                if index in ALEX_TAPS:
                    outputs.append(x.clone())
                if index == ALEX_TAPS[-1]:
                    break
        return outputs
