"""`videocomposer convert` and `videocomposer convert-modelscope`: argument parsing and the run functions.

Heavy libraries are imported inside the run functions, so that `videocomposer --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _json_object(value: str) -> dict[str, Any]:
    """A JSON object given inline (``'{"dim": 32}'``) or as a path to a ``.json`` file."""
    try:
        parsed = json.loads(value if value.lstrip().startswith("{") else Path(value).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object or a .json file: {error}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def add_convert_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``convert`` and ``convert-modelscope``."""
    parser = subparsers.add_parser(
        "convert",
        help="convert the original VideoComposer release into a diffusers pipeline folder",
        description=(
            "Turns the original release files into a folder that VideoComposerPipeline.from_pretrained loads: "
            "`videocomposer convert --unet non_ema_228000.pth --sd-checkpoint v2-1_512-ema-pruned.ckpt "
            "--open-clip open_clip_pytorch_model.bin --output DIR`. Files are read tensors-only and memory-mapped; "
            "the folder is written under a temporary name and renamed when complete."
        ),
    )
    parser.add_argument("--unet", type=Path, required=True, help="non_ema_228000.pth (UNet + STC encoder)")
    parser.add_argument("--sd-checkpoint", type=Path, required=True, help="v2-1_512-ema-pruned.ckpt (VAE)")
    parser.add_argument("--open-clip", type=Path, required=True, help="open_clip_pytorch_model.bin (ViT-H-14)")
    parser.add_argument("--output", type=Path, required=True, help="new output folder")
    parser.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32", help="weight dtype")
    parser.add_argument("--push-to-hub", metavar="REPO", help="upload the finished folder to this Hub repo")
    parser.add_argument(
        "--original-config",
        type=_json_object,
        metavar="JSON",
        help="original UNet constructor arguments that differ from the release (JSON or .json file)",
    )
    parser.add_argument("--open-clip-config", type=_json_object, metavar="JSON",
                        help="open_clip model config (JSON or .json file; default: bundled ViT-H-14)")  # fmt: skip
    parser.set_defaults(func=run_convert)

    parser = subparsers.add_parser(
        "convert-modelscope",
        help="start a VideoComposer UNet + STC encoder from ModelScope text-to-video weights (diffusers format)",
        description=(
            "Writes DIR/unet and DIR/stc_encoder: the text-to-video UNet with 8 extra condition input channels and "
            "a fresh STC encoder whose output is exactly zero, so the result equals the text-to-video model until "
            "trained."
        ),
    )
    parser.add_argument("--unet", required=True, help="folder or Hub id of a diffusers UNet3DConditionModel")
    parser.add_argument("--subfolder", help="the UNet's subfolder (e.g. unet for a whole pipeline repo)")
    parser.add_argument("--output", type=Path, required=True, help="new output folder")
    parser.add_argument("--conditions", nargs="+", help="STC branches (default: the release's six)")
    parser.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32", help="weight dtype")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh weights")
    parser.set_defaults(func=run_convert_modelscope)


def run_convert(args: argparse.Namespace) -> int:
    from .release import convert_release

    output = convert_release(
        unet=args.unet,
        sd_checkpoint=args.sd_checkpoint,
        open_clip=args.open_clip,
        output=args.output,
        dtype=args.dtype,
        original_config=args.original_config,
        open_clip_config=args.open_clip_config,
        push_to_hub=args.push_to_hub,
    )
    print(f"wrote {output} (load with VideoComposerPipeline.from_pretrained({str(output)!r}))")
    return 0


def run_convert_modelscope(args: argparse.Namespace) -> int:
    from .modelscope import convert_modelscope

    output = convert_modelscope(
        args.unet, args.output, conditions=args.conditions, subfolder=args.subfolder, dtype=args.dtype, seed=args.seed
    )
    print(f"wrote {output}/unet and {output}/stc_encoder")
    return 0
