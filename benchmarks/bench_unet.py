"""Forward time of VideoComposerUNet3DModel (+ STCEncoder) vs diffusers' UNet3DConditionModel of the same dims.

Same process, same weights (ours is built with `from_unet3d`), interleaved repetitions, median of the process CPU time
on `--threads` threads (CPU time, not wall time, so that other work on a shared machine does not skew the ratio).
Prints the ratios and appends them to benchmarks/RESULTS.md. Usage: python benchmarks/bench_unet.py [--frames 8 --latent 32 --channels 64]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from diffusers import UNet3DConditionModel

from videocomposer.models import STCEncoder, VideoComposerUNet3DModel


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    c = args.channels
    base = UNet3DConditionModel(
        block_out_channels=(c, 2 * c, 4 * c, 4 * c), attention_head_dim=32, cross_attention_dim=256,
        norm_num_groups=32,
    ).eval()  # fmt: skip
    ours = VideoComposerUNet3DModel.from_unet3d(base, image_embed_dim=256).eval()
    stc = STCEncoder().eval()

    f, h = args.frames, args.latent
    sample = torch.randn(1, 4, f, h, h)
    text = torch.randn(1, 77, 256)
    motion = torch.randn(1, 2, f, 8 * h, 8 * h)
    t = torch.tensor([500])

    with torch.inference_mode():
        runs = {
            "diffusers UNet3DConditionModel": lambda: base(sample, t, text),
            "ours UNet": lambda: ours(sample, t, text),
            "ours UNet + STC(motion)": lambda: ours(
                sample, t, text, condition_latents=stc({"motion": motion}, (h, h)).sample
            ),
        }
        for fn in runs.values():
            fn()  # warm-up
        results = {name: [] for name in runs}
        for _ in range(args.rounds):  # interleave to spread machine noise evenly
            for name, fn in runs.items():
                results[name].append(median_ms(fn, args.repeats))
    ms = {name: statistics.median(v) for name, v in results.items()}
    baseline = ms["diffusers UNet3DConditionModel"]

    lines = [
        f"\n## bench_unet ({time.strftime('%Y-%m-%d')}, CPU {platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__})\n",
        f"Config: 1x4x{f}x{h}x{h} latent, block_out_channels=({c}, {2 * c}, {4 * c}, {4 * c}), fp32, median CPU time of "
        f"{args.rounds}x{args.repeats} interleaved forwards. Command: `python benchmarks/bench_unet.py "
        f"--frames {f} --latent {h} --channels {c}`\n",
        "| model | CPU ms / forward | ratio vs diffusers |",
        "|---|---|---|",
    ]
    for name, value in ms.items():
        lines.append(f"| {name} | {value:.1f} | {value / baseline:.3f}x |")
    report = "\n".join(lines) + "\n"
    print(report)
    with open(args.results, "a") as fh:
        fh.write(report)


if __name__ == "__main__":
    main()
