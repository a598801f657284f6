"""StyleSV's training-side options on the embedded demo model: fine-tune for the same steps and seed, then measure.

Every variant is a run of the project's trainer (``videocomposer.train``, compositional stage, every condition of
the demo's training set ``videocomposer.demo.training_data``) from the shipped demo weights (64x64, 8 frames),
``--steps`` optimizer steps of batch ``--batch``, seed 0 (the same clips, noise, timesteps and dropout):
  - plain:            UNet + STC encoder, AdamW lr 1e-4 (the baseline);
  - adversarial:      plain + the temporal adversarial loss (``--adversarial_weight``: TSM discriminator on the
                      one-step x0 latents, hinge, R1 0.1, weight ``--adv-weight``);
  - stc_tsm:          plain from a copy of the model whose STC encoder has its parameter-free temporal shift on;
  - lora:             static temporal-attention LoRA (``--trainable lora``, rank 4, lr 1e-3), the rest frozen;
  - lowrank_temporal: frame-modulated low-rank deltas (``--trainable lowrank_temporal``, rank 4, lr 1e-3).
Measured: process CPU seconds per step (1 thread, the run's set-up included; ratio to plain) and the denoising loss
of the last 10 steps; then on held-out clips with their codec motion vectors (DDIM ``--sample-steps``, guidance 3, the
same noise for every variant): centroid error against the ground-truth trajectory (px), flicker = warping error
generated / real, and on a 4-window (32-frame) generation per clip the seam ratio (warping error of the pairs across
window boundaries / the others) and the repetition peak ratio (``bench_long_video``); each with its difference to
plain on the same clips and noise, mean and 95% confidence interval (1.96 standard errors of the paired differences).

Run: ``python benchmarks/bench_stylesv.py [--steps 40] [--eval-clips 8]``; appends a section to RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_control import FIRST_SEED, object_masks
from results_file import write_section

from pipelines import VideoComposerPipeline
from videocomposer.data.synthetic import generate_clip

HEADING = "## bench_stylesv: StyleSV training options on the demo model"
VARIANTS = ("plain", "adversarial", "stc_tsm", "lora", "lowrank_temporal")


def train_variant(variant: str, data, base_dir: Path, work: Path, args) -> dict:
    """Fine-tune ``variant`` with ``videocomposer.train``; returns its pipeline, CPU seconds per step and loss."""
    from accelerate.state import AcceleratorState, PartialState

    from pipelines import VideoComposerPipeline
    from videocomposer.training.arguments import parse_args
    from videocomposer.training.trainer import train

    start_dir = base_dir
    if variant == "stc_tsm":  # the same weights with the STC encoder's temporal shift on
        from videocomposer.models.stc_encoder import STCEncoder

        start_dir = work / "start-stc_tsm"
        if not start_dir.is_dir():
            pipe = VideoComposerPipeline.from_pretrained(base_dir)
            shifted = STCEncoder(**{**pipe.stc_encoder.config, "temporal_shift": True})
            shifted.load_state_dict(pipe.stc_encoder.state_dict())
            pipe.register_modules(stc_encoder=shifted)
            pipe.save_pretrained(start_dir)
    output = work / variant
    flags = {
        "plain": ["--learning_rate", "1e-4"],
        "stc_tsm": ["--learning_rate", "1e-4"],
        "adversarial": ["--learning_rate", "1e-4", "--adversarial_weight", str(args.adv_weight)],
        "lora": ["--learning_rate", "1e-3", "--trainable", "lora", "--rank", "4"],
        "lowrank_temporal": ["--learning_rate", "1e-3", "--trainable", "lowrank_temporal", "--rank", "4"],
    }[variant]
    argv = ["--pretrained_model_name_or_path", str(start_dir), *data.train_arguments(), "--output_dir", str(output),
            "--train_batch_size", str(args.batch), "--max_train_steps", str(args.steps), "--lr_warmup_steps", "0",
            "--checkpointing_steps", str(args.steps + 1), "--mixed_precision", "no", "--seed", "0", *flags]  # fmt: skip
    start = time.process_time()
    result = train(parse_args(argv))
    seconds = (time.process_time() - start) / args.steps
    AcceleratorState._reset_state(reset_partial_state=True)
    PartialState._reset_state()
    pipeline = VideoComposerPipeline.from_pretrained(start_dir if variant in ("lora", "lowrank_temporal") else output)
    if variant in ("lora", "lowrank_temporal"):
        from videocomposer.training.adapters import load_adapter

        load_adapter(pipeline.unet, output)
    pipeline.set_progress_bar_config(disable=True)
    return {"pipeline": pipeline.to(torch.float32), "seconds": seconds, "loss": float(np.mean(result.losses[-10:]))}


def evaluate(pipeline, eval_clips, args) -> dict:
    """Per held-out clip: motion error, flicker ratio, and the seam and repetition ratios of a 32-frame video."""
    from bench_long_video import distance_profile, peak_ratio, seam_pairs

    from condition_extractors import MotionVectorExtractor
    from videocomposer.metrics import centroid_error, mask_centroids, mean_abs_warping_error
    from videocomposer.metrics.warping import pairwise_warping_errors
    from videocomposer.motion.render import render_motion_field

    extractor = MotionVectorExtractor()
    errors, generated, real, seams, peaks = [], [], [], [], []
    long_frames = 4 * 8
    pipeline.enable_long_video()
    seam_mask = seam_pairs(long_frames, pipeline.long_video_settings.windows.windows(long_frames))
    for seed, clip in eval_clips:
        pixels = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
        frames = pipeline(
            clip.caption, motion_vectors=extractor(pixels).permute(1, 0, 2, 3)[None], num_frames=8, height=64,
            width=64, num_inference_steps=args.sample_steps, guidance_scale=3.0,
            generator=torch.Generator().manual_seed(seed),
        ).frames[0]  # fmt: skip
        errors.append(centroid_error(mask_centroids(object_masks(frames)), clip.trajectories[0], missing=90.5))
        generated.append(mean_abs_warping_error(frames))
        real.append(mean_abs_warping_error(clip.frames))
        long_clip = generate_clip(seed, long_frames, 64, 64, num_objects=1)
        stroke = torch.from_numpy(render_motion_field(long_clip.trajectories, [16.0], 64, 64))[None]
        video = pipeline(
            long_clip.caption, motion_vectors=stroke, num_frames=long_frames, height=64, width=64,
            num_inference_steps=args.sample_steps, guidance_scale=3.0, generator=torch.Generator().manual_seed(seed),
        ).frames[0]  # fmt: skip
        pairs = pairwise_warping_errors(video)
        seams.append(pairs[seam_mask].mean() / max(pairs[~seam_mask].mean(), 1e-9))
        peaks.append(peak_ratio(distance_profile(video, 17), 8))
    return {"motion_px": np.array(errors), "flicker": np.array(generated) / np.array(real), "seam": np.array(seams),
            "repetition": np.array(peaks)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--train-clips", type=int, default=32)
    parser.add_argument("--eval-clips", type=int, default=8)
    parser.add_argument("--sample-steps", type=int, default=10)
    parser.add_argument("--adv-weight", type=float, default=0.05)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if min(args.steps - 1, args.batch, args.train_clips, args.eval_clips, args.sample_steps) < 1:
        raise ValueError("--steps must be >= 2 and --batch, --train-clips, --eval-clips, --sample-steps positive")

    import tempfile

    from videocomposer.data.synthetic import clip_seeds
    from videocomposer.demo import DEMO_MODEL_DIR
    from videocomposer.demo.training_data import write_training_set

    torch.set_num_threads(1)
    wall = time.time()
    work = Path(tempfile.mkdtemp(prefix="bench_stylesv-"))
    data = write_training_set(work / "data", args.train_clips, seed=1, progress=False)
    eval_clips = [
        (s, generate_clip(s, 8, 64, 64, num_objects=1)) for s in clip_seeds("eval", args.eval_clips, FIRST_SEED)
    ]
    base = VideoComposerPipeline.from_pretrained(DEMO_MODEL_DIR)
    base.set_progress_bar_config(disable=True)
    rows = {"shipped (no fine-tune)": evaluate(base, eval_clips, args)}
    for variant in args.variants:
        result = train_variant(variant, data, DEMO_MODEL_DIR, work, args)
        rows[variant] = {**result, **evaluate(result["pipeline"], eval_clips, args)}
        print(variant, {k: v for k, v in rows[variant].items() if k != "pipeline"}, flush=True)
    plain = rows.get("plain")

    def cell(row, key, fmt):  # mean, and the difference to plain on the same clips: mean +- 95% interval
        text = fmt.format(row[key].mean())
        if plain is None or row is plain:
            return text
        difference = row[key] - plain[key]
        half = 1.96 * difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else float("nan")
        return f"{text} ({difference.mean():+.3f} +- {half:.3f})"

    lines = ["| variant | step CPU s (vs plain) | denoising loss | motion err px | flicker gen/real | seam ratio "
             "(32 frames) | repetition peak ratio |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, row in rows.items():
        cost = (
            "-"
            if "seconds" not in row
            else f"{row['seconds']:.2f}"
            + (f" ({row['seconds'] / plain['seconds']:.2f}x)" if plain and "seconds" in plain else "")
        )
        loss = f"{row['loss']:.4f}" if "loss" in row else "-"
        lines.append(f"| {name} | {cost} | {loss} | {cell(row, 'motion_px', '{:.2f}')} | "
                     f"{cell(row, 'flicker', '{:.2f}x')} | {cell(row, 'seam', '{:.3f}')} | "
                     f"{cell(row, 'repetition', '{:.3f}')} |")  # fmt: skip
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench_stylesv.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"""### {stamp}, CPU {platform.machine()}, 1 thread, torch {torch.__version__}

{args.steps} steps x batch {args.batch} through `videocomposer.train` on {args.train_clips} demo training clips (every
condition), seed 0 for every variant; {args.eval_clips} held-out clips, DDIM {args.sample_steps} steps, guidance 3.
In brackets: the difference to plain on the same clips and noise, mean +- 95% interval. Wall {time.time() - wall:.0f} s.
Command: `{command.strip()}`

""" + "\n".join(lines) + "\n"  # fmt: skip
    print(text)
    if not args.no_write:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
