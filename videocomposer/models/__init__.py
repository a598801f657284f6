"""Models of videocomposer: the 3D UNet and the STC encoder."""

from .stc_encoder import STCEncoder
from .unet_3d import VideoComposerUNet3DModel

__all__ = ["STCEncoder", "VideoComposerUNet3DModel"]
