"""CPU time of ``MotionVectorExtractor(mode="original")`` against the original tool chain it reproduces, same process.

On a synthetic 1280x720 25 fps H.264 clip (textured pan + moving object, ``--seconds`` long), 16 frames at 4 fps,
256x256 conditions:
  - "recipe" (the baseline): the ffmpeg CLI re-encode of the whole clip (``-filter:v fps=4 -c:v mpeg4 -f rawvideo``,
    CPU of the child process) read by ``mvextractor``, the original's field and ``mv_transforms``;
  - "ours": ``extract_conditions(path, ["motion"])`` (one decode up to the last needed frame, yuv passthrough);
  - "ours, decoding twice": the same plus a second RGB decode of the file, what ``original`` mode cost before.
The fields of "recipe" and "ours" are also compared (support IoU, max end-point error). Needs
``motion-vector-extractor`` and ``imageio-ffmpeg`` (the ``test`` extra). Times are process + children CPU seconds,
median of ``--repeats``. Prints a table and writes it to benchmarks/RESULTS.md under its own heading.

Usage: python benchmarks/bench_motion_recipe.py [--seconds 4.5 --repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import tempfile
from datetime import date
from fractions import Fraction
from pathlib import Path

import torch
from results_file import write_section

HEADING = "## bench_motion_recipe: original-mode motion vectors vs the original tool chain (CPU)"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "condition_extractors"))


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(function, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = cpu_seconds()
        result = function()
        times.append(cpu_seconds() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from test_original_toolchain import original_tool_chain, write_panning_clip

    from condition_extractors import extract_conditions, load_video

    with tempfile.TemporaryDirectory() as folder:
        path = write_panning_clip(f"{folder}/clip.mp4", 720, 1280, Fraction(25), args.seconds)
        common = dict(num_frames=16, fps=4, height=256, width=256, progress=False)

        def ours():
            return extract_conditions(path, ["motion"], **common)["motion_vectors"][0].permute(1, 0, 2, 3)

        def twice():
            load_video(path, 16, 4.0)
            return ours()

        recipe_time, expected = timed(lambda: original_tool_chain(path, 16, 256), args.repeats)
        ours_time, got = timed(ours, args.repeats)
        twice_time, _ = timed(twice, args.repeats)
    support_got, support_expected = got.abs().sum(1) > 0, expected.abs().sum(1) > 0
    iou = ((support_got & support_expected).sum() / (support_got | support_expected).sum()).item()
    error = (got - expected).norm(dim=1).max().item()
    table = "\n".join(
        [
            f"({date.today()}, CPU {platform.machine()}, torch {torch.__version__}, 1 thread; 1280x720 25 fps, "
            f"{args.seconds} s clip; 16 frames at 4 fps, 256²; median of {args.repeats}; "
            "`python benchmarks/bench_motion_recipe.py`)",
            "",
            "| method | CPU s | / recipe |",
            "|---|---|---|",
            f"| recipe: ffmpeg CLI + mvextractor + field + mv_transforms (baseline) | {recipe_time:.2f} | 1.00 |",
            f'| ours, `mode="original"` (one decode) | {ours_time:.2f} | {ours_time / recipe_time:.2f} |',
            f"| ours + a second decode (the former cost) | {twice_time:.2f} | {twice_time / recipe_time:.2f} |",
            "",
            f"Same fields: support IoU {iou:.4f}, max end-point error {error:.2e} px.",
        ]
    )
    print(table)
    if not args.no_write:
        write_section(HEADING, table, replace=True)


if __name__ == "__main__":
    main()
