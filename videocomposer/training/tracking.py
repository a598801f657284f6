"""Experiment trackers of ``--report_to``: which packages each needs (checked before training), and the validation
videos logged to them (TensorBoard: an animated GIF image summary, as ``SummaryWriter.add_video`` writes, encoded
with PIL instead of moviepy; Weights & Biases: the mp4 as ``wandb.Video``)."""

from __future__ import annotations

import importlib
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kept out of the import: `--help` and argument checks must stay light
    import numpy as np
    from accelerate import Accelerator

    from .validation import ValidationVideo

TRACKERS = ("none", "tensorboard", "wandb")  # each tracker's package has its name


def check_tracker_installed(report_to: str) -> None:
    """Raise ``ValueError`` naming ``--report_to`` and the extra to install when the tracker's package is missing."""
    if report_to not in TRACKERS:
        raise ValueError(f"--report_to: expected one of {TRACKERS}, got {report_to!r}")
    if report_to == "none":
        return
    try:
        importlib.import_module(report_to)
    except ImportError as error:
        raise ValueError(
            f"--report_to {report_to}: the {report_to} package is not installed ({error}); "
            f"pip install 'videocomposer[tracking]' (or {report_to}), or use --report_to none"
        ) from error


def gif_bytes(frames: np.ndarray, fps: float) -> bytes:
    """Frames ``(F, H, W, 3)`` float in [0, 1] -> an endlessly looping animated GIF."""
    import numpy as np
    from diffusers.image_processor import VaeImageProcessor

    images = VaeImageProcessor.numpy_to_pil(np.clip(frames, 0, 1))
    buffer = io.BytesIO()
    duration = max(20, round(1000 / fps))
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    return buffer.getvalue()


def log_validation_videos(accelerator: Accelerator, videos: Sequence[ValidationVideo], step: int, fps: float) -> None:
    """Log each video to every tracker of ``accelerator`` (main process; nothing without trackers)."""
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            from tensorboard.compat.proto.summary_pb2 import Summary

            values = []
            for index, video in enumerate(videos):
                height, width = video.frames.shape[1:3]
                image = Summary.Image(
                    height=height, width=width, colorspace=3, encoded_image_string=gif_bytes(video.frames, fps)
                )
                values.append(Summary.Value(tag=f"validation/{index}", image=image))
            tracker.writer._get_file_writer().add_summary(Summary(value=values), step)
            tracker.writer.flush()
        elif tracker.name == "wandb":
            import wandb

            tracker.log(
                {"validation": [wandb.Video(str(v.path), caption=v.prompt, format="mp4") for v in videos]}, step=step
            )
        else:
            raise ValueError(f"--report_to: no way to log validation videos to tracker {tracker.name!r}")
