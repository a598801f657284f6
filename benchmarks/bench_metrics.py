"""CPU time of the weight-free metrics on a 16-frame 256x256 video (target: < 0.5 s for all of them together).

The video is a held-out synthetic clip (two objects moving over a textured background). Each metric is timed with
process CPU time (the machine is noisy), best of ``--repeats``; the baseline is the warping error the project had
before `videocomposer eval` (Farneback flow + warp for every frame pair), and every other metric is printed as a
ratio of it. The total is what `videocomposer eval` spends per video on the weight-free metrics: warping error and
seam discontinuity share one pass of pairwise warping errors.

Run: `python benchmarks/bench_metrics.py [--repeats 5] [--no-write]`; appends to RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from collections.abc import Callable

from results_file import write_section

HEADING = "## bench_metrics: CPU time of the weight-free metrics (16 frames, 256x256)"
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

    def all_weight_free() -> None:  # what `videocomposer eval` runs per video (no RAFT / CLIP / DINO / I3D)
        pair_errors = M.pairwise_warping_errors(frames)
        float(pair_errors.mean())
        M.seam_ratio(pair_errors, [8])
        M.temporal_flickering(frames)
        M.repetition_peak(M.self_similarity_profile(frames))
        M.motion_vector_error(frames, condition)

    timings = {
        "warping_error (baseline)": cpu_seconds(lambda: M.warping_error(frames), args.repeats),
        "temporal_flickering": cpu_seconds(lambda: M.temporal_flickering(frames), args.repeats),
        "repetition profile + peak": cpu_seconds(
            lambda: M.repetition_peak(M.self_similarity_profile(frames)), args.repeats
        ),
        "motion_vector_error (MPEG-4 re-encode + EPE)": cpu_seconds(
            lambda: M.motion_vector_error(frames, condition), args.repeats
        ),
        "all weight-free metrics together": cpu_seconds(all_weight_free, args.repeats),
    }
    baseline = timings["warping_error (baseline)"]
    total = timings["all weight-free metrics together"]
    rows = "\n".join(f"| {name} | {seconds:.4f} | {seconds / baseline:.2f}x |" for name, seconds in timings.items())
    verdict = "met" if total < TARGET_SECONDS else "missed"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench_metrics.py " + " ".join(argv if argv is not None else sys.argv[1:])
    table = f"""### {stamp}, CPU {platform.machine()}, 1 thread, torch {torch.__version__}, OpenCV {cv2.__version__}

One 16-frame 256x256 synthetic clip, best of {args.repeats} runs of process CPU time. Target: all weight-free
metrics < {TARGET_SECONDS} s per video: {total:.3f} s ({verdict}). Command: `{command.strip()}`

| metric | CPU s | ratio to warping_error |
|---|---|---|
{rows}
"""
    print(table)
    if not args.no_write:
        write_section(HEADING, table)


if __name__ == "__main__":
    main()
