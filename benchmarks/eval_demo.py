"""`videocomposer eval` on the demo model: the weight-free metrics of its generations vs held-out real clips.

For each held-out synthetic clip (one object, 8 frames, 64x64, seeds never used in training) the demo model
generates, with the clip's caption and the same noise, a video steered by the clip's codec motion vectors ("motion")
and one without any STC condition ("none"). All three sets (real clips, motion-conditioned, unconditioned) are
written as mp4 (crf 12) with the motion conditions as `videocomposer extract`-style safetensors, and
`videocomposer eval` measures each folder: warping error (Lai et al. 2018) and its L1 variant, VBench temporal
flickering, repetition peak, jump ratio, and the codec motion-vector error against the real clip's motion per 16x16
block in the video's pixels (the conditions carry their geometry, `reencode` at the clip's size; a still video is
charged the full motion). The real clips are the baseline (ratio 1.00x); their motion-vector error is not exactly 0
only because of the mp4 round trip. With 8 frames the repetition profile spans lags up to 4 only.

Run: `python benchmarks/eval_demo.py [--num-clips 24] [--steps 25] [--guidance 3]` (about 2 min of CPU);
appends to RESULTS.md. FVD / FID / CLIP need weights and a real model: see `videocomposer eval --help`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results_file import write_section

HEADING = "## eval_demo: weight-free metrics of the demo model (videocomposer eval)"
FIRST_SEED = 2000  # held-out seeds EVAL_SEED_START + 2000 + i: clear of bench_control's and the demo command's
METRICS = ("warping_error", "mean_abs_warping_error", "temporal_flickering", "repetition_peak", "jump_ratio",
           "motion_vector_error")  # fmt: skip
SETS = ("real", "motion", "none")
PASSES = {"main": ["--metrics", *METRICS]}


def write_sets(root: Path, num_clips: int, steps: int, guidance: float, model: str | None) -> dict[str, Path]:
    """Generate and write the three folders and the conditions; returns their paths."""
    import torch
    from safetensors.torch import save_file

    from condition_extractors import MotionVectorExtractor
    from videocomposer.commands.generate import load_pipeline
    from videocomposer.data.synthetic import clip_seeds, encode_mp4, generate_clip
    from videocomposer.demo.components import NUM_FRAMES
    from videocomposer.metrics import MotionGeometry

    folders = {name: root / name for name in (*SETS, "conditions")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    pipeline = load_pipeline(model)
    pipeline.set_progress_bar_config(disable=True)
    size = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    extractor = MotionVectorExtractor()
    for seed in clip_seeds("eval", num_clips, FIRST_SEED):
        clip = generate_clip(seed, NUM_FRAMES, size, size, num_objects=1)
        name = f"clip_{seed}"
        vectors = extractor(torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0)
        motion = vectors.permute(1, 0, 2, 3)[None].contiguous()
        geometry = MotionGeometry("reencode", size, size).to_metadata()  # vectors of the frames at their own size
        save_file({"motion_vectors": motion}, str(folders["conditions"] / f"{name}.safetensors"), metadata=geometry)
        (folders["real"] / f"{name}.mp4").write_bytes(encode_mp4(clip.frames))
        for run, conditions in (("motion", {"motion_vectors": motion}), ("none", {})):
            frames = pipeline(
                clip.caption, **conditions, num_frames=NUM_FRAMES, height=size, width=size,
                num_inference_steps=steps, guidance_scale=guidance, generator=torch.Generator().manual_seed(seed),
            ).frames[0]  # fmt: skip
            pixels = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
            (folders[run] / f"{name}.mp4").write_bytes(encode_mp4(pixels))
    return folders


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="pipeline folder (default: the installed demo model)")
    parser.add_argument("--num-clips", type=int, default=24)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write the videos and reports here instead of a temporary folder")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write RESULTS.md")
    args = parser.parse_args(argv)
    if args.num_clips < 2 or args.steps < 1 or args.threads < 1:
        raise ValueError("--num-clips must be >= 2, --steps and --threads positive")

    import torch

    from videocomposer.cli import main as cli

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        start = time.process_time()
        folders = write_sets(root, args.num_clips, args.steps, args.guidance, args.model)
        generation_cpu = time.process_time() - start
        reports, eval_cpu = {}, dict.fromkeys(SETS, 0.0)
        for name in SETS:
            for label, extra in PASSES.items():
                output = root / f"report_{name}_{label}.json"
                start = time.process_time()
                rc = cli(["eval", "--generated", str(folders[name]), "--conditions", str(folders["conditions"]),
                          *extra, "--output", str(output)])  # fmt: skip
                eval_cpu[name] += time.process_time() - start
                if rc != 0:
                    raise RuntimeError(f"videocomposer eval failed on {folders[name]} (exit {rc})")
                report = json.loads(output.read_text())
                for metric, entry in report["metrics"].items():
                    key = metric if label == "main" else f"{metric} ({label})"
                    value = float("nan") if isinstance(entry, dict) else entry
                    reports[name, key] = (value, report["videos_per_metric"].get(metric, 0))

    rows = []
    for key in dict.fromkeys(key for _, key in reports):
        (real, n_real), (motion, n_motion), (none, n_none) = (reports[name, key] for name in SETS)
        ratio = f"{motion / real:.2f}x / {none / real:.2f}x" if abs(real) >= 1e-3 else "- (real ~ 0)"
        rows.append(f"| {key} | {real:.4f} | {motion:.4f} | {none:.4f} | {ratio} | {n_real}/{n_motion}/{n_none} |")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/eval_demo.py " + " ".join(argv if argv is not None else sys.argv[1:])
    eval_per_video = sum(eval_cpu.values()) / (len(SETS) * args.num_clips)  # both passes
    table = f"""### {stamp}, CPU {platform.machine()}, {args.threads} thread(s), torch {torch.__version__}

{args.num_clips} held-out clips (seeds from {FIRST_SEED} past the evaluation start, one object), {args.steps} DDIM
steps, guidance {args.guidance}; generation {generation_cpu:.0f} s CPU, `videocomposer eval` {eval_per_video:.3f} s
CPU per video. Command: `{command.strip()}`

| metric | real clips | motion-conditioned | unconditioned | motion / real, none / real | videos (real/motion/none) |
|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"  # fmt: skip
    print(table)
    if not args.no_write:
        write_section(HEADING, table)


if __name__ == "__main__":
    main()
