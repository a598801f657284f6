"""PiDiNet sketches (through controlnet_aux), with the original's optional sketch-simplification step.

The original: ``pidinet_bsd`` (PiDiNet carv4, 60 channels, dil 24, attention; the BSDS ``table5_pidinet.pth``) on the
384² frame normalised with ImageNet mean/std, sigmoid edge map, then ``sketch = 1 - cleaner(1 - edges)`` with the
Simo-Serra sketch-simplification GAN. Result: bright strokes on dark, [0, 1].
"""

from __future__ import annotations

import os

import torch
import torchvision.transforms.functional as TF

from .base import ConditionExtractor, register_extractor
from .image import ImageInput, load_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_pidinet(path: str | os.PathLike) -> torch.nn.Module:
    """controlnet_aux's PiDiNet with the weights of ``path`` (a ``table5_pidinet.pth`` file or a folder holding it)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "table5_pidinet.pth")
    if not os.path.isfile(path):
        raise ValueError(f"model={path!r}: no such PiDiNet weights file")
    from controlnet_aux.pidi.model import pidinet

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state_dict = checkpoint.get("state_dict", checkpoint)
    network = pidinet()
    network.load_state_dict({key.removeprefix("module."): value for key, value in state_dict.items()})
    return network


@register_extractor
class SketchExtractor(ConditionExtractor):
    """``(F, 1, H, W)`` PiDiNet sketches in [0, 1], bright strokes on dark.

    Args:
        model: a built PiDiNet (e.g. ``controlnet_aux.pidi.model.pidinet()``; its output, or the last of its outputs,
            is the sigmoid edge map) or a local ``table5_pidinet.pth`` path / folder.
        simplifier: optional sketch-simplification network taking and returning dark-strokes-on-light ``(B, 1, H, W)``
            in [0, 1] (normalising its input itself, as the original's cleaner); applied as ``1 - s(1 - edges)``.
        batch_size: frames per forward pass.
    """

    name = "sketch"

    def __init__(
        self,
        model: str | os.PathLike | torch.nn.Module,
        simplifier: torch.nn.Module | None = None,
        batch_size: int = 4,
    ):
        if isinstance(model, (str, os.PathLike)):
            model = load_pidinet(model)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model: expected a local weights path or a torch.nn.Module, got {type(model).__name__}")
        if simplifier is not None and not isinstance(simplifier, torch.nn.Module):
            raise TypeError(f"simplifier: expected a torch.nn.Module or None, got {type(simplifier).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model.eval().requires_grad_(False)
        self.simplifier = None if simplifier is None else simplifier.eval().requires_grad_(False)
        self.batch_size = batch_size

    @torch.no_grad()
    def sketch(self, frames: torch.Tensor) -> torch.Tensor:
        """``(F, 3, H, W)`` in [0, 1] -> ``(F, 1, H, W)`` sketches in [0, 1]."""
        parameter = next(self.model.parameters())
        sketches = []
        for chunk in frames.split(self.batch_size):
            edges = self.model(TF.normalize(chunk.to(parameter.device, parameter.dtype), IMAGENET_MEAN, IMAGENET_STD))
            if isinstance(edges, (list, tuple)):
                edges = edges[-1]
            if self.simplifier is not None:
                edges = 1.0 - self.simplifier(1.0 - edges)
            sketches.append(edges.float().clamp_(0.0, 1.0).cpu())
        return torch.cat(sketches)

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        return self.sketch(frames)


@register_extractor
class SingleSketchExtractor(SketchExtractor):
    """``(F, 1, H, W)``: the sketch of ``image`` (or, when ``None``, of the first frame) repeated over the frames.

    A user drawing goes through PiDiNet (and the simplifier) too, as in the original's ``--sketch_path``.
    """

    name = "single_sketch"

    def __init__(
        self,
        model: str | os.PathLike | torch.nn.Module,
        simplifier: torch.nn.Module | None = None,
        image: ImageInput | None = None,
    ):
        super().__init__(model, simplifier, batch_size=1)
        self.image = image

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        first = frames[:1] if self.image is None else load_image(self.image, *frames.shape[2:]).unsqueeze(0)
        return self.sketch(first).expand(frames.shape[0], -1, -1, -1).clone()
