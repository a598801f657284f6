"""Frame features for FID: the FID Inception-v3 of torchmetrics (torch-fidelity's port of the TensorFlow network).

FID is the Frechet distance (:func:`videocomposer.metrics.frechet_distance`) between the 2048-d pool features of
generated and reference frames. The weights come from the user (``--inception PATH``: torch-fidelity's
``weights-inception-2015-12-05-6726825d.pth``); nothing is downloaded. Needs the ``eval`` extra (torchmetrics).
"""

from __future__ import annotations

import os

import numpy as np

from .video import as_uint8_video, model_device


class FrameFeatures:
    """``frames (N, H, W, 3)`` uint8 or float in [0, 1] -> ``(N, D)`` float64 features of ``model``.

    Args:
        model: takes uint8 ``(N, 3, H, W)`` and returns ``(N, D)`` (torchmetrics' ``NoTrainInceptionV3`` does;
            it resizes to 299 itself).
    """

    def __init__(self, model, batch_size: int = 32):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model, self.batch_size = model.eval(), batch_size

    @classmethod
    def load_inception(cls, weights: str | os.PathLike, device: str = "cpu") -> FrameFeatures:
        """torchmetrics' FID Inception-v3 (2048-d pool features) from a local ``.pth`` or ``.safetensors`` file.

        torch-fidelity unpickles its weights file without ``weights_only``; so the user's file is read here with
        ``weights_only=True`` and handed over as a tensors-only copy written to a temporary folder.
        """
        import tempfile

        import torch

        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"inception weights: no such file: {path}")
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
        except ImportError as error:
            raise ImportError(
                "FID needs torchmetrics and torch-fidelity: pip install 'videocomposer[eval]'"
            ) from error
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        with tempfile.TemporaryDirectory() as folder:
            copy = os.path.join(folder, "inception.pth")
            torch.save(state, copy)
            model = NoTrainInceptionV3(
                name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=copy
            )
        return cls(model.to(device))

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import torch

        frames = torch.from_numpy(np.ascontiguousarray(as_uint8_video(frames))).permute(0, 3, 1, 2)
        device = model_device(self.model)
        with torch.no_grad():
            parts = [self.model(chunk.to(device)).reshape(len(chunk), -1) for chunk in frames.split(self.batch_size)]
        return torch.cat(parts).double().cpu().numpy()
