"""CPU time of the weight-free metrics on a 16-frame 256x256 video, and the peak memory of `videocomposer eval`.

Timing: the video is a held-out synthetic clip (two objects moving over a textured background). Each metric is
timed with process CPU time (the machine is noisy), best of ``--repeats``; the baseline is the L1 warping error the
project had before (Farneback flow + warp for every frame pair, now ``mean_abs_warping_error``), and every other
metric is printed as a ratio of it. Lai et al.'s ``warping_error`` computes the flow both ways (its occlusion mask).

Memory (``--memory``): a 5 s 1280x720 clip at 24 fps (120 frames) is written as mp4 and `videocomposer eval` runs on
it in a child process (weight-free frame metrics: temporal_flickering, repetition_peak); the child's peak resident
memory (``VmHWM`` of /proc/self/status: this process's own peak, unlike ``ru_maxrss`` which a child inherits across
fork and exec) is reported for this checkout (frames streamed in chunks of 16) and, with ``--before DIR``,
for another checkout's code (e.g. the main branch before streaming, which held every frame).

Run: `python benchmarks/bench_metrics.py [--repeats 5] [--memory] [--before /work/main] [--no-write]`; appends to
RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from results_file import write_section

HEADING = "## bench_metrics: CPU time of the weight-free metrics (16 frames, 256x256)"
MEMORY_HEADING = "## bench_metrics: peak memory of videocomposer eval on a 5 s 720p clip"
TARGET_SECONDS = 0.5


def cpu_seconds(function: Callable[[], object], repeats: int) -> float:
    """Best process CPU time of ``repeats`` calls (one untimed warm-up call first)."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory", action="store_true", help="also measure eval's peak memory on a 720p clip")
    parser.add_argument("--before", type=Path, help="another checkout whose eval is measured too (with --memory)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write RESULTS.md")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise ValueError(f"--repeats must be positive, got {args.repeats}")

    import cv2
    import torch

    from condition_extractors import MotionVectorExtractor
    from videocomposer import metrics as M
    from videocomposer.data.synthetic import clip_seeds, generate_clip

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    frames = generate_clip(clip_seeds("eval", 1, 3000)[0], 16, 256, 256, num_objects=2).frames
    condition = MotionVectorExtractor()(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0).numpy()
    noise = np.random.default_rng(0).normal(0, 8, frames.shape)
    noisy = np.clip(frames + noise, 0, 255).astype(np.uint8)

    def all_weight_free() -> None:  # what `videocomposer eval` runs per video (no RAFT / CLIP / DINO / I3D)
        flows = M.pair_flows(frames)  # eval shares the forward Farneback flows between the two warping errors
        M.lai_pair_errors(frames, flows=flows).mean()
        pair_errors = M.pairwise_warping_errors(frames, flows[0])
        float(pair_errors.mean())
        M.seam_ratio(pair_errors, [8])
        M.temporal_flickering(frames)
        thumbs = M.thumbnails(frames)
        M.repetition_peak(M.profile_of_thumbnails(thumbs))
        M.jump_ratio(M.steps_of_thumbnails(thumbs))
        M.motion_vector_error(frames, condition)

    timings = {
        "mean_abs_warping_error (baseline: the earlier warping_error)": cpu_seconds(
            lambda: M.mean_abs_warping_error(frames), args.repeats
        ),
        "warping_error (Lai et al.: flows both ways, occlusion mask)": cpu_seconds(
            lambda: M.warping_error(frames), args.repeats
        ),
        "temporal_flickering": cpu_seconds(lambda: M.temporal_flickering(frames), args.repeats),
        "repetition profile + peak": cpu_seconds(
            lambda: M.repetition_peak(M.self_similarity_profile(frames)), args.repeats
        ),
        "jump_ratio": cpu_seconds(lambda: M.jump_ratio(M.content_steps(frames)), args.repeats),
        "motion_vector_error (MPEG-4 re-encode + block EPE)": cpu_seconds(
            lambda: M.motion_vector_error(frames, condition), args.repeats
        ),
        "psnr + ssim (vs a noisy copy)": cpu_seconds(lambda: (M.psnr(noisy, frames), M.ssim(noisy, frames)), 1),
        "all weight-free metrics together (without psnr / ssim)": cpu_seconds(all_weight_free, args.repeats),
    }
    baseline = timings["mean_abs_warping_error (baseline: the earlier warping_error)"]
    total = timings["all weight-free metrics together (without psnr / ssim)"]
    rows = "\n".join(f"| {name} | {seconds:.4f} | {seconds / baseline:.2f}x |" for name, seconds in timings.items())
    verdict = "met" if total < TARGET_SECONDS else "missed"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench_metrics.py " + " ".join(argv if argv is not None else sys.argv[1:])
    table = f"""### {stamp}, CPU {platform.machine()}, 1 thread, torch {torch.__version__}, OpenCV {cv2.__version__}

One 16-frame 256x256 synthetic clip, best of {args.repeats} runs of process CPU time. Target: all weight-free
metrics < {TARGET_SECONDS} s per video: {total:.3f} s ({verdict}). Command: `{command.strip()}`

| metric | CPU s | ratio to the L1 warping error |
|---|---|---|
{rows}
"""
    print(table)
    if not args.no_write:
        write_section(HEADING, table)
    if args.memory:
        memory = memory_table(args.before)
        print(memory)
        if not args.no_write:
            write_section(MEMORY_HEADING, memory)


def peak_memory_mb(checkout: Path, folder: Path) -> float:
    """Peak resident memory (MB) of a child `videocomposer eval` run with ``checkout``'s code on ``folder``."""
    code = (
        "import sys; from videocomposer.cli import main; "
        f"rc = main(['eval', '--generated', {str(folder)!r}, '--metrics', 'temporal_flickering', 'repetition_peak', "
        f"'--output', {str(folder / 'report.json')!r}]); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
        "print(hwm); sys.exit(rc)"
    )
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]) / 1024.0


def memory_table(before: Path | None) -> str:
    """Write a 5 s 720p clip and measure eval's peak memory with this checkout (and ``before``)."""
    import cv2

    from videocomposer.data.synthetic import encode_mp4

    here = Path(__file__).resolve().parents[1]
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.random((90, 160, 3)).astype(np.float32), (1280 + 240, 720))
    frames = (np.stack([base[:, 2 * t : 2 * t + 1280] for t in range(120)]) * 255).astype(np.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "clip.mp4").write_bytes(encode_mp4(frames, fps=24))
        del frames
        for label, checkout in (("this checkout (streamed)", here), ("--before " + str(before), before)):
            if checkout is not None:
                rows.append(f"| {label} | {peak_memory_mb(checkout, folder):.0f} |")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"""### {stamp}, CPU {platform.machine()}

`videocomposer eval --metrics temporal_flickering repetition_peak` on one 5 s 1280x720 clip (120 frames, 24 fps,
332 MB of uint8 frames), peak resident memory of the child process (VmHWM, includes the Python / torch
imports). Command: `python benchmarks/bench_metrics.py --memory{" --before " + str(before) if before else ""}`

| code | peak memory (MB) |
|---|---|
"""
        + "\n".join(rows)
        + "\n"
    )


if __name__ == "__main__":
    main()
