"""Validation videos during training: each ``--validation_prompt`` every ``--validation_steps`` steps (main process),
generated with the weights being trained (the EMA's when kept) and seeded by ``--seed`` (the same every time), one mp4
per prompt written with :func:`videocomposer.visualize.save_video` as
``{output_dir}/validation/step-{step}-{i}.mp4`` and logged to the trackers."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from diffusers.training_utils import EMAModel

from condition_extractors import extract_conditions
from pipelines.pipeline_videocomposer import VideoComposerPipeline
from videocomposer.visualize import save_video

from .arguments import TrainingArguments
from .tracking import log_validation_videos

logger = get_logger(__name__)


@dataclass
class ValidationVideo:
    """One validation video: its prompt, its frames ``(F, H, W, 3)`` float in [0, 1], and the mp4 written."""

    prompt: str
    frames: np.ndarray
    path: Path


@dataclass
class Validation:
    """The validation videos of a run (the pipeline's models are back in their train / eval mode after);
    ``parameters``: the trained ones the EMA holds. The conditions of ``--validation_conditions`` are extracted once."""

    args: TrainingArguments
    accelerator: Accelerator
    pipeline: VideoComposerPipeline
    ema: EMAModel | None
    parameters: list[torch.nn.Parameter]

    def __post_init__(self) -> None:
        args, self.conditions = self.args, {}
        if args.validation_conditions:  # only used with --validation_prompt (check_args)
            self.conditions = extract_conditions(
                args.validation_conditions, args.conditions, num_frames=args.num_frames, fps=args.fps,
                height=args.resolution, width=args.resolution, progress=False, **(args.condition_kwargs or {}),
            )  # fmt: skip

    def __call__(self, global_step: int) -> list[ValidationVideo]:
        args, pipeline = self.args, self.pipeline
        if self.ema is not None:
            self.ema.store(self.parameters)
            self.ema.copy_to(self.parameters)
        folder = Path(args.output_dir) / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        modes = {
            module: module.training for module in pipeline.components.values() if isinstance(module, torch.nn.Module)
        }
        for module in modes:
            module.eval()
        videos = []
        with self.accelerator.autocast():
            for index, prompt in enumerate(args.validation_prompt):
                frames = pipeline(
                    prompt, **self.conditions, num_frames=args.num_frames, height=args.resolution,
                    width=args.resolution, num_inference_steps=args.validation_num_inference_steps,
                    guidance_scale=args.validation_guidance_scale, generator=torch.Generator().manual_seed(args.seed),
                    output_type="np",
                ).frames[0]  # fmt: skip
                path = folder / f"step-{global_step}-{index}.mp4"
                save_video(frames, path, fps=max(1, round(args.fps)))
                videos.append(ValidationVideo(prompt, frames, path))
        if self.ema is not None:
            self.ema.restore(self.parameters)
        for module, mode in modes.items():
            module.train(mode)
        log_validation_videos(self.accelerator, videos, global_step, args.fps)
        logger.info(f"validation videos: {[str(video.path) for video in videos]}")
        return videos
