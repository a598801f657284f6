"""Gen-L-Video (Wang et al. 2023) as a research comparison for the long-video benchmark, not a library option.

Instead of windowing the temporal attention (the pipeline's long-video mode), the whole UNet runs on each window of
latents and its noise predictions are fused with the windows' weights. ``gen_l_video(pipe)`` switches a pipeline to it
for a ``with`` block: the UNet's ``forward`` is replaced on the instance, and the UNet's own temporal windows, which the
pipeline installs at every call, are removed at every step (the STC encoder keeps them, as it does for the pipeline).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from diffusers.models.unets.unet_3d_condition import UNet3DConditionOutput

from videocomposer.models.temporal_windows import fuse_windows


@contextmanager
def gen_l_video(pipe) -> Iterator[None]:
    """Within the block, ``pipe``'s videos longer than one window use whole-UNet windows (``pipe.long_video_settings``'
    windows) with fused predictions."""
    unet = pipe.unet
    forward = unet.forward

    def windowed_forward(sample, timestep, encoder_hidden_states, condition_latents=None, image_embeds=None,
                         return_dict=True, **kwargs):  # fmt: skip
        settings = pipe.long_video_settings
        if settings is None or sample.shape[2] <= settings.windows.context_length:
            return forward(sample, timestep, encoder_hidden_states, condition_latents, image_embeds,
                           return_dict=return_dict, **kwargs)  # fmt: skip
        unet.set_temporal_windows(None)

        def window(start: int, end: int):
            context = encoder_hidden_states[:, start:end] if encoder_hidden_states.ndim == 4 else encoder_hidden_states
            conditions = None if condition_latents is None else condition_latents[:, :, start:end]
            return forward(sample[:, :, start:end], timestep, context, conditions, image_embeds, return_dict=False,
                           **kwargs)[0]  # fmt: skip

        fused = fuse_windows(window, sample.shape[2], settings.windows, dim=2)
        return UNet3DConditionOutput(sample=fused) if return_dict else (fused,)

    unet.forward = windowed_forward
    try:
        yield
    finally:
        del unet.forward  # the class's forward again
