"""`videocomposer degrade`: synthetic old-film damage on a clean clip, with the true defect masks."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "degrade",
        help="damage a clean clip like an old film (blotches, dust, scratches, flicker, grain, ...)",
        description=(
            "`videocomposer degrade clean.mp4 --output damaged/ --defects-output truth/ --severity heavy --seed 0` "
            "writes the damaged clip and, optionally, the true masks of its local defects (white = defect): the "
            "ground truth that `videocomposer restore --masks-output` can be compared with. A folder output is "
            "lossless PNGs 00000.png...; a video output is lossless RGB H.264."
        ),
    )
    parser.add_argument("clip", type=Path, help="clean clip: a video file or a folder of frames (PNG, TIFF, JPEG)")
    parser.add_argument("--output", type=Path, required=True, help="damaged clip: a video file or a folder")
    parser.add_argument("--defects-output", type=Path, help="true defect masks: a video file or a folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the damage")
    parser.add_argument("--severity", default="medium", help="light, medium or heavy")
    parser.add_argument("--no-global-damage", action="store_true",
                        help="local defects only (no fading, flicker, blur, grain, compression)")  # fmt: skip
    parser.set_defaults(func=run)


def check_output(path: Path, option: str) -> None:
    """The output's folder has to exist and be writable (one-line error before any work)."""
    from ._checks import check_output_folder

    if not path.parent.is_dir():
        raise FileNotFoundError(f"{option}: the folder {path.parent} does not exist")
    check_output_folder(path.parent, option)


def run(args: argparse.Namespace) -> int:
    from videocomposer.restoration.degrade import SEVERITIES, OldFilmDegradation
    from videocomposer.restoration.frames_io import check_clip_path, read_frames, write_frames

    if args.severity not in SEVERITIES:
        raise ValueError(f"--severity: expected one of {list(SEVERITIES)}, got {args.severity!r}")
    check_clip_path(args.clip, "clip")
    check_output(args.output, "--output")
    if args.defects_output is not None:
        check_output(args.defects_output, "--defects-output")
    frames, fps = read_frames(args.clip)
    damaged = OldFilmDegradation(args.severity, seed=args.seed, global_damage=not args.no_global_damage)(frames)
    write_frames(args.output, damaged.frames, fps)
    print(f"wrote {args.output} ({len(frames)} frames, {args.severity}, seed {args.seed})")
    if args.defects_output is not None:
        write_frames(args.defects_output, damaged.masks, fps)
        print(f"wrote {args.defects_output} ({damaged.masks.mean():.2%} of the pixels are defects)")
    return 0
