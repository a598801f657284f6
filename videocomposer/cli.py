"""The `videocomposer` command line: `videocomposer <command> [options]`.

Each sub-command lives in its own module of `videocomposer.commands` and exposes `register(subparsers) -> None`, which
adds an argparse parser whose `func` default runs the command (modules named `_*` are helpers shared by commands). A
command that sets the default `passthrough=True` receives the arguments it does not declare as
`args.passthrough_args`. Command modules import nothing heavy at import time (torch, diffusers, the training code), so
that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default once: not where there is none (``None``, or ``False`` for a flag), nor
    where the help text already says it (it mentions "default")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or "").lower():
            return action.help
        return super()._get_help_string(action)


class CommandParser(argparse.ArgumentParser):
    """The parser of every sub-command: defaults shown in ``--help``."""

    def __init__(self, *args, formatter_class: type[argparse.HelpFormatter] = HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videocomposer", description="Compositional, motion-controllable video synthesis (VideoComposer)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="command", parser_class=CommandParser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # helpers shared by commands
            continue
        importlib.import_module(f"{commands.__name__}.{info.name}").register(subparsers)
    return parser


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-command parsers of ``parser`` by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if unknown:
        if not getattr(args, "passthrough", False):
            command_parsers(parser)[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
        args.passthrough_args = unknown  # e.g. `train`, whose options belong to `videocomposer.train`
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"videocomposer {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
