"""`videocomposer generate`: the command-line face of `VideoComposerPipeline`, extractors included.

One video: `videocomposer generate --prompt "a red circle moving right" --motion-from clip.mp4 --output out.mp4 --grid`
loads the model (the installed demo model by default), runs the condition extractors on the given files (or reads
`--conditions FILE.safetensors` written by `videocomposer extract`), generates, and writes the video (and with `--grid`
a conditions | generated grid video next to it).

A batch: `videocomposer generate --prompts-file prompts.jsonl --output-dir DIR`, one JSON object a line; under
`accelerate launch` the items are split across the processes, each output is written once (atomically), and items
whose output exists are skipped, so an interrupted batch resumes where it stopped.

Every option, input file and the model's config (for a local folder) is checked before the model is loaded.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ._checks import (
    check_condition_fit,
    check_finite,
    check_mask_aspect,
    check_output_file,
    check_output_folder,
    check_video_memory,
    image_size,
    video_size,
)
from ._processes import finish_processes, process_state
from .extract import _looks_like_path, load_depth_model

VIDEO_SUFFIXES = (".mp4", ".gif")
# options that read a file, and the STC conditions each one may feed (a --conditions file must not feed them too)
_INPUT_FILES = {
    "motion_from": ("motion",),
    "strokes": ("motion",),
    "depth_from": ("depth",),
    "sketch_from": ("sketch",),
    "sketch": ("sketch", "single_sketch"),
    "image": ("local_image",),
    "masked_from": ("masked",),
    "mask": (),
    "style": (),
    "conditions": (),
}
_IMAGE_OPTIONS = ("sketch", "image", "style", "mask")  # options that read an image; the other files are videos
_VIDEO_OPTIONS = ("motion_from", "depth_from", "sketch_from", "masked_from")
_ITEM_KEYS = ("prompt", "negative_prompt", "conditions", "seed", "output")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate a video (or a batch from a prompts file) from a prompt and optional conditions",
        description=(
            "Generate a video with VideoComposerPipeline. Conditions come from files: the extractors run on the given "
            "videos and images, or --conditions reads the tensors `videocomposer extract` wrote. Without --model the "
            "installed demo model (64x64, 8 frames, trained on synthetic shapes) is used. A batch: --prompts-file "
            "items.jsonl --output-dir DIR, split across processes under `accelerate launch`, resumable."
        ),
    )
    parser.add_argument("--model", help="pipeline folder or Hub id (default: the installed demo model)")
    parser.add_argument("--prompt", help="text prompt (one video; or use --prompts-file)")
    parser.add_argument("--negative-prompt", help="prompt of the unconditional branch (default '')")
    parser.add_argument(
        "--conditions",
        help="safetensors file of condition tensors written by `videocomposer extract`: their frames "
        "and size must fit the video, and their values lie in [0, 1] (depth [0, 10]; 0-255 images are refused)",
    )
    parser.add_argument("--motion-from", help="video whose codec motion vectors steer the motion")
    parser.add_argument("--strokes", help="stroke JSON file (videocomposer.motion format): hand-drawn motion")
    parser.add_argument(
        "--stroke-source-size",
        type=int,
        help="render --strokes as codec vectors of a source video with this short side, then resize them as the "
        "original's mv_transforms (336 = WebVid, the released weights' distribution; default: at the condition size, "
        "as the embedded demo model was trained)",
    )
    parser.add_argument("--depth-from", help="video whose MiDaS depth is the depth condition (needs --depth-model)")
    parser.add_argument("--depth-model", default="Intel/dpt-large",
                        help="DPT depth model: a local folder, or a Hub id read from the local cache first")  # fmt: skip
    parser.add_argument("--sketch-from", help="video whose sketch (Canny, or PiDiNet with --sketch-model) is used")
    parser.add_argument("--sketch-model", help="PiDiNet table5_pidinet.pth (default: Canny edges)")
    parser.add_argument(
        "--canny-thresholds",
        type=int,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="Canny thresholds of --sketch-from without --sketch-model (default: the demo model's)",
    )
    parser.add_argument("--sketch", help="one sketch image (bright strokes on dark) for every frame")
    parser.add_argument("--image", help="image for the local_image condition (e.g. the first frame)")
    parser.add_argument("--style", help="style image (needs a model with an image encoder)")
    parser.add_argument("--mask",
                        help="mask image, white = region to generate (with --masked-from, drawn on its frame: the "
                             "same aspect ratio)")  # fmt: skip
    parser.add_argument("--masked-from", help="video to inpaint inside --mask")
    parser.add_argument("--no-preserve-unmasked", action="store_true",
                        help="with a mask, regenerate the whole frame as the original does (default: the frame "
                             "outside the mask is kept, see pipelines/inpainting.py)")  # fmt: skip
    parser.add_argument("--frames", type=int,
                        help="frames to generate (default: the conditions file's, else the model's trained length)")  # fmt: skip
    parser.add_argument(
        "--context-length",
        type=int,
        help="long video: temporal window in frames (default: the model's trained length); longer videos run their "
        "temporal attention over overlapping windows",
    )
    parser.add_argument("--context-stride", type=int, default=4, help="long video: frames between windows (default 4)")
    parser.add_argument(
        "--noise-type",
        choices=("random", "shuffle_context", "bspline"),  # pipelines.long_video_noise.NOISE_TYPES (no torch here)
        default="random",
        help="long video: initial noise beyond one window (default random; shuffle_context: FreeNoise's)",
    )
    parser.add_argument(
        "--frame-chunk-size",
        type=int,
        help="run the UNet's per-frame layers and the VAE decode on this many frames at a time (less memory)",
    )
    parser.add_argument("--height", type=int, help="video height (default: the model's native size)")
    parser.add_argument("--width", type=int, help="video width (default: the model's native size)")
    parser.add_argument("--fps", type=float, default=4.0, help="sampling rate of source videos and output fps")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps (`videocomposer demo` uses 30)")
    parser.add_argument(
        "--guidance",
        type=float,
        help="classifier-free guidance scale (default: 3.0 with the demo model: the model's recommended "
        "`default_guidance_scale` in its model_index.json; the original's 9.0 for a model that names none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial noise (a batch item may set its own)")
    parser.add_argument("--output", help="output video (.mp4 or .gif)")
    parser.add_argument("--grid", action="store_true", help="also write OUTPUT_grid.EXT: conditions | generated")
    parser.add_argument(
        "--prompts-file",
        type=Path,
        help='JSONL batch, one object a line: {"prompt": ..., optional "conditions": FILE.safetensors (relative to '
        'the prompts file), "seed": int (default --seed), "output": NAME.mp4|.gif (default NNNNN.mp4), '
        '"negative_prompt": ...}; needs --output-dir',
    )
    parser.add_argument("--output-dir", type=Path, help="folder of the batch's videos (with --prompts-file)")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class BatchItem:
    """One video to generate: a checked line of a ``--prompts-file``, or the options of a single video."""

    prompt: str
    negative_prompt: str | None
    conditions: Path | None
    seed: int
    output: Path


@dataclass(frozen=True)
class ModelFacts:
    """What the checks need to know about a model: read from a local folder's config files, or from the pipeline."""

    conditions: dict[str, int]  # the STC encoder's condition_channels
    has_image_encoder: bool
    vae_scale_factor: int
    sample_size: int | None
    num_frames: int | None = None
    vae_channels: int | None = None  # the VAE decoder's full-size layer (first block_out_channels)

    @classmethod
    def of(cls, stc: Mapping, unet: Mapping, vae: Mapping, has_image_encoder: bool) -> ModelFacts:
        """The facts of a model from its components' configs (JSON dicts, or the loaded models' configs)."""
        blocks = vae.get("block_out_channels") or [None]
        return cls(dict(stc.get("condition_channels", {})), has_image_encoder, 2 ** (len(blocks) - 1),
                   unet.get("sample_size"), unet.get("num_frames"), blocks[0])  # fmt: skip


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def condition_file_shapes(path: str | os.PathLike, where: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a conditions safetensors file, read from its header only; checks keys and shapes."""
    from safetensors import SafetensorError, safe_open

    from videocomposer.conditions import condition_inputs, condition_of_input

    try:
        with safe_open(os.fspath(path), framework="pt") as opened:
            shapes = {key: tuple(opened.get_slice(key).get_shape()) for key in opened.keys()}
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{where}: {path} is not a readable safetensors file ({error})") from None
    unknown = sorted(set(shapes) - set(condition_inputs()))
    if unknown or not shapes:
        raise ValueError(f"{where}: {path} holds {sorted(shapes)}; expected condition tensors named among "
                         f"{list(condition_inputs())} (as `videocomposer extract` writes them)")  # fmt: skip
    for key, shape in shapes.items():
        if len(shape) != 5 or shape[0] != 1:
            raise ValueError(f"{where}: {key} has shape {shape}; expected (1, C, F, H, W)")
        missing = sorted(set(condition_of_input(key).inputs) - set(shapes))  # e.g. masked_video without mask
        if missing:
            raise ValueError(f"{where}: {key} goes with {missing}, which {path} lacks")
    frames = {shape[2] for shape in shapes.values()}
    if len(frames) != 1:
        raise ValueError(f"{where}: the tensors have different frame counts {sorted(frames)}")
    return shapes


def check_args(args: argparse.Namespace) -> list[BatchItem] | None:
    """Raise ValueError / FileNotFoundError naming the option, before anything heavy is imported or loaded.

    Returns the checked batch items with ``--prompts-file``, else ``None``.
    """
    batch = args.prompts_file is not None
    if batch:
        if args.prompt is not None or args.output is not None:
            raise ValueError("--prompts-file: give either --prompt with --output, or --prompts-file with --output-dir")
        if args.output_dir is None:
            raise ValueError("--prompts-file needs --output-dir")
        per_video = [_option(name) for name in (*_INPUT_FILES, "grid") if getattr(args, name) not in (None, False)]
        if per_video:
            raise ValueError(f"{', '.join(per_video)}: not with --prompts-file; give each item a \"conditions\" "
                             f"file (written by `videocomposer extract`)")  # fmt: skip
    else:
        if args.prompt is None or args.output is None:
            raise ValueError("give --prompt and --output (one video), or --prompts-file and --output-dir (a batch)")
        if args.output_dir is not None:
            raise ValueError("--output-dir goes with --prompts-file; for one video give --output")
        if not args.prompt.strip():
            raise ValueError("--prompt: expected a non-empty prompt")
    for name in _INPUT_FILES:
        path = getattr(args, name)
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f"{_option(name)}: no such file: {path}")
    for first, second in (("sketch_from", "sketch"), ("motion_from", "strokes")):
        if getattr(args, first) is not None and getattr(args, second) is not None:
            raise ValueError(f"{_option(first)} and {_option(second)} give the same condition: use one")
    if args.conditions is not None:
        from videocomposer.conditions import condition_of_input  # torch: read with the file, not for --help

        shapes = condition_file_shapes(args.conditions, "--conditions")
        for name, conditions in _INPUT_FILES.items():
            clash = sorted(key for key in shapes if condition_of_input(key).name in conditions)
            if getattr(args, name) is not None and clash:
                raise ValueError(f"--conditions already holds {clash}; drop {_option(name)} or that tensor")
        frames = next(iter(shapes.values()))[2]
        if args.frames is not None and args.frames != frames:
            raise ValueError(f"--frames: {args.frames} given, but the --conditions tensors have {frames} frames")
    if (args.mask is None) != (args.masked_from is None):
        raise ValueError("--mask and --masked-from go together: the mask marks what to regenerate in that video")
    if args.sketch_model is not None and args.sketch_from is None:
        raise ValueError("--sketch-model needs --sketch-from")
    if args.canny_thresholds is not None and (args.sketch_from is None or args.sketch_model is not None):
        raise ValueError("--canny-thresholds needs --sketch-from without --sketch-model")
    if args.sketch_model is not None and not os.path.exists(args.sketch_model):
        raise FileNotFoundError(f"--sketch-model: no such file or folder: {args.sketch_model}")
    if args.depth_from is not None and _looks_like_path(args.depth_model) and not os.path.isdir(args.depth_model):
        raise FileNotFoundError(f"--depth-model: no such folder: {args.depth_model}")
    if args.stroke_source_size is not None and args.strokes is None:
        raise ValueError("--stroke-source-size needs --strokes")
    for name in ("context_length", "frame_chunk_size", "stroke_source_size", "frames", "steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"{_option(name)}: expected a positive integer, got {getattr(args, name)}")
    if args.context_stride < 1 or (args.context_length is not None and args.context_stride > args.context_length):
        raise ValueError(f"--context-stride: expected an integer in [1, --context-length], got {args.context_stride}")
    for name in ("height", "width"):
        if getattr(args, name) is not None and getattr(args, name) < 8:
            raise ValueError(f"--{name}: expected an integer >= 8, got {getattr(args, name)}")
    if not 0 < args.fps < float("inf"):
        raise ValueError(f"--fps: expected a positive number, got {args.fps}")
    if args.guidance is not None:
        check_finite("--guidance", args.guidance)
    if args.seed < 0:
        raise ValueError(f"--seed: expected a non-negative integer, got {args.seed}")
    check_model_path(args.model)
    if batch:
        check_output_folder(args.output_dir, "--output-dir")
        return read_prompts_file(args.prompts_file, args.output_dir, args.seed, args.frames)
    output = Path(args.output)
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"--output: expected a {' or '.join(VIDEO_SUFFIXES)} file, got {args.output}")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"--output: the folder {output.parent} does not exist")
    check_output_file(output, "--output")
    return None


def check_model_path(model: str | None) -> None:
    """A ``--model`` that names a local path must be a pipeline folder (a Hub id is ``name`` or ``owner/name``)."""
    if model is None:
        return
    if os.path.exists(model) and not os.path.isdir(model):
        raise ValueError(f"--model: {model} is a file, not a pipeline folder (give the folder holding "
                         "model_index.json)")  # fmt: skip
    if not os.path.isdir(model) and _looks_like_path(model):
        raise FileNotFoundError(f"--model: no such folder: {model}")


def check_input_files(args: argparse.Namespace) -> None:
    """Read every input image and the first frame of every input video (a broken file fails now, not after the model
    has loaded); the mask must have the aspect ratio of the video it is drawn on."""
    for name in _IMAGE_OPTIONS:
        if getattr(args, name) is not None:
            image_size(getattr(args, name), _option(name))
    for name in _VIDEO_OPTIONS:
        if getattr(args, name) is not None:
            video_size(getattr(args, name), _option(name))
    if args.mask is not None and args.masked_from is not None:
        check_mask_aspect(args.mask, args.masked_from, "--mask", "--masked-from")


def read_prompts_file(path: Path, output_dir: Path, default_seed: int, frames: int | None) -> list[BatchItem]:
    """The checked items of a JSONL prompts file (every line, every conditions file's header, unique outputs)."""
    if not path.is_file():
        raise FileNotFoundError(f"--prompts-file: no such file: {path}")
    items: list[BatchItem] = []
    outputs: dict[Path, int] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"--prompts-file {path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not a JSON object ({error})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
        unknown = sorted(set(row) - set(_ITEM_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; expected some of {list(_ITEM_KEYS)}")
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f'{where}: "prompt" must be a non-empty string, got {prompt!r}')
        negative = row.get("negative_prompt")
        if negative is not None and not isinstance(negative, str):
            raise ValueError(f'{where}: "negative_prompt" must be a string, got {negative!r}')
        seed = row.get("seed", default_seed)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f'{where}: "seed" must be a non-negative integer, got {seed!r}')
        conditions = row.get("conditions")
        if conditions is not None:
            if not isinstance(conditions, str):
                raise ValueError(f'{where}: "conditions" must be a file path, got {conditions!r}')
            conditions = path.parent / conditions
            if not conditions.is_file():
                raise FileNotFoundError(f'{where}: "conditions": no such file: {conditions}')
            shapes = condition_file_shapes(conditions, where)
            item_frames = next(iter(shapes.values()))[2]
            if frames is not None and item_frames != frames:
                raise ValueError(f"{where}: --frames is {frames}, but {conditions} has {item_frames} frames")
        name = row.get("output", f"{len(items):05d}.mp4")
        if not isinstance(name, str) or Path(name).name != name or Path(name).suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"{where}: \"output\" must be a file name ending in {' or '.join(VIDEO_SUFFIXES)} "
                             f"(no folders), got {name!r}")  # fmt: skip
        output = output_dir / name
        if output in outputs:
            raise ValueError(f"{where}: output {name!r} is also line {outputs[output]}'s")
        outputs[output] = number
        items.append(BatchItem(prompt, negative, conditions, seed, output))
    if not items:
        raise ValueError(f"--prompts-file: {path} has no items")
    return items


def model_facts_from_folder(folder: str | os.PathLike) -> ModelFacts:
    """The facts of a local pipeline folder from its JSON config files (no weights read)."""
    folder = Path(folder)
    try:
        index, stc, unet, vae = (
            json.loads((folder / name).read_text())
            for name in ("model_index.json", "stc_encoder/config.json", "unet/config.json", "vae/config.json")
        )
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--model: {folder} is not a VideoComposer pipeline folder ({error})") from None
    return ModelFacts.of(stc, unet, vae, has_image_encoder=(index.get("image_encoder") or [None])[0] is not None)


def model_folder(model: str | None) -> Path | None:
    """The local folder of ``model`` (the installed demo model for ``None``), or ``None`` for a Hub id."""
    from videocomposer.demo import DEMO_MODEL_DIR

    if model is None:
        if not (DEMO_MODEL_DIR / "model_index.json").is_file():
            raise FileNotFoundError(
                f"the demo model is not installed at {DEMO_MODEL_DIR}; build it with `python -m videocomposer.demo.build`"
            )
        return DEMO_MODEL_DIR
    return Path(model) if os.path.isdir(model) else None


def load_pipeline(model: str | None):
    """The pipeline of ``model`` (default: the installed demo model), in eval mode on the CPU."""
    from pipelines.pipeline_videocomposer import VideoComposerPipeline

    folder = model_folder(model)
    try:
        return VideoComposerPipeline.from_pretrained(str(folder) if folder is not None else model)
    except OSError as error:
        if folder is None:  # diffusers' own message points at a stack trace the command does not show
            raise ValueError(f"--model: there is no folder {model!r}, and as a Hub model id it is neither in the "
                             "local Hub cache nor downloadable now; give a pipeline folder (with model_index.json) "
                             "or the id of a Hub model") from None  # fmt: skip
        raise ValueError(f"--model: cannot load {model!r} ({error})") from None


def check_model(args: argparse.Namespace, facts: ModelFacts, condition_keys: set[str]) -> tuple[int, int]:
    """Check the options and condition tensors against the model; return the (height, width) to generate."""
    from videocomposer.conditions import condition_of_input, video_size

    branches = facts.conditions
    for option, needed in _INPUT_FILES.items():
        if getattr(args, option, None) is not None and needed and not set(needed) & set(branches):
            raise ValueError(f"{_option(option)}: the model has no {' or '.join(map(repr, sorted(needed)))} condition "
                             f"(it has {list(branches)})")  # fmt: skip
    for key in sorted(condition_keys):
        if condition_of_input(key).name not in branches:
            raise ValueError(f"--conditions: {key} needs the model's {condition_of_input(key).name!r} condition, "
                             f"which it lacks (it has {list(branches)})")  # fmt: skip
    if getattr(args, "style", None) is not None and not facts.has_image_encoder:
        raise ValueError("--style: the model has no image encoder, so it takes no style image")
    try:
        _, height, width = video_size({"sample_size": facts.sample_size}, facts.vae_scale_factor, None, args.height,
                                      args.width)  # fmt: skip
    except ValueError:
        raise ValueError("--height/--width: the model's config has no sample_size; give both") from None
    for name, value in (("height", height), ("width", width)):
        if value % facts.vae_scale_factor:
            raise ValueError(f"--{name}: expected a multiple of the VAE factor {facts.vae_scale_factor}, got {value}")
    return height, width


def build_conditions(
    args: argparse.Namespace, branches: tuple[str, ...], height: int, width: int, frames: int
) -> dict:  # fmt: skip
    """The pipeline's condition keyword arguments from the files given on the command line (``branches``: the model's
    STC conditions)."""
    import torch

    from condition_extractors import (
        CannyExtractor,
        DepthExtractor,
        MaskGenerator,
        SketchExtractor,
        extract_conditions,
        load_image,
    )
    from videocomposer.conditions import condition_of_input
    from videocomposer.demo.components import SKETCH_CANNY_THRESHOLDS
    from videocomposer.motion import load_strokes, strokes_to_motion_vectors

    # the option naming a video -> the extractor it runs (built only when the option is given)
    makers = {
        "motion_from": lambda: "motion",
        "depth_from": lambda: DepthExtractor(load_depth_model(args.depth_model)),
        "sketch_from": lambda: (
            CannyExtractor(*(args.canny_thresholds or SKETCH_CANNY_THRESHOLDS))
            if args.sketch_model is None
            else SketchExtractor(model=args.sketch_model)
        ),
        "masked_from": lambda: MaskGenerator(mask=args.mask),
    }
    extractors_by_video: dict[str, list] = {}
    for option, make in makers.items():
        if getattr(args, option) is not None:
            extractors_by_video.setdefault(getattr(args, option), []).append(make())
    conditions: dict[str, torch.Tensor] = {}
    if args.conditions is not None:
        conditions.update(load_condition_file(args.conditions))
    for video, extractors in extractors_by_video.items():
        conditions.update(
            extract_conditions(video, extractors, num_frames=frames, fps=args.fps, height=height, width=width)
        )
    if args.strokes is not None:
        strokes = load_strokes(args.strokes).scaled_to(width, height).strokes
        conditions["motion_vectors"] = strokes_to_motion_vectors(
            strokes, frames, height, width, source_short_side=args.stroke_source_size
        )
    for option, key in (("sketch", "single_sketch" if "single_sketch" in branches else "sketch"), ("image", "image")):
        if getattr(args, option) is not None:
            spec = condition_of_input(key)
            image = load_image(getattr(args, option), *spec.size(height, width), name=_option(option))
            image = image.mean(0, True) if spec.channels == 1 else image  # a sketch is grey
            conditions[key] = image[None, :, None].expand(-1, -1, frames, -1, -1).contiguous()  # (1, C, F, H, W)
    return conditions


def load_condition_file(path: str | os.PathLike) -> dict:
    """The float32 condition tensors of a file checked by `condition_file_shapes`."""
    from safetensors.torch import load_file

    return {key: value.float() for key, value in load_file(os.fspath(path)).items()}


def video_frames(args: argparse.Namespace, facts: ModelFacts, item: BatchItem | None = None) -> int:
    """The frame count: the conditions file's (``--frames``, when given, must equal it), else ``--frames``, else the
    model's trained length (1 for a config without one)."""
    conditions = item.conditions if item is not None else args.conditions
    from_file = next(iter(condition_file_shapes(conditions, "--conditions").values()))[2] if conditions else None
    return from_file or args.frames or facts.num_frames or 1


def check_video(
    args: argparse.Namespace, facts: ModelFacts, items: list[BatchItem] | None, height: int, width: int
) -> None:  # fmt: skip
    """The video fits in memory, and the conditions files fit the video (frames, size) and their value ranges."""
    for item in items if items is not None else [None]:
        frames = video_frames(args, facts, item)
        if facts.vae_channels:
            check_video_memory(frames, height, width, facts.vae_channels, args.frame_chunk_size)
        conditions = item.conditions if item is not None else args.conditions
        if conditions is not None:
            where = f"--prompts-file item {item.output.name}: {conditions}" if item is not None else "--conditions"
            check_condition_fit(condition_file_shapes(conditions, where), frames, height, width, where)
    if args.conditions is not None:
        from videocomposer.conditions import check_condition_values

        check_condition_values(load_condition_file(args.conditions), where="--conditions: ")


def run(args: argparse.Namespace) -> int:
    items = check_args(args)
    folder = model_folder(args.model)
    files = [item.conditions for item in items] if items is not None else [args.conditions]
    condition_keys = {key for path in files if path for key in condition_file_shapes(path, "--conditions")}
    conditions = None
    if folder is not None:  # a local folder: every check, and the inputs read, before the weights are
        facts = model_facts_from_folder(folder)
        height, width = check_model(args, facts, condition_keys)
        check_input_files(args)
        check_video(args, facts, items, height, width)
        if items is None:
            conditions = build_conditions(args, facts.conditions, height, width, video_frames(args, facts))
    else:
        check_input_files(args)
    state = process_state() if items is not None else None  # a broken launch is refused before loading too
    pipeline = load_pipeline(args.model)
    facts = ModelFacts.of(pipeline.stc_encoder.config, pipeline.unet.config, pipeline.vae.config,
                          has_image_encoder=pipeline.image_encoder is not None)  # fmt: skip
    height, width = check_model(args, facts, condition_keys)
    if folder is None:  # a Hub model: its config is known now
        check_video(args, facts, items, height, width)
    pipeline.enable_long_video(
        context_length=args.context_length, context_stride=args.context_stride, noise_type=args.noise_type
    )
    if args.frame_chunk_size is not None:
        pipeline.unet.enable_frame_chunking(args.frame_chunk_size)
    if items is not None:
        return run_batch(args, state, pipeline, facts, items, height, width)

    from condition_extractors.image import open_image_file
    from videocomposer.visualize import condition_grid, save_video

    frames = video_frames(args, facts)
    window = pipeline.long_video_settings.windows
    if frames > window.context_length:
        print(f"long video: {frames} frames, temporal attention over windows of {window.context_length} frames")
    if conditions is None:
        conditions = build_conditions(args, facts.conditions, height, width, frames)
    style = None if args.style is None else open_image_file(args.style, "RGB", "--style")
    item = BatchItem(args.prompt, args.negative_prompt, args.conditions, args.seed, Path(args.output))
    video = generate_one(args, pipeline, item, conditions, frames, height, width, style_image=style)
    output = save_video(video, args.output, fps=args.fps)
    print(f"video: {output}")
    if args.grid:
        grid_path = output.with_name(f"{output.stem}_grid{output.suffix}")
        grid = condition_grid(video, conditions, height=max(height, 128))
        print(f"grid: {save_video(grid, grid_path, fps=args.fps)}")
    return 0


def generate_one(
    args: argparse.Namespace,
    pipeline,
    item: BatchItem,
    conditions: dict,
    frames: int,
    height: int,
    width: int,
    style_image=None,
):
    """The video ``(F, H, W, 3)`` of ``item`` with the command's sampling options (steps, guidance, chunking) and a CPU
    generator seeded with the item's seed, so a video does not depend on the device or the number of processes."""
    import torch

    return pipeline(
        item.prompt,
        negative_prompt=item.negative_prompt,
        **conditions,
        style_image=style_image,
        num_frames=frames,
        height=height,
        width=width,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        generator=torch.Generator().manual_seed(item.seed),
        decode_chunk_size=args.frame_chunk_size,
        preserve_unmasked="mask" in conditions and not getattr(args, "no_preserve_unmasked", False),
    ).frames[0]


def run_batch(
    args: argparse.Namespace, state, pipeline, facts: ModelFacts, items: list[BatchItem], height: int, width: int
) -> int:
    """Generate the items not written yet, split across the processes of ``state`` (accelerate's `PartialState`);
    each output written once."""
    from accelerate.utils import broadcast_object_list, gather_object
    from tqdm.auto import tqdm

    from videocomposer.visualize import save_video

    # The main process decides what is left to do, so that every process splits the same list.
    todo = [[i for i, item in enumerate(items) if not item.output.exists()] if state.is_main_process else None]
    if state.is_main_process:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    todo = [items[i] for i in broadcast_object_list(todo)[0]]
    pipeline.to(state.device)
    pipeline.set_progress_bar_config(disable=True)  # one bar over the items, on the main process
    written = []
    with state.split_between_processes(todo) as mine:
        for item in tqdm(mine, desc="generating", disable=not state.is_main_process):
            conditions = load_condition_file(item.conditions) if item.conditions is not None else {}
            conditions = {key: value.to(state.device) for key, value in conditions.items()}
            frames = video_frames(args, facts, item)
            video = generate_one(args, pipeline, item, conditions, frames, height, width)
            written.append(str(save_video(video, item.output, fps=args.fps)))
    every = gather_object(written)  # also the barrier: the summary counts every process's outputs
    if state.is_main_process:
        print(f"{args.output_dir}: {len(every)} written, {len(items) - len(todo)} existing "
              f"({state.num_processes} process{'es' if state.num_processes > 1 else ''})")  # fmt: skip
    finish_processes(state)
    return 0
