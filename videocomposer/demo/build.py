"""Build the demo model with the project's trainer: ``python -m videocomposer.demo.build`` (see ``--help``).

Steps, each resumable (rerun the same command after an interruption and it continues):

1. the starting pipeline: ``--init-from`` a model folder (fine-tuning), or a new one in ``WORK/init`` (a VAE fitted
   on the training frames or ``--vae-dir``'s; the tokenizer, a frozen random text encoder, random UNet, STC encoder);
2. the training set in ``WORK/data``: clips, captions and the condition cache;
3. ``videocomposer.train`` (compositional stage, every condition, EMA) in chunks of ``--chunk-steps`` steps into
   ``WORK/run`` (its accelerate checkpoints: ``--resume_from_checkpoint latest``); after each chunk the averaged model
   is written to ``--output-dir`` as a complete ``VideoComposerPipeline`` folder (swapped in atomically) with a model
   card stating the command, the time spent and the loss. Training stops after ``--max-steps`` steps in all or
   ``--train-minutes`` minutes of this invocation, whichever comes first.

``make demo-model`` builds from scratch; the shipped model's card names the command that made it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from videocomposer.atomic_files import atomic_folder

from . import DEMO_MODEL_DIR

PIPELINE_ENTRIES = (
    "model_index.json",
    "pipeline_videocomposer.py",
    "vae",
    "text_encoder",
    "tokenizer",
    "unet",
    "stc_encoder",
    "scheduler",
)  # what a pipeline folder holds (the run's folder has checkpoints too)
#: The build's per-condition drop probabilities (``NAME=P``; the others: ``--condition-dropout-prob``).
MOTION_FIRST_DROPOUT = ("text=0.3", "motion=0.05", "sketch=0.8", "depth=0.9", "masked=0.85", "local_image=0.85")
STATE_NAME = "build_state.json"  # in WORK/run: minutes and steps so far, over every invocation


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m videocomposer.demo.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=str(DEMO_MODEL_DIR), help="Pipeline folder to write.")
    parser.add_argument("--work-dir", default="build/demo", help="Starting model, training set and checkpoints.")
    parser.add_argument("--init-from", help="Fine-tune this pipeline folder instead of a new model.")
    parser.add_argument("--init-note", help="How the --init-from model was trained, for the card.")
    parser.add_argument("--vae-dir", help="New model: reuse this fitted AutoencoderKL folder.")
    parser.add_argument("--vae-minutes", type=float, nargs="+", default=[13.0, 9.0], help="VAE phases (minutes).")
    parser.add_argument("--vae-learning-rates", type=float, nargs="+", default=[1e-3, 4e-4], help="Their lrs.")
    parser.add_argument("--train-clips", type=int, default=4000, help="Training clips (seeds 0..N-1).")
    parser.add_argument("--stroke-motion-prob", type=float, default=0.6, help="Clips whose motion is a stroke.")
    parser.add_argument(
        "--window-clip-prob",
        type=float,
        default=0.5,
        help="Clips cut from a 2-8x longer clip: slower motion, as one window of a long video sees it.",
    )
    parser.add_argument("--max-steps", type=int, default=20000, help="Training steps in all (over every resume).")
    parser.add_argument("--train-minutes", type=float, default=60.0, help="Training time of this invocation.")
    parser.add_argument("--chunk-steps", type=int, default=500, help="Steps between written models.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--lr-warmup-steps", type=int, default=100)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument(
        "--condition-dropout-prob",
        type=float,
        default=0.5,
        help="Per-condition drop probability (the original's 0.5; higher: more samples steered by one condition).",
    )
    parser.add_argument(
        "--condition-dropout-overrides",
        nargs="+",
        metavar="NAME=P",
        default=list(MOTION_FIRST_DROPOUT),
        help="NAME=P drop probabilities for these conditions (videocomposer.train's option): by default the motion is "
        "nearly always kept and the conditions that give the object's place away mostly dropped, so that most samples "
        "are steered by the motion alone.",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def check_args(args: argparse.Namespace) -> None:
    for name in ("train_clips", "max_steps", "chunk_steps", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(args, name)}")
    for name in ("stroke_motion_prob", "window_clip_prob"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise ValueError(
                f"--{name.replace('_', '-')}: expected a probability in [0, 1], got {getattr(args, name)}"
            )
    if not args.train_minutes > 0:
        raise ValueError(f"--train-minutes: expected a positive number, got {args.train_minutes}")
    if len(args.vae_minutes) != len(args.vae_learning_rates):
        raise ValueError("--vae-minutes and --vae-learning-rates: expected one learning rate per phase")
    for name in ("init_from", "vae_dir"):
        if (value := getattr(args, name)) is not None and not os.path.isdir(value):
            raise ValueError(f"--{name.replace('_', '-')}: {value!r} is not a folder")


def initial_pipeline(args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    """The folder training starts from, and how its weights came about (for the card)."""
    if args.init_from is not None:
        return Path(args.init_from), args.init_note or f"the model in {args.init_from}"
    init = work / "init"
    if (init / "model_index.json").is_file():
        return init, json.loads((init / "init_note.json").read_text())["note"]
    import numpy as np
    from diffusers import AutoencoderKL, DDIMScheduler

    from pipelines.pipeline_videocomposer import ORIGINAL_SCHEDULER_CONFIG, VideoComposerPipeline

    from .components import build_stc_encoder, build_text_encoder, build_tokenizer, build_unet, build_vae
    from .fit_vae import fit_vae
    from .training_data import training_frames

    if args.vae_dir is None:
        vae_dir = work / "vae"
        frames = training_frames(min(args.train_clips, 1500), seed=args.seed)
        frames = frames[np.random.default_rng(args.seed).permutation(len(frames))]
        vae = build_vae(args.seed)
        for phase, (minutes, learning_rate) in enumerate(zip(args.vae_minutes, args.vae_learning_rates)):
            mse = fit_vae(vae, frames, vae_dir, minutes, learning_rate=learning_rate, seed=args.seed + phase)
        note = f"VAE fitted here (reconstruction MSE {mse:.4f}); UNet and STC encoder random"
    else:
        vae_dir, note = Path(args.vae_dir), f"VAE from {args.vae_dir}; UNet and STC encoder random"
    tokenizer = build_tokenizer()
    pipeline = VideoComposerPipeline(
        vae=AutoencoderKL.from_pretrained(vae_dir), text_encoder=build_text_encoder(tokenizer, args.seed),
        tokenizer=tokenizer, unet=build_unet(args.seed), stc_encoder=build_stc_encoder(args.seed),
        scheduler=DDIMScheduler(**ORIGINAL_SCHEDULER_CONFIG),
    )  # fmt: skip
    with atomic_folder(init, replace=True) as partial:
        pipeline.save_pretrained(partial)
        (partial / "init_note.json").write_text(json.dumps({"note": note}))
    return init, note


def train_arguments(args: argparse.Namespace, start: Path, data, run: Path, max_steps: int) -> list[str]:
    """``videocomposer.train`` arguments of one chunk (up to ``max_steps`` steps in all)."""
    return [
        "--pretrained_model_name_or_path", str(start), *data.train_arguments(), "--output_dir", str(run),
        "--stage", "compositional", "--train_batch_size", str(args.batch_size),
        "--max_train_steps", str(max_steps), "--checkpointing_steps", str(args.chunk_steps),
        "--checkpoints_total_limit", "2", "--resume_from_checkpoint", "latest",
        "--learning_rate", str(args.learning_rate), "--lr_scheduler", "constant_with_warmup",
        "--lr_warmup_steps", str(args.lr_warmup_steps), "--use_ema", "--ema_decay", str(args.ema_decay),
        "--mixed_precision", "no", "--seed", str(args.seed),
        "--condition_dropout_prob", str(args.condition_dropout_prob),
        "--condition_dropout_overrides", *args.condition_dropout_overrides,
    ]  # fmt: skip


def publish(run: Path, output: Path, *card) -> None:
    """Copy the pipeline ``run`` holds into ``output`` (a temporary sibling, then swapped in) with its card (the
    arguments of :func:`~.model_card.write_model_card` after the path); the configs lose ``_name_or_path`` (the
    folder it was loaded from on the training machine, no use to anyone else)."""
    from .model_card import write_model_card

    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(output, replace=True) as partial:
        for entry in run.iterdir():
            if entry.name in PIPELINE_ENTRIES:
                (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, partial / entry.name)
        for config in [partial / "model_index.json", *partial.glob("*/config.json")]:
            values = json.loads(config.read_text())
            if values.pop("_name_or_path", None) is not None:
                config.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
        write_model_card(partial / "README.md", *card)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    check_args(args)
    import numpy as np
    from accelerate.state import AcceleratorState

    from videocomposer.training.arguments import parse_args
    from videocomposer.training.trainer import train

    from .training_data import write_training_set

    command = "python -m videocomposer.demo.build " + shlex.join(argv if argv is not None else sys.argv[1:])
    work, output = Path(args.work_dir), Path(args.output_dir)
    work.mkdir(parents=True, exist_ok=True)
    start, init_note = initial_pipeline(args, work)
    data = write_training_set(work / "data", args.train_clips, seed=args.seed,
                              stroke_motion_prob=args.stroke_motion_prob,
                              window_clip_prob=args.window_clip_prob)  # fmt: skip
    run = work / "run"  # the trainer creates it
    state_path = run / STATE_NAME
    state = json.loads(state_path.read_text()) if state_path.is_file() else {"minutes": 0.0, "steps": 0, "loss": None}
    began = time.time()
    while state["steps"] < args.max_steps and time.time() - began < args.train_minutes * 60:
        chunk_start = time.time()
        target = min(args.max_steps, (state["steps"] // args.chunk_steps + 1) * args.chunk_steps)
        result = train(parse_args(train_arguments(args, start, data, run, target)))
        AcceleratorState._reset_state(reset_partial_state=True)  # the next chunk builds a fresh Accelerator
        losses = result.losses[-100:]
        state = {"minutes": state["minutes"] + (time.time() - chunk_start) / 60, "steps": result.global_step,
                 "loss": float(np.mean(losses)) if losses else state["loss"]}  # fmt: skip
        state_path.write_text(json.dumps(state))
        publish(run, output, args, state, command, init_note)
        print(f"step {state['steps']}: loss {state['loss']:.4f}, {state['minutes']:.1f} min -> {output}", flush=True)


if __name__ == "__main__":
    main()
