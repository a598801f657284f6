"""`videocomposer train ...` = `python -m videocomposer.train ...` (one process). For several GPUs or mixed precision
set up by `accelerate config`, use `accelerate launch -m videocomposer.train` (configs in examples/accelerate/); for
data parallel on CPUs, `ACCELERATE_USE_CPU=1 torchrun --nproc_per_node N -m videocomposer.train`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a VideoComposer pipeline folder on videos + captions (`videocomposer train --help`)",
        add_help=False,
    )
    parser.set_defaults(func=run, passthrough=True, passthrough_args=[])


def run(args: argparse.Namespace) -> int:
    from videocomposer.train import main

    return main(args.passthrough_args)
