"""Which parameters a run trains (``--trainable``), for each ``--stage``.

| ``--trainable`` | trained | frozen |
|---|---|---|
| ``all`` | the whole UNet, and the STC encoder in the compositional stage | VAE, text / image encoders |
| ``stc`` | the STC encoder and the UNet's ``conv_in`` (compositional stage only) | the rest of the UNet |
| ``temporal`` | the UNet's temporal layers: ``transformer_in``, every ``temp_convs`` and ``temp_attentions`` | the rest |
| ``lora`` | LoRA adapters on the temporal attention (see :mod:`.adapters`) | every pretrained weight |
| ``lowrank_temporal`` | per-frame low-rank deltas on the temporal attention (``models.lowrank_temporal``) | the rest |

``stc`` trains ``conv_in`` too because the STC output reaches the UNet only through ``conv_in``'s condition input
channels: a UNet converted from text-to-video starts with those at zero, which would block every gradient to the STC
encoder. The t2v stage feeds no conditions, so ``stc`` is refused there.
"""

import torch

from videocomposer.models.stc_encoder import STCEncoder
from videocomposer.models.unet_3d import VideoComposerUNet3DModel

from .choices import STAGES, TRAINABLE


def is_temporal_parameter(name: str) -> bool:
    """Whether a UNet parameter name belongs to a temporal layer."""
    return name.startswith("transformer_in.") or ".temp_convs." in name or ".temp_attentions." in name


def set_trainable(
    unet: VideoComposerUNet3DModel, stc_encoder: STCEncoder, stage: str, trainable: str
) -> dict[str, list[torch.nn.Parameter]]:
    """Set ``requires_grad`` on ``unet`` and ``stc_encoder`` for ``stage`` / ``trainable`` (``lora`` and
    ``lowrank_temporal`` are adapters, added by :mod:`.adapters`: here they freeze everything).

    Returns:
        ``{"unet": [...], "stc_encoder": [...]}``: the parameters to optimise, per model (possibly empty lists).
    """
    if stage not in STAGES:
        raise ValueError(f"--stage: expected one of {STAGES}, got {stage!r}")
    if trainable not in TRAINABLE:
        raise ValueError(f"--trainable: expected one of {TRAINABLE}, got {trainable!r}")
    if trainable == "stc" and stage == "t2v":
        raise ValueError("--trainable stc needs --stage compositional: the t2v stage feeds no conditions")

    unet.requires_grad_(False)
    stc_encoder.requires_grad_(False)
    if trainable == "all":
        unet.requires_grad_(True)
        stc_encoder.requires_grad_(stage == "compositional")
    elif trainable == "stc":
        stc_encoder.requires_grad_(True)
        unet.conv_in.requires_grad_(True)
    elif trainable == "temporal":
        for name, parameter in unet.named_parameters():
            parameter.requires_grad_(is_temporal_parameter(name))
    return {
        "unet": [p for p in unet.parameters() if p.requires_grad],
        "stc_encoder": [p for p in stc_encoder.parameters() if p.requires_grad],
    }
