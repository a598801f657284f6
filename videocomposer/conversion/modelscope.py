"""ModelScope text-to-video (diffusers `UNet3DConditionModel`) -> `VideoComposerUNet3DModel` + a fresh `STCEncoder`,
the starting point for training VideoComposer without the original release.

The result computes exactly what the text-to-video UNet computes, for any conditions, until it is trained: the fresh
STC encoder is built with ``output_gate=True``, a learnable per-channel gate on its summed output that starts at zero
(StyleSV's ``motion_mask``, ControlNet's zero convolutions). Every branch keeps its default initialisation: at the
first step only the gate gets a gradient (the branch outputs are non-zero), from the second step every layer does.
(Zeroing the branches' last layers instead, as earlier versions did, left the attention's ``to_q/k/v`` and the
convolutions behind a zero ``conv_out`` without gradients and the pathway only restarted through biases.) The UNet's
8 condition input channels, which `from_unet3d` leaves at zero, get the default convolution initialisation: if both
sides of the product were zero, no gradient would ever reach either of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..models.stc_encoder import KNOWN_CONDITIONS, RELEASE_CONDITIONS, STCEncoder
from .atomic_folder import atomic_folder, check_output_folder
from .release import check_dtype


def convert_modelscope(
    unet: str | Path,
    output: str | Path,
    conditions: Sequence[str] | None = None,
    subfolder: str | None = None,
    dtype: str = "fp32",
    seed: int = 0,
) -> Path:
    """Write ``output/unet`` and ``output/stc_encoder`` from a ModelScope-style `UNet3DConditionModel`.

    Args:
        unet: a folder or Hub id that ``UNet3DConditionModel.from_pretrained`` reads (with ``subfolder="unet"`` for
            a whole text-to-video pipeline, e.g. ``ali-vilab/text-to-video-ms-1.7b``).
        output: a new folder; written under a temporary name and renamed at the end.
        conditions: STC branches to create (default: the release's six), names of `KNOWN_CONDITIONS`.
        subfolder: the UNet's subfolder in ``unet``.
        dtype: ``"fp32"`` or ``"fp16"``.
        seed: seed of the fresh weights (STC encoder, style-token MLP, condition input channels).
    """
    torch_dtype = check_dtype(dtype)
    output = check_output_folder(output)
    names = tuple(RELEASE_CONDITIONS if conditions is None else conditions)
    unknown = sorted(set(names) - set(KNOWN_CONDITIONS))
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"conditions: expected distinct names of {list(KNOWN_CONDITIONS)}, got {list(names)}")

    from diffusers import UNet3DConditionModel

    from ..models.unet_3d import VideoComposerUNet3DModel

    source = UNet3DConditionModel.from_pretrained(unet, subfolder=subfolder)
    torch.manual_seed(seed)
    model = VideoComposerUNet3DModel.from_unet3d(source)
    fresh = torch.nn.Conv2d(model.conv_in.in_channels, model.conv_in.out_channels, 3)  # default init
    with torch.no_grad():
        model.conv_in.weight[:, source.config.in_channels :] = fresh.weight[:, source.config.in_channels :]
    # Summation order of the original for the chosen branches; the zero gate makes the new pathway start closed.
    stc_encoder = STCEncoder(
        condition_channels={name: c for name, c in KNOWN_CONDITIONS.items() if name in names}, output_gate=True
    )
    with atomic_folder(output) as staging:
        model.to(torch_dtype).save_pretrained(staging / "unet", safe_serialization=True)
        stc_encoder.to(torch_dtype).save_pretrained(staging / "stc_encoder", safe_serialization=True)
    return output
