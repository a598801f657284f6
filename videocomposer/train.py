"""``accelerate launch -m videocomposer.train ...``: fine-tune VideoComposer (see ``--help`` and the README)."""

import logging
from collections.abc import Sequence

import diffusers
import transformers

from videocomposer.training.arguments import parse_args
from videocomposer.training.trainer import train


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    diffusers.utils.logging.set_verbosity_warning()
    transformers.utils.logging.set_verbosity_warning()
    train(parse_args(argv))


if __name__ == "__main__":
    main()
