"""Training step time and peak memory of the VideoComposer UNet with and without gradient checkpointing.

One step = eps-prediction loss (videocomposer.training.objective) + backward + AdamW, on a mid-size UNet (CPU) or the
release UNet (CUDA). Each setting runs in a fresh child process, so that peak memory is its own: on CPU the growth of
the peak resident set size over the resident size before the first step (activations, gradients, Adam states); on
CUDA `torch.cuda.max_memory_allocated`. Time: median of the steps after one warm-up (process CPU time on CPU, wall time
with synchronisation on CUDA). Prints ratios against the plain run and appends them to benchmarks/RESULTS.md.

Usage: python benchmarks/bench_training.py [--config mid|release --frames 8 --size 128 --steps 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

CONFIGS = {
    # A quarter of the release widths, full depth: minutes on a CPU.
    "mid": {"block_out_channels": (64, 128, 256, 256), "cross_attention_dim": 256, "attention_head_dim": 32,
            "transformer_in_num_heads": 2, "image_embed_dim": None},
    # The released VideoComposer UNet (defaults of VideoComposerUNet3DModel).
    "release": {},
}  # fmt: skip


def run_child(args: argparse.Namespace) -> dict:
    from videocomposer.models import VideoComposerUNet3DModel
    from videocomposer.training.objective import NoisedLatents, eps_prediction_loss

    device = torch.device(args.device)
    torch.manual_seed(0)
    unet = VideoComposerUNet3DModel(**CONFIGS[args.config]).to(device).train()
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-5)
    latent = args.size // 8
    generator = torch.Generator().manual_seed(0)
    shape = (1, 4, args.frames, latent, latent)
    noised = NoisedLatents(
        torch.randn(shape, generator=generator).to(device),
        torch.randint(0, 1000, (1,), generator=generator).to(device),
        torch.randn(shape, generator=generator).to(device),
    )
    text = torch.randn(1, 77, unet.config.cross_attention_dim, generator=generator).to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def rss_kib() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() // 1024

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = rss_kib()
    times, losses = [], []
    for _ in range(args.steps + 1):
        start = time.perf_counter() if device.type == "cuda" else time.process_time()
        with autocast:
            loss = eps_prediction_loss(unet, noised, text)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        else:
            times.append(time.process_time() - start)
        losses.append(loss.item())
    if device.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"step_s": statistics.median(times[1:]), "peak_mib": peak_mib, "first_loss": losses[0],
            "parameters": sum(p.numel() for p in unet.parameters())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="mid")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=128, help="Frame size in pixels (latent = size / 8).")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument("--gradient_checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.size % 8:
        raise ValueError(f"--size: expected a multiple of 8, got {args.size}")

    if args.child:
        print(json.dumps(run_child(args)))
        return

    results = {}
    for checkpointing in (False, True):
        command = [sys.executable, __file__, "--child", "--config", args.config, "--device", args.device,
                   "--frames", str(args.frames), "--size", str(args.size), "--steps", str(args.steps),
                   "--threads", str(args.threads)] + (["--gradient_checkpointing"] if checkpointing else [])  # fmt: skip
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[checkpointing] = json.loads(output.strip().splitlines()[-1])
    plain, checkpointed = results[False], results[True]
    if abs(plain["first_loss"] - checkpointed["first_loss"]) > 1e-4 * abs(plain["first_loss"]):
        raise RuntimeError(
            f"gradient checkpointing changed the loss: {plain['first_loss']} vs {checkpointed['first_loss']}"
        )

    clock = (
        "wall time, bf16 autocast"
        if args.device.startswith("cuda")
        else f"process CPU time, {args.threads} thread(s), fp32"
    )
    memory = "torch.cuda.max_memory_allocated" if args.device.startswith("cuda") else "peak RSS growth over the steps"
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU {platform.machine()}"
    # Gradients (4 B) and AdamW's two moments (8 B) per parameter are the same in both runs; the rest is activations.
    fixed_mib = 12 * plain["parameters"] / 2**20
    rows = [
        f"| gradient checkpointing | s / step | vs off | peak MiB | vs off | peak - {fixed_mib:.0f} MiB grads+Adam | vs off |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in (("off", plain), ("on", checkpointed)):
        rest, rest_plain = r["peak_mib"] - fixed_mib, plain["peak_mib"] - fixed_mib
        rows.append(f"| {label} | {r['step_s']:.3f} | {r['step_s'] / plain['step_s']:.2f}x | {r['peak_mib']:.0f} | "
                    f"{r['peak_mib'] / plain['peak_mib']:.2f}x | {rest:.0f} | {rest / rest_plain:.2f}x |")  # fmt: skip
    section = "\n".join([
        f"### {time.strftime('%Y-%m-%d %H:%M')}, {device_name}, torch {torch.__version__}",
        "",
        (f"Config {args.config} ({plain['parameters'] / 1e6:.1f} M UNet parameters), batch 1, {args.frames} frames "
        f"{args.size}x{args.size} (latent {args.size // 8}x{args.size // 8}), loss + backward + AdamW; median {clock} of "
        f"{args.steps} steps after a warm-up; memory: {memory}; each setting in a fresh process. Command: "
        f"`python benchmarks/bench_training.py --config {args.config} --device {args.device} --frames {args.frames} "
        f"--size {args.size} --steps {args.steps}`"),
        "",
        *rows,
    ])  # fmt: skip
    print(section)
    _append_section(args.results, "## bench_training", section)


def _append_section(path: Path, heading: str, section: str) -> None:
    """Append `section` under `heading` in `path` (created if absent), keeping every other section; atomic write."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if heading not in text:
        text = text.rstrip("\n") + f"\n\n{heading}\n"
    start = text.index(heading) + len(heading)
    following = text.find("\n## ", start)
    end = len(text) if following == -1 else following
    text = text[:end].rstrip("\n") + "\n\n" + section + "\n" + text[end:]
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


if __name__ == "__main__":
    main()
