"""Long video for `VideoComposerPipeline`: windowed temporal layers, long-range noise and prompts changing over time.

The UNet and the STC encoder were trained on clips of `unet.config.num_frames` frames (the release 16, the demo 8).
For `num_frames` above that window the pipeline, unless `disable_long_video()` was called, runs every temporal
attention over overlapping windows of the trained length fused with pyramid weights (`models.temporal_windows`);
spatial layers and temporal convolutions see the whole sequence as usual. Videos within one window are computed exactly
as without any of this. `enable_long_video` configures it as diffusers' AnimateDiff `enable_free_noise` does (a method:
the settings describe how the model is run, not what is generated), with FreeNoise's names where the concept is the
same (`context_length`, `context_stride`, `weighting_scheme`, `noise_type="random"` / `"shuffle_context"`).

`prompt` may be a list of `(start_frame, text)` segments for one video: each segment's text embedding holds from its
start frame, and across each change the per-frame prompt embedding is linearly interpolated over `prompt_transition`
frames centred on the change (embedding interpolation, not FreeNoise's motion injection).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.utils import logging

from videocomposer.models.temporal_windows import WEIGHTINGS, TemporalWindows

from .long_video_noise import NOISE_TYPES

logger = logging.get_logger(__name__)


@dataclass(frozen=True)
class LongVideoSettings:
    """How videos longer than one window are sampled (see the module docstring)."""

    windows: TemporalWindows
    noise_type: str = "random"
    noise_anchor_spacing: int = 4
    prompt_transition: int = 8

    def __post_init__(self) -> None:
        if self.noise_type not in NOISE_TYPES:
            raise ValueError(f"noise_type: expected one of {NOISE_TYPES}, got {self.noise_type!r}")
        for name in ("noise_anchor_spacing", "prompt_transition"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")


def prompt_segment_weights(starts: Sequence[int], num_frames: int, transition: int) -> torch.Tensor:
    """`(S, F)` float64 weights of `S` prompt segments starting at `starts` over `num_frames` frames.

    Segment changes ramp linearly over `transition` frames centred on the start frame s_j:
    ramp_j(f) = clip((f + 0.5 - s_j) / transition + 0.5, 0, 1); w_0 = 1 - ramp_1, w_i = ramp_i - ramp_{i+1},
    w_{S-1} = ramp_{S-1}. Columns are non-negative and sum to one; `transition=1` is a hard cut at each start.
    """
    frames = torch.arange(num_frames, dtype=torch.float64)
    ramps = [torch.ones(num_frames, dtype=torch.float64)]
    ramps += [((frames + 0.5 - start) / transition + 0.5).clamp(0.0, 1.0) for start in starts[1:]]
    ramps.append(torch.zeros(num_frames, dtype=torch.float64))
    return torch.stack([ramps[i] - ramps[i + 1] for i in range(len(starts))])


def split_prompt_segments(prompt: Any, num_frames: int) -> tuple[Any, list[tuple[int, str]] | None]:
    """`(prompt, None)` for an ordinary prompt; `(first text, segments)` for a list of `(start_frame, text)`.

    Segments must start at frame 0, increase strictly and start before `num_frames`; texts are non-empty strings.
    """
    if not isinstance(prompt, (list, tuple)) or not prompt or all(isinstance(p, str) for p in prompt):
        return prompt, None
    segments = []
    for item in prompt:
        start, text = item if isinstance(item, (tuple, list)) and len(item) == 2 else (None, None)
        if not isinstance(start, int) or isinstance(start, bool) or not isinstance(text, str):
            raise TypeError(
                "`prompt` has to be a string, a list of strings (one per video), or a list of (start_frame, text) "
                f"segments for one video, got the item {item!r}."
            )
        segments.append((start, text))
    starts = [start for start, _ in segments]
    if starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])) or starts[-1] >= num_frames:
        raise ValueError(
            "`prompt` segments have to start at frame 0 and at strictly increasing frames below "
            f"num_frames={num_frames}, got starts {starts}."
        )
    if not all(text.strip() for _, text in segments):
        raise ValueError("`prompt` segments need non-empty texts.")
    return segments[0][1], segments


class LongVideoMixin:
    """Adds `enable_long_video` / `disable_long_video` and the helpers `__call__` uses for long videos."""

    _long_video: LongVideoSettings | bool | None = None  # None: automatic; False: disabled; settings: enabled
    _long_video_logged = False

    def enable_long_video(
        self,
        context_length: int | None = None,
        context_stride: int = 4,
        weighting_scheme: str = "pyramid",
        noise_type: str = "random",
        noise_anchor_spacing: int | None = None,
        prompt_transition: int | None = None,
    ) -> None:
        r"""
        Sample videos longer than `context_length` frames with windowed temporal layers. Without this call that
        happens automatically with these defaults once `num_frames` exceeds the UNet's `num_frames` (logged once).

        Args:
            context_length (`int`, *optional*): Window length; defaults to `unet.config.num_frames`, the trained length.
            context_stride (`int`, defaults to 4): Frames between window starts, in `[1, context_length]`.
            weighting_scheme (`str`, defaults to `"pyramid"`): Fusion weights of overlapping windows, `"flat"` or
                `"pyramid"`.
            noise_type (`str`, defaults to `"random"`): `"random"`, `"shuffle_context"` (FreeNoise) or `"bspline"`
                initial noise (`pipelines.long_video_noise`); ignored when `latents` are given. Only the default met
                both the seam and the no-repetition target of `benchmarks/bench_long_video.py` (FreeNoise repeats at
                multiples of the window, B-spline noise shows seams).
            noise_anchor_spacing (`int`, *optional*): Frames between B-spline noise anchors; defaults to
                `context_stride`.
            prompt_transition (`int`, *optional*): Frames over which prompt segments blend; defaults to
                `context_length`.
        """
        if weighting_scheme not in WEIGHTINGS:
            raise ValueError(f"weighting_scheme: expected one of {WEIGHTINGS}, got {weighting_scheme!r}")
        length = self.unet.config.num_frames if context_length is None else context_length
        self._long_video = LongVideoSettings(
            TemporalWindows(length, context_stride, weighting_scheme),
            noise_type,
            context_stride if noise_anchor_spacing is None else noise_anchor_spacing,
            length if prompt_transition is None else prompt_transition,
        )

    def disable_long_video(self) -> None:
        """Run every temporal layer over all frames again, whatever `num_frames` is (no windows, plain noise)."""
        self._long_video = False

    @property
    def long_video_settings(self) -> LongVideoSettings | None:
        """The settings a video longer than one window is sampled with (`None` after `disable_long_video`)."""
        if self._long_video is False:
            return None
        if self._long_video is None:
            length = self.unet.config.num_frames
            return LongVideoSettings(TemporalWindows(length, min(4, length)), prompt_transition=length)
        return self._long_video

    def prepare_long_video(self, num_frames: int) -> LongVideoSettings | None:
        """The long-video settings for a `num_frames` video (`None` within one window), with the windows installed on
        the UNet and the STC encoder (removed when `None`)."""
        settings = self.long_video_settings
        if settings is None or num_frames <= settings.windows.context_length:
            settings = None
        elif self._long_video is None and not self._long_video_logged:
            logger.warning(
                f"num_frames={num_frames} exceeds the {self.unet.config.num_frames} frames the model was trained on: "
                f"temporal attention runs over overlapping windows ({settings}). Configure this with "
                "`pipe.enable_long_video(...)`, or turn it off with `pipe.disable_long_video()`."
            )
            self._long_video_logged = True
        windows = None if settings is None else settings.windows
        self.unet.set_temporal_windows(windows)
        self.stc_encoder.set_temporal_windows(windows)
        return settings

    def encode_prompt_segments(
        self,
        segments: list[tuple[int, str]],
        num_frames: int,
        device: torch.device,
        num_videos_per_prompt: int,
        negative_prompt_embeds: torch.Tensor | None,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-frame prompt embeddings `(num_videos_per_prompt, F, L, D)` of the segments (and the negative embedding
        broadcast to the same layout)."""
        settings = self.long_video_settings or LongVideoSettings(TemporalWindows(self.unet.config.num_frames))
        embeds = self._encode_text([text for _, text in segments], device).to(dtype)  # (S, L, D)
        weights = prompt_segment_weights([s for s, _ in segments], num_frames, settings.prompt_transition)
        per_frame = torch.einsum("sf,sld->fld", weights.to(device=device, dtype=dtype), embeds)
        prompt_embeds = per_frame[None].expand(num_videos_per_prompt, -1, -1, -1)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds[:, None].expand(-1, num_frames, -1, -1)
        return prompt_embeds, negative_prompt_embeds
