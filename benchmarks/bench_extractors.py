"""Frames per second of the condition extractors on the CPU, same process.

- motion: ``MotionVectorExtractor`` (PyAV MPEG-4 re-encode + exported codec vectors) vs torchvision RAFT-small optical
  flow (random weights: the cost does not depend on them) on the same 16-frame 256² clip; the ratio is the speed-up.
- depth: ``DepthExtractor`` with the DPT-Large architecture (transformers ``DPTConfig()`` defaults, random weights) at
  384²; ``--tiny-depth`` uses a tiny random DPT instead.
- sketch: ``SketchExtractor`` with controlnet_aux's PiDiNet (the real architecture, random weights) at 384², without the
  simplification network (not shipped).

Times are process CPU seconds (all threads), median of ``--repeats`` runs, on ``--threads`` torch threads. Prints a
table and writes it to benchmarks/RESULTS.md under its own heading (other sections are kept).
Usage: python benchmarks/bench_extractors.py [--threads 1 --repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

from condition_extractors import DepthExtractor, MotionVectorExtractor, SketchExtractor

HEADING = "## bench_extractors"


def moving_clip(num_frames: int, size: int, seed: int = 0) -> torch.Tensor:
    """Smooth random texture panning diagonally, float ``(F, 3, size, size)`` in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    texture = torch.rand(1, 3, size // 8, size // 8, generator=generator)
    canvas = F.interpolate(texture, size=(2 * size, 2 * size), mode="bicubic").clamp(0, 1)[0]
    return torch.stack([canvas[:, 3 * t : 3 * t + size, 2 * t : 2 * t + size] for t in range(num_frames)])


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def raft_runner(frames: torch.Tensor) -> Callable[[], torch.Tensor]:
    from torchvision.models.optical_flow import raft_small

    model = raft_small(weights=None).eval()
    first, second = frames[:-1] * 2 - 1, frames[1:] * 2 - 1  # RAFT takes [-1, 1]

    @torch.inference_mode()
    def run() -> torch.Tensor:
        return model(first, second)[-1]

    return run


def tiny_dpt() -> torch.nn.Module:
    from transformers import DPTConfig, DPTForDepthEstimation

    return DPTForDepthEstimation(
        DPTConfig(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, image_size=64,
            patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[16, 16, 32, 32],
            fusion_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5], is_hybrid=False, head_in_index=-1,
        )
    )  # fmt: skip


def dpt_large() -> torch.nn.Module:
    from transformers import DPTConfig, DPTForDepthEstimation

    return DPTForDepthEstimation(DPTConfig())


def write_section(path: Path, section: str) -> None:
    """Replace (or append) this benchmark's section in ``path``; written to a temporary name, then renamed."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(HEADING)
    if start >= 0:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    temporary = path.with_suffix(".md.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=256, help="motion clip size; depth and sketch run at 1.5x")
    parser.add_argument("--depth-frames", type=int, default=2)
    parser.add_argument("--tiny-depth", action="store_true", help="tiny random DPT instead of the DPT-Large shape")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    clip = moving_clip(args.frames, args.size)
    big = round(args.size * 1.5)
    clip_big = F.interpolate(clip, size=(big, big), mode="bilinear", antialias=True).clamp(0, 1)

    motion = MotionVectorExtractor()
    motion(clip)  # warm-up
    raft = raft_runner(clip)
    raft()
    motion_s = median_seconds(lambda: motion(clip), args.repeats)
    raft_s = median_seconds(raft, args.repeats)
    motion_fps = args.frames / motion_s
    raft_fps = (args.frames - 1) / raft_s  # RAFT: one flow per frame pair

    depth_model = tiny_dpt() if args.tiny_depth else dpt_large()
    depth = DepthExtractor(model=depth_model, batch_size=1)
    depth_clip = clip_big[: args.depth_frames]
    depth(depth_clip[:1])
    depth_fps = args.depth_frames / median_seconds(lambda: depth(depth_clip), args.repeats)

    from controlnet_aux.pidi.model import pidinet

    sketch = SketchExtractor(model=pidinet(), batch_size=4)
    sketch(clip_big[:1])
    sketch_fps = args.frames / median_seconds(lambda: sketch(clip_big), args.repeats)

    depth_name = "tiny random DPT" if args.tiny_depth else "DPT-Large shape, random weights"
    rows = [
        (f"MotionVectorExtractor (PyAV MPEG-4), {args.size}²", motion_fps, f"{motion_fps / raft_fps:.1f}x"),
        (f"torchvision raft_small (weights=None), {args.size}²", raft_fps, "1.0x (baseline)"),
        (f"DepthExtractor ({depth_name}), {big}²", depth_fps, "-"),
        (f"SketchExtractor (PiDiNet, random weights, no simplifier), {big}²", sketch_fps, "-"),
    ]
    table = "\n".join(f"| {name} | {fps:.2f} | {ratio} |" for name, fps, ratio in rows)
    command = "python benchmarks/bench_extractors.py" + (" --tiny-depth" if args.tiny_depth else "")
    section = (
        f"{HEADING} ({date.today().isoformat()}, CPU {platform.machine()}, {args.threads} torch threads, "
        f"torch {torch.__version__})\n\n"
        f"{args.frames}-frame clip (smooth texture panning 3,2 px/frame), median process CPU time of {args.repeats} "
        f"runs. Command: `{command}`\n\n"
        "| extractor | frames / CPU s | speed vs RAFT-small |\n|---|---|---|\n" + table + "\n"
    )
    print(section)
    write_section(args.results, section)


if __name__ == "__main__":
    main()
