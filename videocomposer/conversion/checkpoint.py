"""Safe checkpoint reading: tensors only (never unpickled code), memory-mapped, and unwrapped to a flat state dict."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file


def load_checkpoint(path: str | Path, argument: str = "path") -> dict[str, object]:
    """Read a ``.pth`` / ``.ckpt`` / ``.bin`` / ``.safetensors`` file without executing code and without a RAM copy.

    Pickle-based files go only through ``torch.load(path, map_location="cpu", weights_only=True, mmap=True)``: a
    pickle that references anything but tensors and plain containers is refused, and tensors stay memory-mapped
    (pages are read when a tensor is used). ``argument`` names the CLI / function argument in error messages.

    Raises:
        ValueError: the file does not exist, holds objects other than tensors, or is in the pre-1.6 (non-zip)
            format that cannot be memory-mapped.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{argument}: no such file {str(path)!r}")
    if path.suffix == ".safetensors":
        return load_file(path, device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{argument}: {str(path)!r} was refused: it contains objects other than tensors and plain containers "
            f"(loading it could execute code). Original error: {str(error).splitlines()[0]}"
        ) from None
    except RuntimeError as error:
        if "mmap" not in str(error):
            raise
        raise ValueError(
            f"{argument}: {str(path)!r} is not a zip-format torch checkpoint (legacy or raw pickle), which cannot be "
            "loaded memory-mapped and tensors-only; re-save it with torch.save (zip format) or as safetensors"
        ) from None


def unwrap_state_dict(checkpoint: Mapping[str, object], argument: str = "state_dict") -> dict[str, torch.Tensor]:
    """A flat ``{key: tensor}`` dict from a plain state dict, a ``{"state_dict": ...}`` wrapper, or keys that all
    carry the ``module.`` prefix of ``DataParallel`` (stripped). Anything else raises ``TypeError``."""
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"{argument}: expected a dict of tensors, got {type(checkpoint).__name__}")
    if isinstance(checkpoint.get("state_dict"), Mapping):
        checkpoint = checkpoint["state_dict"]
    not_tensors = [key for key, value in checkpoint.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise TypeError(f"{argument}: expected only tensor values, but these keys are not tensors: {not_tensors[:5]}")
    if checkpoint and all(key.startswith("module.") for key in checkpoint):
        return {key[len("module.") :]: value for key, value in checkpoint.items()}
    return dict(checkpoint)
