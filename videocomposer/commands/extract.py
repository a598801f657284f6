"""`videocomposer extract`: conditions of one video into a safetensors file, or of a whole dataset into a cache."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="extract conditions from a video (or a dataset) with the registered condition extractors",
        description=(
            "One video: `videocomposer extract clip.mp4 --conditions motion depth --output conds.safetensors` "
            "writes the pipeline keyword arguments (motion_vectors, depth, ...). A dataset: `videocomposer extract "
            "--dataset DIR --captions-file captions.csv --conditions motion sketch --cache DIR` writes one "
            "safetensors per clip (resumable, atomic) for training."
        ),
    )
    parser.add_argument("video", nargs="?", help="a video file (mp4, mov, webm, mkv, gif)")
    parser.add_argument("--conditions", nargs="+", required=True, help="extractor names, e.g. motion depth sketch")
    parser.add_argument("--output", type=Path, help="safetensors file for one video's conditions")
    parser.add_argument("--dataset", type=Path, help="folder of videos (with --captions-file and --cache)")
    parser.add_argument("--captions-file", type=Path, help="CSV or JSONL captions of the dataset")
    parser.add_argument("--cache", type=Path, help="cache folder: one safetensors file per clip")
    parser.add_argument("--depth-model", help="DPT depth model: a local folder or hub id (for `depth`)")
    parser.add_argument("--sketch-model", help="PiDiNet weights table5_pidinet.pth (for `sketch`, `single_sketch`)")
    parser.add_argument("--mask", help="a mask image (white = hole) instead of a random mask (for `mask`)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--fps", type=float, default=4.0)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=256)
    parser.set_defaults(func=run)


def extractor_kwargs(args: argparse.Namespace) -> dict[str, dict]:
    """Per-extractor keyword arguments from the command line's model / mask options."""
    kwargs: dict[str, dict] = {}
    for option, names, key in (
        (args.depth_model, ("depth",), "model"),
        (args.sketch_model, ("sketch", "single_sketch"), "model"),
        (args.mask, ("mask",), "mask"),
    ):
        if option is None:
            continue
        wanted = [name for name in names if name in args.conditions]
        if not wanted:
            raise ValueError(f"--{key if key == 'mask' else names[0] + '-model'} is given but --conditions has none "
                             f"of {list(names)}")  # fmt: skip
        kwargs.update({name: {key: option} for name in wanted})
    return kwargs


def run(args: argparse.Namespace) -> int:
    kwargs = extractor_kwargs(args)
    if args.dataset is not None:
        if args.video is not None or args.output is not None:
            raise ValueError("--dataset: give either a video with --output, or --dataset with --cache, not both")
        if args.captions_file is None or args.cache is None:
            raise ValueError("--dataset needs --captions-file and --cache")
        if not args.dataset.is_dir():
            raise FileNotFoundError(f"--dataset: no such folder: {args.dataset}")
        from videocomposer.data.video_dataset import VideoTextDataset, write_condition_cache

        if args.height != args.width:
            resolution = (args.height, args.width)
        else:
            resolution = args.height
        dataset = VideoTextDataset(
            args.dataset, args.captions_file, num_frames=args.frames, fps=args.fps, resolution=resolution,
            conditions=args.conditions, condition_kwargs=kwargs,
        )  # fmt: skip
        counts = write_condition_cache(dataset, args.cache)
        print(f"cache {args.cache}: {counts['written']} written, {counts['existing']} existing, "
              f"{counts['skipped']} skipped")  # fmt: skip
        return 0

    if args.video is None or args.output is None:
        raise ValueError("give a video and --output FILE.safetensors (or --dataset DIR --captions-file F --cache DIR)")
    if not os.path.isfile(args.video):
        raise FileNotFoundError(f"video: no such file: {args.video}")
    if args.output.suffix != ".safetensors":
        raise ValueError(f"--output: expected a .safetensors file, got {args.output}")
    from safetensors.torch import save_file

    from condition_extractors import extract_conditions

    conditions = extract_conditions(
        args.video, args.conditions, num_frames=args.frames, fps=args.fps, height=args.height, width=args.width,
        **kwargs,
    )  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    save_file({k: v.contiguous() for k, v in conditions.items()}, str(tmp))
    os.replace(tmp, args.output)
    for name, value in conditions.items():
        print(f"{name}: {tuple(value.shape)}")
    print(f"wrote {args.output}")
    return 0
