"""StyleSV's training-side options on the embedded demo model: fine-tune for the same steps and seed, then measure.

Variants, each from the shipped demo weights (64x64, 8 frames), ``--steps`` optimizer steps of batch ``--batch``,
the same clips, noise, timesteps and dropout (one seeded generator per run):
  - plain:            UNet + STC encoder, AdamW lr 1e-4 (the baseline);
  - adversarial:      plain + the temporal adversarial loss (``videocomposer.training.adversarial``: TSM
                      discriminator on the one-step x0 latents, hinge, R1 0.1, weight ``--adv-weight``);
  - stc_tsm:          plain with the STC encoder's parameter-free temporal shift switched on;
  - lora:             static temporal-attention LoRA (rank 4, lr 1e-3), everything else frozen;
  - lowrank_temporal: frame-modulated low-rank deltas on the same projections (rank 4, lr 1e-3), the rest frozen.
Measured: cost per step (process CPU time, 1 thread; ratio to plain), autograd activation bytes saved by one step's
forward (+ adversary's step) and trained parameter + optimizer-state bytes; then on held-out clips with their codec
motion vectors (DDIM ``--sample-steps``, guidance 3, the same noise for every variant): centroid error against the
ground-truth trajectory (motion agreement, px) and flicker = warping error generated / real. For ``lowrank_temporal``
vs ``lora`` also a 64-frame generation (no condition; the fine-tune saw 8 frames): the repetition profile
``mean_t |x_t - x_{t+lag}|`` of the frames at lags 1, 4, 8, 16, 32.

Run: ``python benchmarks/bench_stylesv.py [--steps 40] [--eval-clips 8]``; appends a section to RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import platform
import sys
import time

import numpy as np
import torch
from bench_control import FIRST_SEED, object_masks
from results_file import write_section

HEADING = "## bench_stylesv: StyleSV training options on the demo model"
VARIANTS = ("plain", "adversarial", "stc_tsm", "lora", "lowrank_temporal")
LAGS = (1, 4, 8, 16, 32)


def saved_activation_bytes(step) -> tuple[int, object]:
    """Bytes autograd saves for backward while ``step()`` runs its forwards (and the adversary's double-backward)."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = step()
    return total, result


def build_variant(base, variant: str):
    """A fresh copy of the pipeline set up for ``variant``: (pipeline, trained parameters, lr)."""
    from videocomposer.models.stc_encoder import STCEncoder

    pipeline = type(base)(**{k: copy.deepcopy(v) for k, v in base.components.items()})
    pipeline.set_progress_bar_config(disable=True)
    unet, stc = pipeline.unet, pipeline.stc_encoder
    if variant == "stc_tsm":
        shifted = STCEncoder(**{**stc.config, "temporal_shift": True})
        shifted.load_state_dict(stc.state_dict())
        pipeline.stc_encoder = stc = shifted
        pipeline.register_modules(stc_encoder=shifted)
    if variant in ("plain", "adversarial", "stc_tsm"):
        return pipeline, [*unet.parameters(), *stc.parameters()], 1e-4
    stc.requires_grad_(False)
    if variant == "lora":
        from videocomposer.training.temporal_lora import add_temporal_lora, temporal_lora_config

        return pipeline, add_temporal_lora(unet, temporal_lora_config(4)), 1e-3
    from videocomposer.models.lowrank_temporal import LowRankTemporalConfig, add_lowrank_temporal

    return pipeline, add_lowrank_temporal(unet, LowRankTemporalConfig(rank=4, num_anchors=5, anchor_spacing=4)), 1e-3


def finetune(base, clips, variant: str, args) -> dict:
    from videocomposer.demo.train_demo import DemoTrainer
    from videocomposer.models.temporal_discriminator import TemporalDiscriminator
    from videocomposer.training.adversarial import TemporalAdversary
    from videocomposer.training.condition_dropout import sample_condition_keep_masks
    from videocomposer.training.objective import add_training_noise, eps_prediction_loss

    pipeline, parameters, lr = build_variant(base, variant)
    data = DemoTrainer(pipeline, clips, batch_size=args.batch, seed=0)  # batches, latents, text; not its optimizer
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=1e-2)
    adversary = None
    if variant == "adversarial":
        torch.manual_seed(0)
        adversary = TemporalAdversary(TemporalDiscriminator(), "hinge", args.adv_weight, 0, 0.1, 2e-4, 500)
    pipeline.unet.train(), pipeline.stc_encoder.train()
    one_process = argparse.Namespace(num_processes=1)

    def step():
        index = torch.randint(len(clips), (args.batch,), generator=data.generator)
        stc_inputs = pipeline.prepare_conditions(data.batch_conditions(index), args.batch, "cpu")
        stc_inputs = {"motion": stc_inputs["motion"]}
        keep = sample_condition_keep_masks(["text", *stc_inputs], args.batch, data.generator)
        noise = torch.randn(data.latent_mean[index].shape, generator=data.generator)
        latents = data.latent_mean[index] + data.latent_std[index] * noise
        text_keep = keep.pop("text").view(-1, 1, 1)
        text = data.text[index] * text_keep + data.empty_text * (1 - text_keep)
        noised = add_training_noise(data.scheduler, latents, data.generator)
        condition = pipeline.stc_encoder(stc_inputs, latent_size=(8, 8), condition_scale=keep)
        mse, prediction = eps_prediction_loss(pipeline.unet, noised, text, condition, return_prediction=True)
        loss = mse
        if adversary is not None:
            loss = loss + adversary.generator_term(data.scheduler, noised, prediction, latents, 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        if adversary is not None:
            adversary.discriminator_step(one_process)
        return mse.item()  # the denoising loss only, comparable across variants

    activation_bytes, _ = saved_activation_bytes(step)  # step 1
    start = time.process_time()
    losses = [step() for _ in range(args.steps - 1)]
    seconds = (time.process_time() - start) / (args.steps - 1)
    state_bytes = sum(p.numel() * p.element_size() for p in parameters) * 3  # weights + AdamW's two moments
    if adversary is not None:
        state_bytes += sum(p.numel() * p.element_size() for p in adversary.discriminator.parameters()) * 3
    pipeline.unet.eval(), pipeline.stc_encoder.eval()
    return {"pipeline": pipeline, "seconds": seconds, "activations": activation_bytes, "state": state_bytes,
            "loss": float(np.mean(losses[-10:]))}  # fmt: skip


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

    from videocomposer.commands.generate import load_pipeline
    from videocomposer.data.synthetic import clip_seeds, generate_clip
    from videocomposer.demo.training_data import make_clips

    torch.set_num_threads(1)
    wall = time.time()
    base = load_pipeline(None)
    base.set_progress_bar_config(disable=True)
    clips = make_clips(args.train_clips, "train", seed=1)
    eval_clips = [
        (s, generate_clip(s, 8, 64, 64, num_objects=1)) for s in clip_seeds("eval", args.eval_clips, FIRST_SEED)
    ]
    rows = {"shipped (no fine-tune)": {**evaluate(base, eval_clips, args)}}
    profiles = {}
    for variant in args.variants:
        result = finetune(base, clips, variant, args)
        rows[variant] = {**result, **evaluate(result["pipeline"], eval_clips, args)}
        if variant in ("lora", "lowrank_temporal"):
            profiles[variant] = repetition_profile(result["pipeline"], args)
        print(variant, {k: v for k, v in rows[variant].items() if k not in ("pipeline", "per_clip_flicker")})
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

{args.steps} steps x batch {args.batch} on {args.train_clips} demo training clips (motion condition), seed 0 for every
variant; {args.eval_clips} held-out clips, DDIM {args.sample_steps} steps, guidance 3. Wall {time.time() - wall:.0f} s.
Command: `{command.strip()}`

""" + "\n".join(lines) + "\n" + profile_lines  # fmt: skip
    print(text)
    if not args.no_write:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
