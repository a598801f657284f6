"""``accelerate launch -m videocomposer.train ...``: fine-tune VideoComposer (see ``--help`` and the README).

A user error (``ValueError`` / ``OSError``: an argument, a path, the data, a checkpoint that does not fit) is one line
on stderr and exit status 2; a run that diverged is one line and status 1; any other exception keeps its traceback. With several processes
each process that fails prints its line, prefixed with its rank (``[rank 1]``) except on the main process."""

import logging
import os
import sys
from collections.abc import Sequence

from videocomposer.training.arguments import parse_args

PROG = "videocomposer train"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check and train; returns the exit status (0, or 2 / 1 for a user error / a diverged run)."""
    try:
        args = parse_args(argv)  # `--help` and bad arguments end here, before torch, diffusers or transformers load
    except ValueError as error:
        return _report(error, 2)
    import diffusers
    import transformers

    from videocomposer.training.divergence import TrainingDivergedError
    from videocomposer.training.trainer import train

    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    diffusers.utils.logging.set_verbosity_warning()
    transformers.utils.logging.set_verbosity_warning()
    try:
        train(args)
    except TrainingDivergedError as error:
        return _report(error, 1)
    except (ValueError, OSError) as error:
        return _report(error, 2)
    return 0


def _report(error: Exception, status: int) -> int:
    rank = int(os.environ.get("RANK", "0"))
    prefix = f"[rank {rank}] " if rank else ""
    print(f"{prefix}{PROG}: error: {error}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
