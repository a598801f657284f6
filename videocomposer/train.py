"""``accelerate launch -m videocomposer.train ...``: fine-tune VideoComposer (see ``--help`` and the README)."""

import logging
from collections.abc import Sequence

from videocomposer.training.arguments import parse_args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)  # `--help` and bad arguments end here, before torch, diffusers or transformers load
    import diffusers
    import transformers

    from videocomposer.training.trainer import train

    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    diffusers.utils.logging.set_verbosity_warning()
    transformers.utils.logging.set_verbosity_warning()
    train(args)


if __name__ == "__main__":
    main()
