"""Video features for FVD: StyleGAN-V's I3D TorchScript, or a torchvision R(2+1)D / R3D video classifier.

FVD is the Frechet distance (:func:`videocomposer.metrics.frechet_distance`) between the feature statistics of
generated and reference clips. Its value depends on the feature extractor, the clip length (StyleGAN-V: 16 and 128
frames), the resolution and the number of clips: numbers are comparable only when all of these are the same, and
never between I3D and a torchvision network.

- I3D (StyleGAN-V's protocol, I. Skorokhodov et al., CVPR 2022, ``src/metrics/frechet_video_distance.py``): the
  ``i3d_torchscript.pt`` file StyleGAN-V uses (a TorchScript file runs code: load only files you trust). Clips
  ``(N, 3, T, H, W)`` of [0, 255] values at their own size, called as StyleGAN-V calls it, ``rescale=True,
  resize=True, return_features=True``: the detector itself rescales to [-1, 1] and resizes to 224x224, so the
  resize is exactly the reference's; 400-d logit-layer features.
- torchvision (``r3d_18:PATH``, ``r2plus1d_18:PATH``, ``mc3_18:PATH``): the Kinetics-400 classifier with its head
  removed (512-d), input 112x112 normalised with Kinetics statistics; ``PATH`` is its state dict.
"""

from __future__ import annotations

import os

import numpy as np

from .video import as_float_video, as_uint8_video, model_device

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
TORCHVISION_VIDEO_MODELS = ("r3d_18", "r2plus1d_18", "mc3_18")


class VideoFeatures:
    """``clips (N, T, H, W, 3)`` uint8 or float in [0, 1] -> ``(N, D)`` float64 features.

    Args:
        model: I3D TorchScript (``kind="i3d"``) or a torchvision video network without head (``kind="torchvision"``).
    """

    def __init__(self, model, kind: str, batch_size: int = 4):
        if kind not in ("i3d", "torchvision"):
            raise ValueError(f"kind: expected 'i3d' or 'torchvision', got {kind!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model, self.kind, self.batch_size = model.eval(), kind, batch_size
        self.size = 224 if kind == "i3d" else 112

    @classmethod
    def load(cls, spec: str, device: str = "cpu") -> VideoFeatures:
        """``ARCH:PATH`` for a torchvision network (``r3d_18``, ``r2plus1d_18``, ``mc3_18``), else an I3D TorchScript
        file path."""
        import torch

        arch, _, path = spec.partition(":")
        if arch in TORCHVISION_VIDEO_MODELS:
            import torchvision.models.video as video_models

            if not os.path.isfile(path):
                raise FileNotFoundError(f"video model {arch}: no such weights file: {path}")
            model = getattr(video_models, arch)(weights=None)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            model.fc = torch.nn.Identity()
            return cls(model.to(device), "torchvision")
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"i3d model: no such TorchScript file: {spec}")
        return cls(torch.jit.load(spec, map_location=device), "i3d")

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        clips = np.asarray(clips)
        if clips.ndim != 5:
            raise ValueError(f"clips: expected (N, T, H, W, 3), got shape {clips.shape}")
        if self.kind == "i3d":  # uint8 values as floats: the detector rescales and resizes itself (StyleGAN-V)
            pixels = torch.from_numpy(np.stack([as_uint8_video(clip, "clips") for clip in clips])).float()
        else:
            pixels = torch.from_numpy(np.stack([as_float_video(clip, "clips") for clip in clips]))
        n, t = pixels.shape[:2]
        frames = pixels.reshape(n * t, *pixels.shape[2:]).permute(0, 3, 1, 2)
        if self.kind == "torchvision":
            frames = F.interpolate(frames, size=(self.size, self.size), mode="bilinear", antialias=True)
            mean, std = torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1), torch.tensor(KINETICS_STD).view(1, 3, 1, 1)
            frames = (frames - mean) / std
        videos = frames.reshape(n, t, 3, *frames.shape[-2:]).permute(0, 2, 1, 3, 4).contiguous()
        device = model_device(self.model)
        features = []
        with torch.no_grad():
            for batch in videos.split(self.batch_size):
                batch = batch.to(device)
                if self.kind == "i3d":
                    out = self.model(batch, rescale=True, resize=True, return_features=True)
                else:
                    out = self.model(batch)
                features.append(out.reshape(len(batch), -1).double().cpu())
        return torch.cat(features).numpy()
