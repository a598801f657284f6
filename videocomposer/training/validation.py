"""Validation videos during training: the pipeline with the weights being trained (EMA weights when kept), one mp4
per prompt written with ``diffusers.utils.export_to_video`` under ``{output_dir}/validation/``."""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.utils import export_to_video

from pipelines.pipeline_videocomposer import VideoComposerPipeline
from videocomposer.atomic_files import atomic_path


@dataclass
class ValidationVideo:
    """One validation video: its prompt, its frames ``(F, H, W, 3)`` float in [0, 1], and the mp4 written."""

    prompt: str
    frames: np.ndarray
    path: Path


def generate_validation_videos(
    pipeline: VideoComposerPipeline,
    prompts: Sequence[str],
    conditions: dict[str, torch.Tensor],
    output_dir: str | os.PathLike,
    global_step: int,
    *,
    num_frames: int,
    resolution: int,
    fps: float,
    num_inference_steps: int,
    guidance_scale: float,
    seed: int,
) -> list[ValidationVideo]:
    """Generate one video per prompt (seeded by ``seed``, the same every time) and write
    ``validation/step-{global_step}-{i}.mp4``; returns the videos. Modules are left in eval mode."""
    folder = Path(output_dir) / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    for module in pipeline.components.values():
        if isinstance(module, torch.nn.Module):
            module.eval()
    videos = []
    for index, prompt in enumerate(prompts):
        frames = pipeline(
            prompt,
            **conditions,
            num_frames=num_frames,
            height=resolution,
            width=resolution,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=torch.Generator().manual_seed(seed),
            output_type="np",
        ).frames[0]
        path = folder / f"step-{global_step}-{index}.mp4"
        with atomic_path(path) as temporary:
            export_to_video(list(frames), str(temporary), fps=max(1, round(fps)))
        videos.append(ValidationVideo(prompt, np.asarray(frames), path))
    return videos
