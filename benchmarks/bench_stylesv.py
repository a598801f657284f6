"""StyleSV's training-side options on the embedded demo model: fine-tune for the same steps and seed, then measure.

Variants, each a run of the trainer (``videocomposer.training.trainer.train``, as ``videocomposer train`` runs it)
from the shipped demo weights (64x64, 8 frames), ``--steps`` optimizer steps of batch ``--batch``, the same clips
(motion condition from a condition cache), noise, timesteps and dropout (``--seed 0``):
  - plain:            ``--trainable all``: UNet + STC encoder, AdamW lr 1e-4 (the baseline);
  - adversarial:      plain + ``--adversarial_weight`` (TSM discriminator on the one-step x0 latents, hinge, R1 0.1);
  - stc_tsm:          plain from a copy of the demo model whose STC encoder has its temporal shift switched on;
  - lora:             ``--trainable lora --rank 4``, lr 1e-3, everything else frozen;
  - lowrank_temporal: ``--trainable lowrank_temporal --rank 4``, lr 1e-3, the rest frozen.
Measured: cost per step (process CPU time, 1 thread, of a ``--steps`` run minus a 1-step run, over ``--steps - 1``;
a step includes the trainer's VAE encoding and text encoding; ratio to plain), autograd activation bytes saved by
the 1-step run (its one forward and the adversary's step) and trained parameter + optimizer-state bytes; then on
held-out clips with their codec motion vectors (DDIM ``--sample-steps``, guidance 3, the same noise for every
variant): centroid error against the ground-truth trajectory (motion agreement, px) and flicker = warping error
generated / real. For ``lowrank_temporal`` vs ``lora`` also a 64-frame generation (no condition; the fine-tune saw 8
frames): the repetition profile ``mean_t |x_t - x_{t+lag}|`` of the frames at lags 1, 4, 8, 16, 32.

Run: ``python benchmarks/bench_stylesv.py [--steps 40] [--eval-clips 8]``; appends a section to RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_control import FIRST_SEED, object_masks
from results_file import write_section

HEADING = "## bench_stylesv: StyleSV training options on the demo model"
VARIANTS = ("plain", "adversarial", "stc_tsm", "lora", "lowrank_temporal")
LAGS = (1, 4, 8, 16, 32)
#: ``videocomposer.train`` options of each variant (beyond the common ones)
VARIANT_OPTIONS = {
    "plain": ["--trainable", "all", "--learning_rate", "1e-4"],
    "adversarial": ["--trainable", "all", "--learning_rate", "1e-4"],
    "stc_tsm": ["--trainable", "all", "--learning_rate", "1e-4"],
    "lora": ["--trainable", "lora", "--rank", "4", "--learning_rate", "1e-3"],
    "lowrank_temporal": ["--trainable", "lowrank_temporal", "--rank", "4", "--learning_rate", "1e-3"],
}


def saved_activation_bytes(run) -> tuple[int, object]:
    """Bytes autograd saves for backward while ``run()`` runs its forwards (and the adversary's double-backward)."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = run()
    return total, result


def write_training_data(folder: Path, num_clips: int) -> list[str]:
    """Demo-style training clips (8 frames of 64x64 at 8 fps) with their motion conditions cached; returns the
    data options of ``videocomposer.train``."""
    from videocomposer.data.synthetic import write_dataset
    from videocomposer.data.video_dataset import VideoTextDataset, write_cache_index, write_condition_cache

    captions = write_dataset(folder / "videos", num_clips, seed=1, fps=8, num_frames=8, height=64, width=64)
    dataset = VideoTextDataset(folder / "videos", captions, num_frames=8, fps=8, resolution=64, conditions=["motion"])
    write_condition_cache(dataset, folder / "cache", progress=False)
    write_cache_index(dataset, folder / "cache")
    return ["--train_data_dir", str(folder / "videos"), "--captions_file", str(captions), "--conditions", "motion",
            "--conditions_cache_dir", str(folder / "cache"), "--resolution", "64", "--num_frames", "8",
            "--fps", "8"]  # fmt: skip


def tsm_start(base, folder: Path) -> Path:
    """A copy of the demo model whose STC encoder shifts channels in time (same weights)."""
    from videocomposer.models.stc_encoder import STCEncoder

    shifted = STCEncoder(**{**base.stc_encoder.config, "temporal_shift": True})
    shifted.load_state_dict(base.stc_encoder.state_dict())
    type(base)(**{**base.components, "stc_encoder": shifted}).save_pretrained(str(folder))
    return folder


def run_trainer(argv: list[str]):
    """One in-process training run (accelerate's process-wide state reset first, as a fresh launch has it)."""
    from accelerate.state import AcceleratorState, GradientState

    from videocomposer.training.arguments import parse_args
    from videocomposer.training.trainer import train

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    return train(parse_args(argv))


def trained_pipeline(start: Path, output: Path, variant: str):
    """The pipeline a run wrote: a pipeline folder, or the start model with the run's adapter loaded."""
    from pipelines import VideoComposerPipeline
    from videocomposer.training.adapters import load_adapter

    if variant in ("lora", "lowrank_temporal"):
        pipeline = VideoComposerPipeline.from_pretrained(str(start))
        load_adapter(pipeline.unet, output)
    else:
        pipeline = VideoComposerPipeline.from_pretrained(str(output))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(torch.float32)


def trained_bytes(pipeline, output: Path, variant: str, adversarial: bool) -> int:
    """Trained parameter + AdamW state bytes (weights and two moments)."""
    from safetensors.torch import load_file

    from videocomposer.models.temporal_discriminator import TemporalDiscriminator

    if variant in ("lora", "lowrank_temporal"):
        [weights] = [p for p in output.glob("*.safetensors")]
        count = sum(v.numel() for v in load_file(str(weights)).values())
    else:
        count = sum(p.numel() for model in (pipeline.unet, pipeline.stc_encoder) for p in model.parameters())
    if adversarial:
        count += sum(
            p.numel() for p in TemporalDiscriminator(in_channels=pipeline.unet.config.out_channels).parameters()
        )
    return count * 4 * 3


def finetune(start: Path, data: list[str], folder: Path, variant: str, args) -> dict:
    common = ["--pretrained_model_name_or_path", str(start), *data, "--stage", "compositional", "--seed", "0",
              "--train_batch_size", str(args.batch), "--lr_warmup_steps", "0", "--checkpointing_steps", "1000000",
              *VARIANT_OPTIONS[variant]]  # fmt: skip
    if variant == "adversarial":
        common += ["--adversarial_weight", str(args.adv_weight)]
    one = common + ["--output_dir", str(folder / f"{variant}-1"), "--max_train_steps", "1"]
    start_time = time.process_time()
    activation_bytes, _ = saved_activation_bytes(lambda: run_trainer(one))
    one_step = time.process_time() - start_time
    start_time = time.process_time()
    result = run_trainer(common + ["--output_dir", str(folder / variant), "--max_train_steps", str(args.steps)])
    seconds = (time.process_time() - start_time - one_step) / (args.steps - 1)
    pipeline = trained_pipeline(start, folder / variant, variant)
    return {"pipeline": pipeline, "seconds": seconds, "activations": activation_bytes,
            "state": trained_bytes(pipeline, folder / variant, variant, variant == "adversarial"),
            "loss": float(np.mean(result.terms["diffusion"][-10:]))}  # fmt: skip


def evaluate(pipeline, eval_clips, args) -> dict:
    from condition_extractors import MotionVectorExtractor
    from videocomposer.metrics import centroid_error, mask_centroids, warping_error

    extractor = MotionVectorExtractor()
    errors, generated, real = [], [], []
    for seed, clip in eval_clips:
        pixels = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
        frames = pipeline(
            clip.caption, motion_vectors=extractor(pixels).permute(1, 0, 2, 3)[None], num_frames=8, height=64,
            width=64, num_inference_steps=args.sample_steps, guidance_scale=3.0,
            generator=torch.Generator().manual_seed(seed),
        ).frames[0]  # fmt: skip
        errors.append(centroid_error(mask_centroids(object_masks(frames)), clip.trajectories[0], missing=90.5))
        generated.append(warping_error(frames))
        real.append(warping_error(clip.frames))
    return {"motion_px": float(np.mean(errors)), "flicker": float(np.mean(generated) / np.mean(real)),
            "per_clip_flicker": np.array(generated) / np.array(real)}  # fmt: skip


def repetition_profile(pipeline, args) -> list[float]:
    frames = pipeline(
        "a red circle moving to the right on a striped background", num_frames=64, height=64, width=64,
        num_inference_steps=args.sample_steps, guidance_scale=3.0, generator=torch.Generator().manual_seed(7),
    ).frames[0]  # fmt: skip
    return [float(np.abs(frames[lag:] - frames[:-lag]).mean()) for lag in LAGS]


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

    from videocomposer.commands.generate import load_pipeline, model_folder
    from videocomposer.data.synthetic import clip_seeds, generate_clip

    torch.set_num_threads(1)
    wall = time.time()
    base = load_pipeline(None)
    base.set_progress_bar_config(disable=True)
    work = Path(tempfile.mkdtemp(prefix="bench_stylesv-"))
    data = write_training_data(work / "data", args.train_clips)
    eval_clips = [
        (s, generate_clip(s, 8, 64, 64, num_objects=1)) for s in clip_seeds("eval", args.eval_clips, FIRST_SEED)
    ]
    rows = {"shipped (no fine-tune)": {**evaluate(base, eval_clips, args)}}
    profiles = {}
    for variant in args.variants:
        start = tsm_start(base, work / "tsm-start") if variant == "stc_tsm" else model_folder(None)
        result = finetune(start, data, work / "runs", variant, args)
        rows[variant] = {**result, **evaluate(result["pipeline"], eval_clips, args)}
        if variant in ("lora", "lowrank_temporal"):
            profiles[variant] = repetition_profile(result["pipeline"], args)
        print(variant, {k: v for k, v in rows[variant].items() if k not in ("pipeline", "per_clip_flicker")})
    shutil.rmtree(work)
    plain = rows.get("plain")

    def ratio(row, key):
        return f"{row[key] / plain[key]:.2f}x" if plain and key in row else "-"

    def paired(row):  # per-clip flicker ratio minus plain's on the same clip and noise: mean +- standard error
        if not plain:
            return "-"
        difference = row["per_clip_flicker"] - plain["per_clip_flicker"]
        return f"{difference.mean():+.2f} +- {difference.std(ddof=1) / np.sqrt(len(difference)):.2f}"

    lines = ["| variant | step CPU s | vs plain | activations MB | vs plain | params+Adam MB | denoising loss | "
             "motion err px | flicker gen/real | flicker - plain's, per clip |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, row in rows.items():
        if "seconds" in row:
            lines.append(
                f"| {name} | {row['seconds']:.3f} | {ratio(row, 'seconds')} | {row['activations'] / 2**20:.1f} | "
                f"{ratio(row, 'activations')} | {row['state'] / 2**20:.2f} | {row['loss']:.4f} | "
                f"{row['motion_px']:.2f} | {row['flicker']:.2f}x | {paired(row)} |"
            )
        else:
            lines.append(
                f"| {name} | - | - | - | - | - | - | {row['motion_px']:.2f} | {row['flicker']:.2f}x | {paired(row)} |"
            )
    profile_lines = ""
    if profiles:
        profile_lines = "\n64-frame repetition profile (mean |x_t - x_{t+lag}| on [0, 1]; higher at long lags = less " \
            "looping):\n\n| variant | " + " | ".join(f"lag {lag}" for lag in LAGS) + " |\n|---|" + "---|" * len(LAGS) \
            + "\n" + "\n".join(f"| {n} | " + " | ".join(f"{v:.4f}" for v in p) + " |" for n, p in profiles.items()) \
            + "\n"  # fmt: skip
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench_stylesv.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"""### {stamp}, CPU {platform.machine()}, 1 thread, torch {torch.__version__}

Each variant a run of the trainer: {args.steps} steps x batch {args.batch} on {args.train_clips} synthetic clips
(`write_dataset`, 8 frames at 8 fps, motion condition from a cache), seed 0 for every variant; {args.eval_clips} held-out clips, DDIM {args.sample_steps} steps, guidance 3. Wall {time.time() - wall:.0f} s.
Command: `{command.strip()}`

""" + "\n".join(lines) + "\n" + profile_lines  # fmt: skip
    print(text)
    if not args.no_write:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
