"""Build and train the demo model from scratch: ``python -m videocomposer.demo.build`` (see ``--help``).

Steps: render the synthetic training clips and extract their conditions; fit the VAE (or reuse ``--vae-dir``);
build the tokenizer and the frozen text encoder; train the UNet and the STC encoder; every ``--checkpoint-every``
steps write the averaged model as a complete ``VideoComposerPipeline`` folder (swapped in atomically, so a loadable
model always exists) with a model card stating the command, the time spent and the loss.

The shipped model took three runs (``make demo-model``)::

    python -m videocomposer.demo.build --output-dir build/demo/phase1 --max-steps 3200
    python -m videocomposer.demo.build --vae-dir build/demo/vae --init-from build/demo/phase1 \
        --output-dir build/demo/phase2 --conditions motion sketch --stc-lr-scale 10 --train-minutes 34
    python -m videocomposer.demo.build --vae-dir build/demo/vae --init-from build/demo/phase2 \
        --conditions motion sketch --stc-lr-scale 10 --stroke-motion-prob 0.5 --train-minutes 14
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from . import DEMO_MODEL_DIR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m videocomposer.demo.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=str(DEMO_MODEL_DIR), help="Pipeline folder to write.")
    parser.add_argument("--work-dir", default="build/demo", help="Folder for the fitted VAE.")
    parser.add_argument("--vae-dir", default=None, help="Reuse a fitted AutoencoderKL folder instead of fitting one.")
    parser.add_argument(
        "--vae-note", default="reused from --vae-dir", help="How the --vae-dir VAE was fitted, for the model card."
    )
    parser.add_argument("--train-clips", type=int, default=2000, help="Synthetic training clips (seeds 0..N-1).")
    parser.add_argument(
        "--vae-minutes",
        type=float,
        nargs="+",
        default=[13.0, 9.0],
        help="VAE fitting phases: minutes of each (with --vae-learning-rates).",
    )
    parser.add_argument(
        "--vae-learning-rates",
        type=float,
        nargs="+",
        default=[1e-3, 4e-4],
        help="Learning rate of each VAE fitting phase.",
    )
    parser.add_argument("--train-minutes", type=float, default=64.0, help="UNet + STC training time budget.")
    parser.add_argument("--max-steps", type=int, default=None, help="Stop UNet + STC training after this many steps.")
    parser.add_argument(
        "--init-from",
        default=None,
        help="Start the UNet and STC encoder from this pipeline folder (e.g. an earlier phase).",
    )
    parser.add_argument("--init-note", default=None, help="How the --init-from model was trained, for the model card.")
    parser.add_argument(
        "--conditions",
        nargs="+",
        default=None,
        help="STC conditions fed during training (default: all); the others are always dropped.",
    )
    parser.add_argument("--stc-lr-scale", type=float, default=1.0, help="Learning-rate multiplier of the STC encoder.")
    parser.add_argument(
        "--stroke-motion-prob",
        type=float,
        default=0.0,
        help="Probability of training on the stroke-rendered trajectory instead of codec vectors.",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--checkpoint-every", type=int, default=200, help="Write the model every N steps.")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    for name in ("train_clips", "batch_size", "checkpoint_every", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(args, name)}")
    if len(args.vae_minutes) != len(args.vae_learning_rates):
        raise ValueError("--vae-minutes and --vae-learning-rates: expected one learning rate per phase")
    if args.init_from is not None and not os.path.isdir(args.init_from):
        raise ValueError(f"--init-from: {args.init_from!r} is not a folder")
    if args.vae_dir is not None and not os.path.isdir(args.vae_dir):
        raise ValueError(f"--vae-dir: {args.vae_dir!r} is not a folder")

    import numpy as np
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler

    from pipelines.pipeline_videocomposer import ORIGINAL_SCHEDULER_CONFIG, VideoComposerPipeline
    from videocomposer.models import STCEncoder, VideoComposerUNet3DModel

    from .components import build_stc_encoder, build_text_encoder, build_tokenizer, build_unet, build_vae
    from .fit_vae import fit_vae
    from .model_card import write_model_card
    from .train_demo import DemoTrainer
    from .training_data import make_clips

    torch.set_num_threads(args.threads)
    command = "python -m videocomposer.demo.build " + shlex.join(argv if argv is not None else sys.argv[1:])
    start = time.time()
    clips = make_clips(args.train_clips, "train", seed=0)
    print(f"{len(clips)} training clips ready in {time.time() - start:.0f}s", flush=True)

    vae_mse = None
    if args.vae_dir is None:
        vae_dir = Path(args.work_dir) / "vae"
        frames = clips.frames.reshape(-1, *clips.frames.shape[2:])
        frames = frames[np.random.default_rng(args.seed).permutation(len(frames))]
        vae = build_vae(args.seed)
        for phase, (minutes, learning_rate) in enumerate(zip(args.vae_minutes, args.vae_learning_rates)):
            vae_mse = fit_vae(vae, frames, vae_dir, minutes, learning_rate=learning_rate, seed=args.seed + phase)
    else:
        vae_dir = Path(args.vae_dir)
    vae = AutoencoderKL.from_pretrained(vae_dir).eval().requires_grad_(False)
    tokenizer = build_tokenizer()
    pipeline = VideoComposerPipeline(
        vae=vae,
        text_encoder=build_text_encoder(tokenizer, args.seed).requires_grad_(False),
        tokenizer=tokenizer,
        unet=build_unet(args.seed)
        if args.init_from is None
        else VideoComposerUNet3DModel.from_pretrained(args.init_from, subfolder="unet"),
        stc_encoder=build_stc_encoder(args.seed)
        if args.init_from is None
        else STCEncoder.from_pretrained(args.init_from, subfolder="stc_encoder"),
        scheduler=DDIMScheduler(**ORIGINAL_SCHEDULER_CONFIG),
    )
    trainer = DemoTrainer(pipeline, clips, args.batch_size, args.learning_rate, stc_lr_scale=args.stc_lr_scale,
                          conditions=args.conditions, stroke_motion_prob=args.stroke_motion_prob, seed=args.seed)  # fmt: skip
    train_start = time.time()

    def checkpoint(step: int, loss: float) -> None:
        output = Path(args.output_dir)
        partial = output.with_name(output.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        trainer.ema_pipeline().save_pretrained(partial)
        write_model_card(
            partial / "README.md", command=command, steps=step, loss=loss, num_clips=len(clips),
            train_minutes=(time.time() - train_start) / 60, total_minutes=(time.time() - start) / 60,
            vae=args.vae_note if vae_mse is None else f"final reconstruction MSE {vae_mse:.4f} (pixels in [-1, 1])",
            earlier=args.init_note, conditions=trainer.conditions, batch_size=args.batch_size, learning_rate=args.learning_rate,
        )  # fmt: skip
        shutil.rmtree(output, ignore_errors=True)
        os.replace(partial, output)
        print(f"checkpoint: step {step}, loss {loss:.4f} -> {output}", flush=True)

    trainer.train(args.train_minutes, args.max_steps, args.checkpoint_every, checkpoint,
                  log=lambda message: print(message, flush=True))  # fmt: skip


if __name__ == "__main__":
    main()
