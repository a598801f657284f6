"""What the app does, without the UI: conditions from strokes / a clip / a mask, then generation and its files.

`ComposerApp` holds the loaded pipeline and the optional extractor weights; its methods take plain values (the
canvas dict, file paths, numbers), check them before any heavy work, and raise ``ValueError`` with a message for the
user. `videocomposer.app.ui` only wires them to Gradio components.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from videocomposer.atomic_files import current_umask
from videocomposer.conditions import condition_specs, save_condition_file, video_size
from videocomposer.motion import StrokeSet, save_strokes, strokes_to_motion_vectors

from .canvas import strokes_from_canvas
from .grid import stroke_grid
from .uploads import load_clip

# App condition name (an extractor) -> the STC branch it feeds
VIDEO_CONDITIONS = {name: spec.name for name in ("motion", "depth", "sketch", "canny", "mask")
                    for spec in condition_specs() if name in spec.extractors}  # fmt: skip
GRID_HEIGHT = 128


class GenerationStopped(Exception):
    """Raised by `ComposerApp.generate` when its ``should_stop`` says so (the Stop button): nothing is written."""

    def __init__(self, step: int, total: int):
        super().__init__(f"stopped after step {step} of {total}; nothing was written")
        self.step, self.total = step, total


@dataclass
class Outputs:
    """The files of one generation (all in one fresh folder)."""

    video: Path
    grid: Path
    conditions: Path
    strokes: Path | None


class ComposerApp:
    """The pipeline plus the extractor weights, and the app's actions.

    Args:
        pipeline: a loaded `VideoComposerPipeline`.
        output_dir: folder in which every generation writes a fresh sub-folder.
        depth_model: DPT weights folder for the ``depth`` condition (``None``: depth is unavailable).
        sketch_model: PiDiNet ``table5_pidinet.pth`` for the ``sketch`` condition (``None``: only ``canny``).
        fps: sampling rate of uploaded clips and frame rate of the written videos.
        height, width: video size (default: the model's native size, ``unet.config.sample_size`` x the VAE factor).
    """

    def __init__(self, pipeline, output_dir: str | os.PathLike, depth_model: str | None = None,
                 sketch_model: str | None = None, fps: float = 4.0, height: int | None = None,
                 width: int | None = None):  # fmt: skip
        factor = pipeline.vae_scale_factor
        _, self.height, self.width = video_size(pipeline.unet.config, factor, height=height, width=width)
        for name, value in (("height", self.height), ("width", self.width)):
            if value % factor:
                raise ValueError(f"{name}: expected a multiple of the VAE factor {factor}, got {value}")
        self.pipeline = pipeline
        self.output_dir = Path(output_dir)
        self.depth_model = depth_model
        self.sketch_model = sketch_model
        self.fps = fps
        self.branches = list(pipeline.stc_encoder.conditions)

    @property
    def scale_names(self) -> list[str]:
        """The STC branches the app can scale (those the model has, among those of `VIDEO_CONDITIONS`)."""
        return [name for name in dict.fromkeys(VIDEO_CONDITIONS.values()) if name in self.branches]

    def _check_branch(self, what: str, branch: str) -> None:
        if branch not in self.branches:
            raise ValueError(f"{what}: this model has no {branch!r} condition (it has {', '.join(self.branches)})")

    def stroke_conditions(self, canvas: dict, num_frames: int, keep_speed: bool) -> tuple[StrokeSet, dict]:
        """The canvas's strokes (canvas pixels) and the ``motion_vectors`` they give at the video size."""
        self._check_branch("strokes", "motion")
        strokes = strokes_from_canvas(canvas, keep_speed)
        on_video = strokes.scaled_to(self.width, self.height).strokes
        return strokes, {"motion_vectors": strokes_to_motion_vectors(on_video, num_frames, self.height, self.width)}

    def video_extractors(self, names: list[str], mask: np.ndarray | None = None) -> list:
        """Extractors for the app condition ``names`` (see `VIDEO_CONDITIONS`); checked before anything is loaded."""
        from condition_extractors import get_extractor
        from videocomposer.demo.components import SKETCH_CANNY_THRESHOLDS

        unknown = sorted(set(names) - set(VIDEO_CONDITIONS))
        if unknown:
            raise ValueError(f"conditions: unknown {unknown}; expected some of {list(VIDEO_CONDITIONS)}")
        if {"sketch", "canny"} <= set(names):
            raise ValueError("sketch and canny both give the sketch condition: pick one")
        for name in names:
            self._check_branch(name, VIDEO_CONDITIONS[name])
        if "depth" in names and self.depth_model is None:
            raise ValueError("depth needs DPT depth weights: start the app with --depth-model DIR (e.g. a local "
                             "copy of Intel/dpt-large)")  # fmt: skip
        if "sketch" in names and self.sketch_model is None:
            raise ValueError("sketch needs PiDiNet weights: start the app with --sketch-model table5_pidinet.pth, "
                             "or pick canny (edges, no weights)")  # fmt: skip
        kwargs = {"depth": {"model": self.depth_model}, "sketch": {"model": self.sketch_model},
                  "canny": dict(zip(("low_threshold", "high_threshold"), SKETCH_CANNY_THRESHOLDS)),
                  "mask": {"mask": mask} if mask is not None else {"seed": 0}}  # fmt: skip
        try:
            return [get_extractor(name, **kwargs.get(name, {})) for name in names]
        except OSError as error:
            raise ValueError(f"{', '.join(names)}: cannot load the extractor weights ({error})") from None

    def extract(self, video: str | None, names: list[str], num_frames: int,
                mask: np.ndarray | None = None) -> tuple[dict, np.ndarray]:  # fmt: skip
        """Conditions of an uploaded clip -> (pipeline keyword arguments, the clip's frames uint8 ``(F, H, W, 3)``);
        ``mask`` (``(H, W)`` bool on the clip's frame, True = regenerate) replaces the mask extractor's random one."""
        from condition_extractors import extract_conditions, resize_center_crop

        if not names:
            raise ValueError("conditions: tick at least one condition to extract")
        if mask is not None and "mask" not in names:
            raise ValueError("a mask was given but the mask condition is not ticked")
        extractors = self.video_extractors(names, mask)
        frames = load_clip(video, num_frames, self.fps)
        conditions = extract_conditions(frames, extractors, num_frames=num_frames, height=self.height,
                                        width=self.width, progress=False)  # fmt: skip
        source = resize_center_crop(frames, self.height, self.width)
        return conditions, np.round(source.permute(0, 2, 3, 1).numpy() * 255.0).astype(np.uint8)

    def preview(self, conditions: dict, source: np.ndarray | None, strokes: StrokeSet | None = None) -> np.ndarray:
        """The condition grid of ``conditions`` before generating (source, conditions, legend; no generated tile)."""
        return stroke_grid(None, conditions, strokes, source, GRID_HEIGHT)

    def new_output_folder(self, prefix: str) -> Path:
        """A new, uniquely named folder in ``output_dir`` for one result, with the umask's folder mode."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.output_dir))
        os.chmod(folder, 0o777 & ~current_umask())  # mkdtemp makes 0700
        return folder

    def generate(
        self,
        prompt: str,
        negative_prompt: str,
        conditions: dict,
        strokes: StrokeSet | None = None,
        source: np.ndarray | None = None,
        num_frames: int = 8,
        steps: int = 30,
        guidance: float | None = None,
        seed: int = 0,
        scales: dict[str, float] | None = None,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Outputs:
        """Generate and write the video, the condition grid, the conditions (safetensors) and the strokes (JSON).

        ``guidance=None`` leaves the pipeline's default (the model's own); ``should_stop`` is asked after every
        denoising step and, when it answers True, ends the generation with `GenerationStopped`."""
        from videocomposer.visualize import save_video

        check_generation(prompt, num_frames, steps, guidance, seed, scales)
        for key, value in conditions.items():
            if value.shape[2] != num_frames:
                raise ValueError(f"{key}: extracted for {value.shape[2]} frames, but {num_frames} are requested; "
                                 "extract again")  # fmt: skip

        def on_step(pipe, step, timestep, tensors):
            if progress is not None:
                progress(step + 1, steps)
            if should_stop is not None and should_stop():
                raise GenerationStopped(step + 1, steps)
            return tensors

        frames = self.pipeline(
            prompt,
            negative_prompt=negative_prompt or None,
            **conditions,
            num_frames=num_frames,
            height=self.height,
            width=self.width,
            num_inference_steps=steps,
            guidance_scale=guidance,
            condition_scale=scales or 1.0,
            generator=torch.Generator().manual_seed(seed),
            callback_on_step_end=on_step,
            preserve_unmasked="mask" in conditions,  # inpainting keeps the frame outside the mask
        ).frames[0]
        folder = self.new_output_folder("run")
        video = save_video(frames, folder / "video.mp4", fps=self.fps)
        grid = stroke_grid(frames, conditions, strokes, source, GRID_HEIGHT)
        grid_path = save_video(grid, folder / "grid.mp4", fps=self.fps)
        conditions_path = folder / "conditions.safetensors"
        save_condition_file(conditions_path, conditions)
        strokes_path = None
        if strokes is not None:
            strokes_path = folder / "strokes.json"
            save_strokes(strokes, strokes_path)
        return Outputs(video=video, grid=grid_path, conditions=conditions_path, strokes=strokes_path)


def check_generation(prompt: str, num_frames: int, steps: int, guidance: float | None, seed: int,
                     scales: dict[str, float] | None) -> None:  # fmt: skip
    """Raise ``ValueError`` naming the control whose value is out of range."""
    if not prompt or not prompt.strip():
        raise ValueError("prompt: write a prompt, e.g. 'a red circle moving to the right on a plain background'")
    if int(num_frames) != num_frames or num_frames < 2:
        raise ValueError(f"frames: expected an integer >= 2, got {num_frames}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps: expected an integer >= 1, got {steps}")
    if guidance is not None and not guidance >= 0:
        raise ValueError(f"guidance: expected a number >= 0, got {guidance}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed}")
    for name, value in (scales or {}).items():
        if not value >= 0:
            raise ValueError(f"{name} scale: expected a number >= 0, got {value}")
