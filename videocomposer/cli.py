"""The `videocomposer` command line: `videocomposer <command> [options]`.

Each sub-command lives in its own module of `videocomposer.commands` and exposes
`register(subparsers) -> None`, which adds an argparse parser whose `func` default runs the command. A command that
sets the default `passthrough=True` receives the arguments it does not declare as `args.passthrough_args`.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videocomposer", description="Compositional, motion-controllable video synthesis (VideoComposer)."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="command")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if not getattr(args, "passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.passthrough_args = unknown  # e.g. `train`, whose options belong to `videocomposer.train`
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"videocomposer {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
