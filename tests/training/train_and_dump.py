"""`torchrun ... tests/training/train_and_dump.py OUT.json TRAIN_ARGS...`: train, then each process writes the losses
of its steps (the mean over processes, so the same on every rank) to `OUT.json` with `.{rank}` before the suffix."""

import json
import os
import sys
from pathlib import Path

from videocomposer.training.arguments import parse_args
from videocomposer.training.trainer import train

if __name__ == "__main__":
    out = Path(sys.argv[1])
    result = train(parse_args(sys.argv[2:]))
    rank = os.environ.get("RANK", "0")
    path = out.with_name(f"{out.stem}.{rank}{out.suffix}")
    path.write_text(json.dumps({"global_step": result.global_step, "losses": result.losses}))
