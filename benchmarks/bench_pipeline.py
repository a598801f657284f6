"""Seconds per step of VideoComposerPipeline and its overhead over the bare model calls it makes.

A 4-step, 8-frame 64x64 generation (latent 8x8) with the tiny offline components of tests/conftest.py on CPU, text only
and with two conditions (motion vectors + depth), classifier-free guidance on (one batched UNet call of batch 2 per
step). Baseline, same process: the same 4 UNet calls on the same inputs (after one STC pass when there are
conditions), nothing else. Overhead = pipeline / baseline - 1 (text encoding, noise, scheduler steps, checks; target
< 10%). Also timed: the STC run inside every UNet call, as the original does, and decoding. Interleaved rounds, median
process CPU time on `--threads` threads (CPU time, so other work on a shared machine does not skew the ratios).
Prints the numbers and appends them to benchmarks/RESULTS.md. Usage: python benchmarks/bench_pipeline.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from pipelines import VideoComposerPipeline

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## bench_pipeline"


def tiny_components() -> dict:
    """The test suite's tiny components (one definition for tests and benchmarks)."""
    spec = importlib.util.spec_from_file_location("tiny_components_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_tiny_components()


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def append_results(path: Path, entry: str) -> None:
    """Appends `entry` to this script's section of RESULTS.md (creating file or section), other sections untouched."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(f"\n{HEADING}\n")
    if start < 0:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n{entry}"
    else:
        end = text.find("\n## ", start + 1)
        end = len(text) if end < 0 else end
        text = text[:end].rstrip("\n") + f"\n{entry}" + text[end:]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    pipe = VideoComposerPipeline(**tiny_components())
    pipe.set_progress_bar_config(disable=True)
    f, size, steps = args.frames, args.size, args.steps
    h = size // pipe.vae_scale_factor
    misc = size * 3 // 2
    g = torch.Generator().manual_seed(0)
    motion = torch.zeros(1, 2, f, size, size)
    motion[..., 4::8, 4::8] = torch.randn(1, 2, f, size // 8, size // 8, generator=g)
    conditions = {"motion_vectors": motion, "depth": torch.rand(1, 1, f, misc, misc, generator=g) * 10}
    call = dict(num_frames=f, height=size, width=size, num_inference_steps=steps)

    # The bare UNet calls the pipeline makes, on identical inputs.
    with torch.no_grad():
        prompt_embeds, negative_embeds = pipe.encode_prompt("a red car", torch.device("cpu"), 1, True)
        context = torch.cat([negative_embeds, prompt_embeds])
        stc_inputs = pipe.prepare_conditions(conditions, 1, torch.device("cpu"))
    pipe.scheduler.set_timesteps(steps)
    timesteps = pipe.scheduler.timesteps
    sample = torch.randn(2, 4, f, h, h, generator=g)

    def bare_models(stc_once: bool | None) -> None:
        """The UNet calls alone (`None`), after one STC pass (`True`), or with an STC pass per branch and step as the
        original runs it inside its UNet (`False`)."""
        with torch.no_grad():
            cond = None
            if stc_once:
                cond = pipe.stc_encoder(stc_inputs, latent_size=(h, h)).sample.repeat(2, 1, 1, 1, 1)
            for t in timesteps:
                if stc_once is False:
                    cond = torch.cat([pipe.stc_encoder(stc_inputs, latent_size=(h, h)).sample for _ in range(2)])
                pipe.unet(sample, t, context, condition_latents=cond, return_dict=False)

    runs = {
        "bare UNet, text only": lambda: bare_models(None),
        "pipeline, text only": lambda: pipe("a red car", output_type="latent", **call),
        "bare STC once + UNet, motion+depth": lambda: bare_models(True),
        "bare STC per call + UNet (as the original), motion+depth": lambda: bare_models(False),
        "pipeline, motion+depth": lambda: pipe("a red car", output_type="latent", **conditions, **call),
        "pipeline, motion+depth, decoded": lambda: pipe("a red car", output_type="np", **conditions, **call),
    }
    for fn in runs.values():
        fn()  # warm-up
    results = {name: [] for name in runs}
    for _ in range(args.rounds):  # interleaved, to spread machine noise evenly
        for name, fn in runs.items():
            results[name].append(median_seconds(fn, args.repeats))
    seconds = {name: statistics.median(values) for name, values in results.items()}

    overhead_text = seconds["pipeline, text only"] / seconds["bare UNet, text only"] - 1
    overhead_cond = seconds["pipeline, motion+depth"] / seconds["bare STC once + UNet, motion+depth"] - 1
    decode = seconds["pipeline, motion+depth, decoded"] - seconds["pipeline, motion+depth"]
    lines = [
        f"\n### {time.strftime('%Y-%m-%d %H:%M')}, CPU {platform.machine()}, {torch.get_num_threads()} thread(s), "
        f"torch {torch.__version__}\n",
        f"Tiny components (tests/conftest.py), {steps} steps, {f} frames {size}x{size} (latent {h}x{h}), CFG on, "
        f"median process CPU time of {args.rounds}x{args.repeats} interleaved runs. "
        f"Command: `python benchmarks/bench_pipeline.py --steps {steps} --frames {f} --size {size}`\n",
        "| run | s total | s / step | vs bare models (UNet, + one STC pass with conditions) |",
        "|---|---|---|---|",
    ]
    baselines = {
        "text only": seconds["bare UNet, text only"],
        "motion+depth": seconds["bare STC once + UNet, motion+depth"],
    }
    for name, value in seconds.items():
        base = baselines["text only" if "text only" in name else "motion+depth"]
        lines.append(f"| {name} | {value:.4f} | {value / steps:.4f} | {value / base:.3f}x |")
    lines += [
        "",
        f"Pipeline overhead over the bare model calls: {overhead_text:+.1%} (text only), {overhead_cond:+.1%} "
        f"(motion+depth); target < 10%. VAE decode of {f} frames: {decode:.4f} s.",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    append_results(args.results, report)


if __name__ == "__main__":
    main()
