"""Hand-drawn strokes vs the original recipe on the same motion: is the stroke field in the release's distribution?

For synthetic clips with known motion (a textured disc of radius ``r`` moving ``v`` px per frame in a straight line
over a static textured background, written as H.264 at 4 fps at a source resolution), the motion condition at
256x256 is computed two ways:
  - "real": ``MotionVectorExtractor(mode="original")`` on the file (ffmpeg fps rule, yuv passthrough, MPEG-4 at the
    source size, the original's field and ``mv_transforms``): what the released weights saw in training;
  - "stroke": ``strokes_to_motion_vectors`` with one stroke along the disc's path (in condition pixels), radius ``r``
    (condition pixels), rendered for ``source_short_side`` = the clip's short side, and with the default ``None``
    (the condition size: the demo model's distribution).
Per clip (frames 1..F-1, frame 0 is an I-frame): support fraction (non-zero pixels / all pixels), mean magnitude on
the support, direction of the mean vector on the support (degrees; the truth is printed), and the ratios
stroke / real. Then the demo model (64x64, trained on condition-size fields): with the same noise and prompt, how much
further right a left-to-right stroke carries the object than a right-to-left one (centroid travel, px; > 0 = it
follows), for strokes rendered at the condition size (default) and for a source 336/256 times larger (the release's
ratio). Prints the tables and writes them to benchmarks/RESULTS.md under its own heading (other sections kept).

Usage: python benchmarks/bench_stroke_distribution.py
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from results_file import write_section

from condition_extractors import extract_conditions
from condition_extractors.video import resize_crop_geometry
from videocomposer.motion import Stroke, strokes_to_motion_vectors

HEADING = "## bench_stroke_distribution: stroke fields vs the original recipe on the same motion"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_control's object masks, results_file
SIZE, NUM_FRAMES, FPS = 256, 8, 4
# (source height, width, disc radius in source px, velocity in source px per frame (dx, dy))
CLIPS = [
    (336, 596, 60, (12, 0)),  # WebVid-10M size
    (336, 596, 48, (6, -6)),
    (720, 1280, 120, (24, 8)),
    (272, 640, 50, (-10, 4)),
]


def texture(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((3, height // 8 + 4, width // 8 + 4)).astype(np.float32))[None]
    smooth = F.interpolate(coarse, scale_factor=8, mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    return ((smooth * 0.85 + rng.random(smooth.shape) * 0.15).clip(0, 1) * 255).astype(np.uint8)


def write_disc_clip(path: str, height: int, width: int, radius: int, velocity: tuple[int, int]) -> np.ndarray:
    """Writes the clip; returns the disc centres ``(F, 2)`` (x, y) in source pixels."""
    background = texture(height, width, 0)[:height, :width]
    item = texture(2 * radius, 2 * radius, 1)[: 2 * radius, : 2 * radius]
    yy, xx = np.mgrid[: 2 * radius, : 2 * radius]
    inside = (xx - radius + 0.5) ** 2 + (yy - radius + 0.5) ** 2 <= radius**2
    start = np.array([width / 2, height / 2]) - np.array(velocity) * (NUM_FRAMES - 1) / 2
    centres = np.array([start + np.array(velocity) * t for t in range(NUM_FRAMES)])
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "16"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for cx, cy in centres:
            image = background.copy()
            top, left = int(round(cy)) - radius, int(round(cx)) - radius
            region = image[top : top + 2 * radius, left : left + 2 * radius]
            region[inside] = item[inside]
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return centres


def statistics_of(field: torch.Tensor) -> dict[str, float]:
    """Support fraction, mean magnitude and mean-vector direction over frames 1.. of ``(2, F, H, W)``."""
    moving = field[:, 1:]
    support = moving.abs().sum(0) > 0
    vectors = moving.permute(1, 2, 3, 0)[support]
    mean = vectors.mean(0) if len(vectors) else torch.zeros(2)
    return {
        "support": support.float().mean().item(),
        "magnitude": vectors.norm(dim=1).mean().item() if len(vectors) else 0.0,
        "direction": math.degrees(math.atan2(mean[1].item(), mean[0].item())),
    }


def demo_stroke_following(source_short_side: int | None, seeds: range, steps: int) -> list[float]:
    """Per seed: centroid x travel (frame 1 -> last) of a right stroke minus that of a left stroke, demo model."""
    from bench_control import object_masks

    from videocomposer.commands.generate import load_pipeline
    from videocomposer.demo.components import NUM_FRAMES as DEMO_FRAMES

    pipeline = load_pipeline(None)
    pipeline.set_progress_bar_config(disable=True)
    differences = []
    for seed in seeds:
        travel = {}
        for name, points in (("right", [(10.0, 32.0), (54.0, 32.0)]), ("left", [(54.0, 32.0), (10.0, 32.0)])):
            motion = strokes_to_motion_vectors(
                [Stroke(points=points, radius=16.0)], DEMO_FRAMES, 64, 64, source_short_side=source_short_side
            )
            frames = pipeline(
                "a red circle on a plain background", motion_vectors=motion, num_frames=DEMO_FRAMES, height=64,
                width=64, num_inference_steps=steps, guidance_scale=3.0, generator=torch.Generator().manual_seed(seed),
            ).frames[0]  # fmt: skip
            masks = object_masks(frames)
            xs = [np.nonzero(mask)[1].mean() if mask.any() else 32.0 for mask in masks]
            travel[name] = xs[-1] - xs[1]
        differences.append(float(travel["right"] - travel["left"]))
    return differences


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="print only, do not write RESULTS.md")
    parser.add_argument("--demo-seeds", type=int, default=6, help="seeds of the demo-model check (0: skip it)")
    parser.add_argument("--demo-steps", type=int, default=10, help="DDIM steps of the demo-model check")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.process_time()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, (height, width, radius, velocity) in enumerate(CLIPS):
            path = f"{folder}/clip{index}.mp4"
            centres = write_disc_clip(path, height, width, radius, velocity)
            real = extract_conditions(path, ["motion"], num_frames=NUM_FRAMES, fps=FPS, height=SIZE, width=SIZE,
                                      progress=False)["motion_vectors"][0]  # fmt: skip
            resized_height, resized_width, top, left = resize_crop_geometry(height, width, SIZE, SIZE)
            factor = resized_height / height
            points = [((x + 0.5) * factor - 0.5 - left, (y + 0.5) * factor - 0.5 - top) for x, y in centres]
            stroke = [Stroke(points=[points[0], points[-1]], radius=radius * factor)]
            fields = {
                "real (original recipe)": real,
                f"stroke, source_short_side={min(height, width)}": strokes_to_motion_vectors(
                    stroke, NUM_FRAMES, SIZE, SIZE, source_short_side=min(height, width)
                )[0],
                "stroke, default (condition size)": strokes_to_motion_vectors(stroke, NUM_FRAMES, SIZE, SIZE)[0],
            }
            truth = math.degrees(math.atan2(velocity[1], velocity[0]))
            reference = statistics_of(real)
            for name, field in fields.items():
                stats = statistics_of(field)
                rows.append(
                    f"| {width}x{height}, r={radius}, v={velocity} px/frame ({truth:.0f} deg) | {name} | "
                    f"{stats['support']:.4f} | {stats['support'] / reference['support']:.2f} | "
                    f"{stats['magnitude']:.2f} | {stats['magnitude'] / reference['magnitude']:.2f} | "
                    f"{stats['direction']:.1f} |"
                )
    demo_rows = []
    for source_short_side in (None, round(64 * 336 / 256)) if args.demo_seeds else ():
        differences = demo_stroke_following(source_short_side, range(args.demo_seeds), args.demo_steps)
        label = (
            "default (condition size, 64)" if source_short_side is None else f"source_short_side={source_short_side}"
        )
        follows = sum(d > 0 for d in differences)
        demo_rows.append(
            f"| {label} | {np.mean(differences):.1f} | {follows} / {len(differences)} | "
            f"{', '.join(f'{d:.1f}' for d in differences)} |"
        )
    seconds = time.process_time() - start
    table = "\n".join(
        [
            f"({date.today()}, CPU {platform.machine()}, torch {torch.__version__}; {SIZE}x{SIZE} conditions, "
            f"{NUM_FRAMES} frames at {FPS} fps; {seconds:.0f} s process CPU; `python benchmarks/"
            f"bench_stroke_distribution.py`)",
            "",
            "| clip (source, disc radius, velocity) | field | support fraction | / real | mean magnitude (px) | "
            "/ real | mean direction (deg) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            *(
                [
                    "",
                    f"Demo model, right-stroke minus left-stroke centroid travel ({args.demo_steps} DDIM steps, "
                    "guidance 3, seeds 0..):",
                    "",
                    "| stroke field | mean (px) | seeds where it follows | per seed |",
                    "|---|---|---|---|",
                    *demo_rows,
                ]
                if demo_rows
                else []
            ),
        ]
    )
    print(table)
    if not args.no_write:
        write_section(HEADING, table, replace=True)


if __name__ == "__main__":
    main()
