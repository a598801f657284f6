"""The generative stage of restoration: VideoComposer's masked-video inpainting for the holes propagation left.

The clip is cut into windows of the model's frame count and each window into tiles of the model's native size; only
tiles that hold a remaining hole run, batched, with the masked video, the mask and the tile's codec motion vectors as
conditions and `preserve_unmasked=True`, so the hole's content is generated to fit the frame around it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..conditions import native_size
from .fill import Filler


def windows(num_frames: int, length: int) -> list[range]:
    """Consecutive windows of `length` frames covering `num_frames` (the last one shifted back to end the clip)."""
    if num_frames <= length:
        return [range(num_frames)]
    starts = list(range(0, num_frames - length + 1, length))
    if starts[-1] + length < num_frames:
        starts.append(num_frames - length)
    return [range(s, s + length) for s in starts]


def tiles(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """Top-left corners of `size` tiles covering the frame (the last row / column aligned to the border)."""

    def starts(extent: int) -> list[int]:
        out = list(range(0, max(1, extent - size + 1), size))
        return out + [extent - size] if out[-1] + size < extent else out

    return [(y, x) for y in starts(height) for x in starts(width)]


def model_filler(
    pipe, num_inference_steps: int = 25, prompt: str = "", seed: int = 0, batch_size: int = 8,
    tile_size: int | None = None, window_length: int | None = None, progress: Callable[[int], None] | None = None,
) -> Filler:  # fmt: skip
    """A filler `(frames, holes) -> frames` that inpaints with `pipe` (a `VideoComposerPipeline` whose STC encoder
    has the `masked` condition; its `motion` condition is fed when present), in tiles of `tile_size` px (default:
    the model's native size) over windows of `window_length` frames (default: its trained length). `progress(n)`
    counts windows."""
    conditions = pipe.stc_encoder.conditions
    if "masked" not in conditions:
        raise ValueError(f"the model's stc_encoder has no 'masked' condition (it has {list(conditions)}): it cannot "
                         "inpaint")  # fmt: skip
    config = pipe.unet.config
    size = tile_size or native_size(config, pipe.vae_scale_factor)
    length = window_length or getattr(config, "num_frames", None)
    if size is None or length is None or size % pipe.vae_scale_factor:
        raise ValueError(f"tile_size (a multiple of {pipe.vae_scale_factor}) and window_length have to be given: "
                         f"the model's config has no sample_size / num_frames, got {tile_size}, {window_length}")  # fmt: skip

    def fill(frames: np.ndarray, holes: np.ndarray) -> np.ndarray:
        from condition_extractors.motion_vectors import MotionVectorExtractor

        num_frames, height, width = holes.shape
        pad_y, pad_x = max(0, size - height), max(0, size - width)
        padded = np.pad(frames, ((0, 0), (0, pad_y), (0, pad_x), (0, 0)), mode="reflect")
        padded_holes = np.pad(holes, ((0, 0), (0, pad_y), (0, pad_x)))
        out = padded.copy()
        generator = torch.Generator().manual_seed(seed)
        for window in windows(num_frames, length):
            jobs = [(y, x) for y, x in tiles(*padded_holes.shape[1:], size)
                    if padded_holes[window.start : window.stop, y : y + size, x : x + size].any()]  # fmt: skip
            for start in range(0, len(jobs), batch_size):
                batch = jobs[start : start + batch_size]
                clips = np.stack([padded[window.start : window.stop, y : y + size, x : x + size] for y, x in batch])
                masks = np.stack([padded_holes[window.start : window.stop, y : y + size, x : x + size]
                                  for y, x in batch])  # fmt: skip
                video = torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float() / 255.0  # (B, 3, F, s, s)
                mask = torch.from_numpy(masks)[:, None].float()
                kwargs = {}
                if "motion" in conditions:
                    extractor = MotionVectorExtractor(mode="reencode")
                    kwargs["motion_vectors"] = torch.stack(
                        [extractor(v.transpose(0, 1)).transpose(0, 1) for v in video]
                    )
                result = pipe(
                    prompt=[prompt] * len(batch), masked_video=video * (1 - mask), mask=mask, num_frames=len(window),
                    height=size, width=size, num_inference_steps=num_inference_steps, generator=generator,
                    preserve_unmasked=True, output_type="np", **kwargs,
                ).frames  # fmt: skip
                generated = (np.asarray(result) * 255.0).round().clip(0, 255).astype(np.uint8)  # (B, F, s, s, 3)
                for (y, x), tile, hole in zip(batch, generated, masks):
                    region = out[window.start : window.stop, y : y + size, x : x + size]
                    region[hole] = tile[hole]
            if progress is not None:
                progress(1)
        return out[:, :height, :width]

    return fill
