"""`videocomposer generate`: the command-line face of `VideoComposerPipeline`, extractors included.

`videocomposer generate --prompt "a red circle moving right" --motion-from clip.mp4 --output out.mp4 --grid` loads the
model (the installed demo model by default), runs the condition extractors on the given files, generates, and writes
the video (and with `--grid` a conditions | generated grid video next to it).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".gif")
# option -> the STC branch it needs
_BRANCH_OF_OPTION = {
    "motion_from": "motion",
    "strokes": "motion",
    "depth_from": "depth",
    "sketch_from": "sketch",
    "image": "local_image",
    "masked_from": "masked",
}
_INPUT_FILES = (
    "motion_from",
    "depth_from",
    "sketch_from",
    "sketch",
    "image",
    "style",
    "mask",
    "masked_from",
    "strokes",
)
CONDITION_SCALE = 1.5  # depth, sketch, mask and image are extracted at 1.5x the video size, as the original


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate a video from a prompt and optional conditions (motion, depth, sketch, image, mask, strokes)",
        description=(
            "Generate a video with VideoComposerPipeline. Conditions come from files: the extractors run on the given "
            "videos and images. Without --model the installed demo model (64x64, trained on synthetic shapes) is "
            "used; --height/--width default to the model's native size."
        ),
    )
    parser.add_argument("--model", default=None, help="pipeline folder or Hub id (default: the installed demo model)")
    parser.add_argument("--prompt", required=True, help="text prompt")
    parser.add_argument("--negative-prompt", default=None, help="prompt of the unconditional branch (default '')")
    parser.add_argument("--motion-from", help="video whose codec motion vectors steer the motion")
    parser.add_argument("--strokes", help="stroke JSON file (videocomposer.motion format): hand-drawn motion")
    parser.add_argument("--depth-from", help="video whose MiDaS depth is the depth condition")
    parser.add_argument("--depth-model", default="Intel/dpt-large", help="DPT depth model folder or Hub id")
    parser.add_argument("--sketch-from", help="video whose sketch (Canny, or PiDiNet with --sketch-model) is used")
    parser.add_argument("--sketch-model", default=None, help="PiDiNet table5_pidinet.pth (default: Canny edges)")
    parser.add_argument(
        "--canny-thresholds",
        type=int,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="Canny thresholds of --sketch-from without --sketch-model (default: the demo model's)",
    )
    parser.add_argument("--sketch", help="one sketch image (bright strokes on dark) for every frame")
    parser.add_argument("--image", help="image for the local_image condition (e.g. the first frame)")
    parser.add_argument("--style", help="style image (needs a model with an image encoder)")
    parser.add_argument("--mask", help="mask image, white = region to generate (with --masked-from)")
    parser.add_argument("--masked-from", help="video to inpaint inside --mask")
    parser.add_argument("--frames", type=int, default=16, help="frames to generate (default 16)")
    parser.add_argument(
        "--context-length",
        type=int,
        default=None,
        help="long video: temporal window in frames (default: the model's trained length); longer videos run their "
        "temporal attention over overlapping windows",
    )
    parser.add_argument("--context-stride", type=int, default=4, help="long video: frames between windows (default 4)")
    parser.add_argument(
        "--noise-type",
        choices=("independent", "freenoise", "bspline"),
        default="independent",
        help="long video: initial noise beyond one window (default independent)",
    )
    parser.add_argument(
        "--frame-chunk-size",
        type=int,
        default=None,
        help="run the UNet's per-frame layers and the VAE decode on this many frames at a time (less memory)",
    )
    parser.add_argument("--height", type=int, default=None, help="video height (default: the model's native size)")
    parser.add_argument("--width", type=int, default=None, help="video width (default: the model's native size)")
    parser.add_argument("--fps", type=float, default=4.0, help="sampling rate of source videos and output fps")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps")
    parser.add_argument("--guidance", type=float, default=9.0, help="classifier-free guidance scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="output video (.mp4 or .gif)")
    parser.add_argument("--grid", action="store_true", help="also write OUTPUT_grid.EXT: conditions | generated")
    parser.set_defaults(func=run)


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError / FileNotFoundError naming the option, before anything heavy is imported or loaded."""
    if not args.prompt.strip():
        raise ValueError("--prompt: expected a non-empty prompt")
    for name in _INPUT_FILES:
        path = getattr(args, name)
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f"--{name.replace('_', '-')}: no such file: {path}")
    pairs = (("sketch_from", "sketch"), ("motion_from", "strokes"))
    for first, second in pairs:
        if getattr(args, first) is not None and getattr(args, second) is not None:
            raise ValueError(
                f"--{first.replace('_', '-')} and --{second.replace('_', '-')} give the same condition: use one"
            )
    if (args.mask is None) != (args.masked_from is None):
        raise ValueError("--mask and --masked-from go together: the mask marks what to regenerate in that video")
    if args.sketch_model is not None and args.sketch_from is None:
        raise ValueError("--sketch-model needs --sketch-from")
    if args.canny_thresholds is not None and (args.sketch_from is None or args.sketch_model is not None):
        raise ValueError("--canny-thresholds needs --sketch-from without --sketch-model")
    if args.sketch_model is not None and not os.path.exists(args.sketch_model):
        raise FileNotFoundError(f"--sketch-model: no such file or folder: {args.sketch_model}")
    for name in ("context_length", "frame_chunk_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(args, name)}")
    if args.context_stride < 1 or (args.context_length is not None and args.context_stride > args.context_length):
        raise ValueError(f"--context-stride: expected an integer in [1, --context-length], got {args.context_stride}")
    for name in ("frames", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    for name in ("height", "width"):
        if getattr(args, name) is not None and getattr(args, name) < 8:
            raise ValueError(f"--{name}: expected an integer >= 8, got {getattr(args, name)}")
    if not args.fps > 0:
        raise ValueError(f"--fps: expected a positive number, got {args.fps}")
    if args.guidance < 0:
        raise ValueError(f"--guidance: expected a number >= 0, got {args.guidance}")
    if args.seed < 0:
        raise ValueError(f"--seed: expected a non-negative integer, got {args.seed}")
    output = Path(args.output)
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"--output: expected a {' or '.join(VIDEO_SUFFIXES)} file, got {args.output}")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"--output: the folder {output.parent} does not exist")
    if args.model is not None and not os.path.isdir(args.model) and _looks_like_path(args.model):
        raise FileNotFoundError(f"--model: no such folder: {args.model}")


def _looks_like_path(model: str) -> bool:
    """A Hub id is ``name`` or ``owner/name``; anything else (absolute, relative, deeper) is a local path."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or os.sep != "/" and os.sep in model


def load_pipeline(model: str | None):
    """The pipeline of ``model`` (default: the installed demo model), in eval mode on the CPU."""
    from pipelines.pipeline_videocomposer import VideoComposerPipeline
    from videocomposer.demo import DEMO_MODEL_DIR

    if model is None:
        if not (DEMO_MODEL_DIR / "model_index.json").is_file():
            raise FileNotFoundError(
                f"the demo model is not installed at {DEMO_MODEL_DIR}; build it with `python -m videocomposer.demo.build`"
            )
        model = str(DEMO_MODEL_DIR)
    try:
        return VideoComposerPipeline.from_pretrained(model)
    except OSError as error:
        raise ValueError(f"--model: cannot load {model!r} ({error})") from None


def check_model(args: argparse.Namespace, pipeline) -> tuple[int, int]:
    """Check the options against the loaded model; return the (height, width) to generate."""
    branches = pipeline.stc_encoder.conditions
    for option, branch in _BRANCH_OF_OPTION.items():
        if getattr(args, option) is not None and branch not in branches:
            raise ValueError(
                f"--{option.replace('_', '-')}: the model has no {branch!r} condition (it has {list(branches)})"
            )
    if args.sketch is not None and not {"sketch", "single_sketch"} & set(branches):
        raise ValueError(f"--sketch: the model has no sketch condition (it has {list(branches)})")
    if args.style is not None and pipeline.image_encoder is None:
        raise ValueError("--style: the model has no image encoder, so it takes no style image")
    native = pipeline.unet.config.sample_size
    factor = pipeline.vae_scale_factor
    height = args.height or (native * factor if native else None)
    width = args.width or (native * factor if native else None)
    if height is None or width is None:
        raise ValueError("--height/--width: the model's config has no sample_size; give both")
    for name, value in (("height", height), ("width", width)):
        if value % factor:
            raise ValueError(f"--{name}: expected a multiple of the VAE factor {factor}, got {value}")
    return height, width


def build_conditions(args: argparse.Namespace, pipeline, height: int, width: int) -> dict:
    """The pipeline's condition keyword arguments from the files given on the command line."""
    import torch

    from condition_extractors import (
        CannyExtractor,
        DepthExtractor,
        MaskGenerator,
        SketchExtractor,
        extract_conditions,
        load_image,
    )
    from videocomposer.demo.components import SKETCH_CANNY_THRESHOLDS
    from videocomposer.motion import load_strokes, strokes_to_motion_vectors

    extractors_by_video: dict[str, list] = {}
    if args.motion_from is not None:
        extractors_by_video.setdefault(args.motion_from, []).append("motion")
    if args.depth_from is not None:
        try:
            depth = DepthExtractor(model=args.depth_model)
        except OSError as error:
            raise ValueError(
                f"--depth-model: cannot load {args.depth_model!r} (offline? give a local DPT folder): {error}"
            ) from None
        extractors_by_video.setdefault(args.depth_from, []).append(depth)
    if args.sketch_from is not None:
        if args.sketch_model is None:
            sketcher = CannyExtractor(*(args.canny_thresholds or SKETCH_CANNY_THRESHOLDS))
        else:
            sketcher = SketchExtractor(model=args.sketch_model)
        extractors_by_video.setdefault(args.sketch_from, []).append(sketcher)
    if args.masked_from is not None:
        extractors_by_video.setdefault(args.masked_from, []).append(MaskGenerator(mask=args.mask))
    conditions: dict[str, torch.Tensor] = {}
    for video, extractors in extractors_by_video.items():
        conditions.update(
            extract_conditions(video, extractors, num_frames=args.frames, fps=args.fps, height=height, width=width)
        )
    if args.strokes is not None:
        strokes = load_strokes(args.strokes).scaled_to(width, height).strokes
        conditions["motion_vectors"] = strokes_to_motion_vectors(strokes, args.frames, height, width)
    size = (round(height * CONDITION_SCALE), round(width * CONDITION_SCALE))
    if args.sketch is not None:
        sketch = load_image(args.sketch, *size, name="--sketch").mean(0, keepdim=True)  # (1, H, W) grey
        name = "single_sketch" if "single_sketch" in pipeline.stc_encoder.conditions else "sketch"
        conditions[name] = sketch[None, :, None].expand(-1, -1, args.frames, -1, -1).contiguous()
    if args.image is not None:
        image = load_image(args.image, *size, name="--image")
        conditions["image"] = image[None, :, None].expand(-1, -1, args.frames, -1, -1).contiguous()
    return conditions


def run(args: argparse.Namespace) -> int:
    check_args(args)
    import PIL.Image
    import torch

    from videocomposer.visualize import condition_grid, save_video

    pipeline = load_pipeline(args.model)
    height, width = check_model(args, pipeline)
    pipeline.enable_long_video(
        context_length=args.context_length, context_stride=args.context_stride, noise_type=args.noise_type
    )
    if args.frame_chunk_size is not None:
        pipeline.unet.enable_frame_chunking(args.frame_chunk_size)
    window = pipeline.long_video_settings.windows
    if args.frames > window.context_length:
        print(f"long video: {args.frames} frames, temporal attention over windows of {window.context_length} frames")
    conditions = build_conditions(args, pipeline, height, width)
    style = None
    if args.style is not None:
        with PIL.Image.open(args.style) as opened:
            style = opened.convert("RGB")
    frames = pipeline(
        args.prompt,
        negative_prompt=args.negative_prompt,
        **conditions,
        style_image=style,
        num_frames=args.frames,
        height=height,
        width=width,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        generator=torch.Generator().manual_seed(args.seed),
        decode_chunk_size=args.frame_chunk_size,
    ).frames[0]
    output = save_video(frames, args.output, fps=args.fps)
    print(f"video: {output}")
    if args.grid:
        grid_path = output.with_name(f"{output.stem}_grid{output.suffix}")
        grid = condition_grid(frames, conditions, height=max(height, 128))
        print(f"grid: {save_video(grid, grid_path, fps=args.fps)}")
    return 0
