"""`videocomposer restore`: find and fill old-film defects (blotches, dust, scratches) of a clip."""

from __future__ import annotations

import argparse
from pathlib import Path

from .degrade import check_output

FILLS = ("auto", "model", "telea", "none")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="detect and fill one-frame defects and line scratches of an old film",
        description=(
            "`videocomposer restore damaged/ --output restored/ --masks-output masks/` detects one-frame defects "
            "(motion-compensated spike detection) and vertical line scratches (or takes --mask), fills each hole from "
            "the neighbouring frames that see the hidden content, and the rest with --fill: the model's "
            "masked-video inpainting (frame kept outside the hole) or OpenCV Telea. Pixels farther than --dilation "
            "px from every detection are written exactly as they were read. A folder output is lossless PNGs 00000.png...; a video output is "
            "lossless RGB H.264."
        ),
    )
    parser.add_argument("clip", type=Path, help="damaged clip: a video file or a folder of frames (PNG, TIFF, JPEG)")
    parser.add_argument("--output", type=Path, required=True, help="restored clip: a video file or a folder")
    parser.add_argument("--masks-output", type=Path, help="write the masks that were filled (white = filled)")
    parser.add_argument("--mask", type=Path,
                        help="your own defect masks (video or folder, white = defect, one per frame) instead of "
                             "detection")  # fmt: skip
    parser.add_argument("--model", help="VideoComposer folder for the generative fill (with --fill model and no "
                                        "--model: the embedded demo model)")  # fmt: skip
    parser.add_argument("--fill", choices=FILLS, default="auto",
                        help="what fills the holes no neighbouring frame sees: the model's masked-video inpainting, "
                             "OpenCV Telea, or nothing; auto = the model given with --model, else Telea (the demo "
                             "model, trained on shapes, fills real footage worse than Telea: benchmarks/RESULTS.md)")  # fmt: skip
    parser.add_argument("--motion", choices=("farneback", "codec"), default="farneback",
                        help="motion compensation: dense Farneback flow or codec motion vectors")  # fmt: skip
    parser.add_argument("--detector", choices=("sdi", "rod"), default="sdi", help="one-frame defect detector")
    parser.add_argument("--no-scratches", action="store_true", help="do not look for vertical line scratches")
    parser.add_argument("--dilation", type=int, default=2, help="grow detections by this many pixels")
    parser.add_argument("--radius", type=int, default=3, help="take hidden content from up to T-radius..T+radius")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps of the generative fill")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generative fill")
    parser.add_argument("--deflicker", action="store_true",
                        help="also match each frame's brightness to a smoothed target (changes every pixel)")  # fmt: skip
    parser.set_defaults(func=run)


def check_args(args: argparse.Namespace) -> None:
    from videocomposer.restoration.frames_io import check_clip_path

    check_clip_path(args.clip, "clip")
    check_output(args.output, "--output")
    if args.masks_output is not None:
        check_output(args.masks_output, "--masks-output")
    if args.mask is not None:
        check_clip_path(args.mask, "--mask")
    for name in ("dilation", "radius", "steps"):
        if getattr(args, name) < (0 if name == "dilation" else 1):
            raise ValueError(f"--{name}: expected a {'non-negative' if name == 'dilation' else 'positive'} integer, "
                             f"got {getattr(args, name)}")  # fmt: skip
    if args.fill == "auto":
        args.fill = "model" if args.model is not None else "telea"
    if args.model is not None and args.fill != "model":
        raise ValueError(f"--model is given but --fill is {args.fill!r}; use --fill model")
    if args.fill == "model":
        from .generate import model_folder

        folder = model_folder(args.model)
        if folder is not None and not (folder / "model_index.json").is_file():
            raise FileNotFoundError(f"--model: no model_index.json in {folder}")


def read_user_masks(path: Path, shape: tuple[int, int, int]):
    """Boolean masks `(F, H, W)` of a mask clip (white = defect); they have to match the clip's frames."""
    from videocomposer.restoration.frames_io import read_frames

    masks = read_frames(path)[0].max(axis=-1) > 127
    if masks.shape != shape:
        raise ValueError(f"--mask: {masks.shape[0]} frames of {masks.shape[1]}x{masks.shape[2]}, the clip has "
                         f"{shape[0]} of {shape[1]}x{shape[2]}")  # fmt: skip
    return masks


def run(args: argparse.Namespace) -> int:
    check_args(args)
    from tqdm.auto import tqdm

    from videocomposer.restoration.detect import detect_defects
    from videocomposer.restoration.fill import restore_clip, spatial_filler
    from videocomposer.restoration.frames_io import read_frames, write_frames

    frames, fps = read_frames(args.clip)
    if args.mask is not None:
        masks = read_user_masks(args.mask, frames.shape[:3])
    filler = None
    if args.fill == "model":
        from videocomposer.restoration.model_fill import model_filler

        from .generate import load_pipeline

        pipe = load_pipeline(args.model)
        pipe.set_progress_bar_config(disable=True)
    elif args.fill == "telea":
        filler = spatial_filler
    if args.mask is None:
        with tqdm(total=len(frames), desc="detect", unit="frame") as bar:
            masks = detect_defects(frames, args.motion, args.detector, args.dilation, not args.no_scratches,
                                   progress=bar.update).masks  # fmt: skip
    with tqdm(total=len(frames), desc="fill", unit="frame") as bar:
        if args.fill == "model":
            filler = model_filler(pipe, num_inference_steps=args.steps, seed=args.seed)
        restored = restore_clip(frames, masks, filler, args.radius, args.motion, args.deflicker, progress=bar.update)
    write_frames(args.output, restored, fps)
    print(f"wrote {args.output} ({len(frames)} frames, {masks.mean():.3%} of the pixels filled)")
    if args.masks_output is not None:
        write_frames(args.masks_output, masks, fps)
        print(f"wrote {args.masks_output}")
    return 0
