"""`videocomposer extract`: conditions of one video into a safetensors file, or of a whole dataset into a cache.

The dataset mode shards across processes: under `accelerate launch` or `torchrun` each process extracts its share of
the clips (`PartialState.split_between_processes`), writes its own atomic cache entries, and the main process writes
the merged `index.json` once every process is done.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from ._checks import check_mask_aspect, check_output_file, check_output_folder, check_video_memory, video_size
from ._processes import finish_processes, process_state

SKETCH_CONDITIONS = ("sketch", "single_sketch")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="extract conditions from a video (or a dataset) with the registered condition extractors",
        description=(
            "One video: `videocomposer extract clip.mp4 --conditions motion depth --depth-model DPT_DIR --output "
            "conds.safetensors` writes the pipeline keyword arguments (motion_vectors, depth, ...), which "
            "`videocomposer generate --conditions conds.safetensors` reads back. A dataset: `videocomposer extract "
            "--dataset DIR --captions-file captions.csv --conditions motion canny --cache DIR` writes one safetensors "
            "per clip (resumable, atomic) and an index.json for training; run it under `accelerate launch` or "
            "`torchrun` to split the clips across processes."
        ),
    )
    parser.add_argument("video", nargs="?", help="a video file (mp4, mov, webm, mkv, gif)")
    parser.add_argument("--conditions", nargs="+", required=True,
                        help="extractor names, e.g. motion depth canny sketch mask image")  # fmt: skip
    parser.add_argument("--output", type=Path, help="safetensors file for one video's conditions")
    parser.add_argument("--dataset", type=Path, help="folder of videos (with --captions-file and --cache)")
    parser.add_argument("--captions-file", type=Path, help="CSV or JSONL captions of the dataset")
    parser.add_argument("--cache", type=Path, help="cache folder: one safetensors file per clip, and index.json")
    parser.add_argument("--depth-model",
                        help="DPT depth model for `depth`: a local folder, or a Hub id such as Intel/dpt-large "
                             "(read from the local cache first; downloaded only when not offline)")  # fmt: skip
    parser.add_argument("--sketch-model",
                        help="PiDiNet weights table5_pidinet.pth (file or folder) for `sketch` / `single_sketch`; "
                             "without weights use `canny`")  # fmt: skip
    parser.add_argument("--mask", help="a mask image (white = hole) instead of a random mask (for `mask`), drawn on "
                        "the video's frame: the same aspect ratio")  # fmt: skip
    parser.add_argument("--model",
                        help="pipeline folder whose video size and frame count are the defaults of --frames, "
                             "--height and --width (default: the installed demo model, as `generate`)")  # fmt: skip
    parser.add_argument("--frames", type=int,
                        help="frames sampled from each video (default: the model's)")  # fmt: skip
    parser.add_argument("--fps", type=float, default=4.0, help="sampling rate in frames per second")
    parser.add_argument("--raise-fps", action="store_true",
                        help="for a video too short for --frames at --fps, sample at the original's raised rate "
                             "(frames / duration + 1, with a warning) instead of refusing it")  # fmt: skip
    parser.add_argument("--height", type=int,
                        help="video height (default: the model's; conditions other than motion: 1.5x)")  # fmt: skip
    parser.add_argument("--width", type=int,
                        help="video width (default: the model's; conditions other than motion: 1.5x)")  # fmt: skip
    parser.set_defaults(func=run)


def load_depth_model(model: str):
    """``DPTForDepthEstimation`` from a local folder or a Hub id: the local Hub cache first, the network only when
    the cache lacks it and ``HF_HUB_OFFLINE`` is not set. Any failure is one `ValueError` naming ``--depth-model``."""
    from huggingface_hub.constants import HF_HUB_OFFLINE
    from transformers import DPTForDepthEstimation

    if _looks_like_path(model) and not os.path.isdir(model):
        raise FileNotFoundError(f"--depth-model: no such folder: {model}")
    try:
        return DPTForDepthEstimation.from_pretrained(model, local_files_only=True)
    except OSError:
        if os.path.isdir(model) or HF_HUB_OFFLINE:
            reason = "not a DPT model folder" if os.path.isdir(model) else "not in the local Hub cache (offline)"
            raise ValueError(f"--depth-model: cannot load {model!r}: {reason}; give a local DPT folder") from None
    try:
        return DPTForDepthEstimation.from_pretrained(model)
    except OSError as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"--depth-model: cannot load {model!r} ({first_line}); give a local DPT folder") from None


def _looks_like_path(model: str) -> bool:
    """A Hub id is ``name`` or ``owner/name``; anything else (absolute, relative, deeper) is a local path."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or (os.sep != "/" and os.sep in model)


def check_args(args: argparse.Namespace) -> None:
    """Option errors, each naming the option and the way out, before anything heavy is imported."""
    conditions = set(args.conditions)
    sketches = sorted(conditions & set(SKETCH_CONDITIONS))
    if sketches and args.sketch_model is None:
        raise ValueError(f"--conditions {sketches[0]} needs --sketch-model PATH (local PiDiNet table5_pidinet.pth); "
                         f"without weights use `--conditions canny` (Canny-edge sketches)")  # fmt: skip
    if "depth" in conditions and args.depth_model is None:
        raise ValueError("--conditions depth needs --depth-model: a local DPT folder (e.g. a download of "
                         "Intel/dpt-large) or a Hub id")  # fmt: skip
    for option, names in (("--depth-model", ("depth",)), ("--sketch-model", SKETCH_CONDITIONS), ("--mask", ("mask",))):
        if getattr(args, option[2:].replace("-", "_")) is not None and not conditions & set(names):
            raise ValueError(f"{option} is given but --conditions has none of {list(names)}")
    if args.sketch_model is not None and not os.path.exists(args.sketch_model):
        raise FileNotFoundError(f"--sketch-model: no such file or folder: {args.sketch_model}")
    if args.mask is not None and not os.path.isfile(args.mask):
        raise FileNotFoundError(f"--mask: no such file: {args.mask}")
    for name in ("frames", "height", "width"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    if not args.fps > 0 or not math.isfinite(args.fps):
        raise ValueError(f"--fps: expected a positive number, got {args.fps}")
    set_model_defaults(args)
    # the extractors hold the frames as float32 RGB at 1.5x the size: 3 x 1.5 x 1.5 values a pixel (7, rounded up)
    check_video_memory(args.frames, args.height, args.width, channels=7, layer="values of RGB at 1.5x the size",
                       way_out="extract fewer --frames")  # fmt: skip
    if args.dataset is not None:
        if args.video is not None or args.output is not None:
            raise ValueError("--dataset: give either a video with --output, or --dataset with --cache, not both")
        if args.captions_file is None or args.cache is None:
            raise ValueError("--dataset needs --captions-file and --cache")
        if not args.dataset.is_dir():
            raise FileNotFoundError(f"--dataset: no such folder: {args.dataset}")
        if not args.captions_file.is_file():
            raise FileNotFoundError(f"--captions-file: no such file: {args.captions_file}")
        if args.raise_fps:
            raise ValueError("--raise-fps is for one video; a dataset skips the clips too short for --frames")
        check_output_folder(args.cache, "--cache")
        return
    if args.video is None or args.output is None:
        raise ValueError("give a video and --output FILE.safetensors (or --dataset DIR --captions-file F --cache DIR)")
    if not os.path.isfile(args.video):
        raise FileNotFoundError(f"video: no such file: {args.video}")
    if args.output.suffix != ".safetensors":
        raise ValueError(f"--output: expected a .safetensors file, got {args.output}")
    check_output_file(args.output, "--output")
    video_size(args.video, "video")
    if args.mask is not None:
        check_mask_aspect(args.mask, args.video, "--mask", "video")


def set_model_defaults(args: argparse.Namespace) -> None:
    """Fill ``--frames``, ``--height`` and ``--width`` left out from the model's config (the demo model by default, as
    `generate`), so that `generate` takes the conditions as they are."""
    if None not in (args.frames, args.height, args.width) and args.model is None:
        return  # no model needed (a given --model is still checked)
    from .generate import check_model_path, model_facts_from_folder, model_folder

    check_model_path(args.model)
    try:
        folder = model_folder(args.model)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error}; or give --frames, --height and --width") from None
    if folder is None:
        raise ValueError(f"--model: {args.model!r} is not a local folder; give a pipeline folder, or --frames, "
                         f"--height and --width")  # fmt: skip
    from videocomposer.conditions import native_size

    facts = model_facts_from_folder(folder)
    native = native_size({"sample_size": facts.sample_size}, facts.vae_scale_factor)
    for name, value in {"frames": facts.num_frames, "height": native, "width": native}.items():
        if getattr(args, name) is None:
            if value is None:
                raise ValueError(f"--{name}: the model {folder} does not say its {name}; give --{name}")
            setattr(args, name, value)


def extractor_kwargs(args: argparse.Namespace) -> dict[str, dict]:
    """Per-extractor keyword arguments from the command line's model / mask options (the depth model loaded)."""
    kwargs: dict[str, dict] = {}
    if args.depth_model is not None:
        kwargs["depth"] = {"model": load_depth_model(args.depth_model)}
    for name in SKETCH_CONDITIONS:
        if name in args.conditions:
            kwargs[name] = {"model": args.sketch_model}
    if args.mask is not None:
        kwargs["mask"] = {"mask": args.mask}
    return kwargs


def run(args: argparse.Namespace) -> int:
    check_args(args)
    kwargs = extractor_kwargs(args)
    if args.dataset is not None:
        return _extract_dataset(args, kwargs)

    from condition_extractors import extract_conditions
    from videocomposer.conditions import save_condition_file

    try:
        conditions = extract_conditions(
            args.video, args.conditions, num_frames=args.frames, fps=args.fps, height=args.height, width=args.width,
            raise_fps=args.raise_fps, **kwargs,
        )  # fmt: skip
    except ValueError as error:  # a clip too short: name the command line's option, not the Python keyword
        raise ValueError(str(error).replace("pass raise_fps=True", "pass --raise-fps")) from None
    metadata = None
    if "motion_vectors" in conditions:  # how they were made, so `eval` compares them in the video's pixels
        from videocomposer.metrics.motion import MotionGeometry

        metadata = MotionGeometry.of_video(args.video, kwargs.get("motion", {}).get("mode", "original")).to_metadata()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_condition_file(args.output, conditions, metadata)
    for name, value in conditions.items():
        print(f"{name}: {tuple(value.shape)}")
    print(f"wrote {args.output}")
    return 0


def _extract_dataset(args: argparse.Namespace, kwargs: dict[str, dict]) -> int:
    """The clips split across the processes of the launch (one process without a launcher); merged index last."""
    from accelerate.utils import gather_object

    from videocomposer.data.video_dataset import VideoTextDataset, write_cache_index, write_condition_cache

    state = process_state()
    dataset = VideoTextDataset(
        args.dataset, args.captions_file, num_frames=args.frames, fps=args.fps, resolution=(args.height, args.width),
        conditions=args.conditions, condition_kwargs=kwargs,
    )  # fmt: skip
    with state.split_between_processes(list(range(len(dataset)))) as indices:
        counts = write_condition_cache(dataset, args.cache, progress=state.is_main_process, indices=indices)
    every = gather_object([counts])  # one dict per process; also the barrier before the index
    if state.is_main_process:
        index = write_cache_index(dataset, args.cache)
        total = {key: sum(c[key] for c in every) for key in counts}
        print(f"cache {args.cache}: {total['written']} written, {total['existing']} existing, {total['skipped']} "
              f"skipped ({state.num_processes} process{'es' if state.num_processes > 1 else ''}); index {index}")  # fmt: skip
    finish_processes(state)
    return 0
