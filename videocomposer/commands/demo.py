"""`videocomposer demo`: three controlled generations with the installed demo model, written to `--output-dir`.

(a) text + a hand-drawn stroke, (b) motion transfer from a synthetic source video (codec motion vectors), (c) sketch
to video (Canny edges of the source video). Each gives an mp4 and a condition grid (mp4 and gif); the stroke file and
the source video are written too, so the same runs can be repeated with `videocomposer generate`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SOURCE_SEED_OFFSET = 7  # the held-out synthetic clip used as the source video: EVAL_SEED_START + this
# A hand-drawn stroke on a 64x64 canvas: from the lower left, curving up to the upper right.
DEMO_STROKE = {"points": [(12.0, 50.0), (24.0, 44.0), (36.0, 32.0), (46.0, 20.0), (52.0, 13.0)], "radius": 16.0}
STROKE_PROMPT = "a red circle moving to the upper right on a plain background"
GRID_HEIGHT = 128


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the demo model on a hand-drawn stroke, a source video's motion and a sketch; write outputs",
        description=(
            "Generate three videos with the installed demo model (no network): text + hand-drawn stroke, motion "
            "transfer from a synthetic source video, and sketch to video, each with a condition grid."
        ),
    )
    parser.add_argument("--output-dir", default="outputs", help="folder to write into (created if missing)")
    parser.add_argument("--model", default=None, help="pipeline folder (default: the installed demo model)")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps per video")
    parser.add_argument("--guidance", type=float, default=None,
                        help="classifier-free guidance scale: the model's recommended `default_guidance_scale` "
                             "(default: 3.0), another --model's own")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial noise of each video")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise ValueError(f"--steps: expected a positive integer, got {args.steps}")
    if args.guidance is not None and not args.guidance >= 0:
        raise ValueError(f"--guidance: expected a number >= 0, got {args.guidance}")
    if args.seed < 0:
        raise ValueError(f"--seed: expected a non-negative integer, got {args.seed}")
    output_dir = Path(args.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output-dir: {output_dir} exists and is not a folder")
    output_dir.mkdir(parents=True, exist_ok=True)

    import torch

    from condition_extractors import CannyExtractor, extract_conditions
    from videocomposer.atomic_files import atomic_write_bytes
    from videocomposer.conditions import video_size
    from videocomposer.data.synthetic import EVAL_SEED_START, encode_mp4, generate_clip
    from videocomposer.demo.components import NUM_FRAMES, SKETCH_CANNY_THRESHOLDS
    from videocomposer.motion import Stroke, StrokeSet, save_strokes, strokes_to_motion_vectors
    from videocomposer.visualize import condition_grid, save_video

    from .generate import load_pipeline

    pipeline = load_pipeline(args.model)
    _, size, _ = video_size(pipeline.unet.config, pipeline.vae_scale_factor)
    fps = 4.0
    common = dict(num_frames=NUM_FRAMES, height=size, width=size, num_inference_steps=args.steps,
                  guidance_scale=args.guidance)  # fmt: skip (None: the model's default_guidance_scale)

    # The source video: a held-out synthetic clip (never seen in training), written as a real mp4.
    clip = generate_clip(EVAL_SEED_START + SOURCE_SEED_OFFSET, NUM_FRAMES, size, size, num_objects=1)
    source_path = output_dir / "source.mp4"
    atomic_write_bytes(source_path, encode_mp4(clip.frames, fps=int(fps)))
    direction = clip.directions[0]
    where = f"to the {direction}" if " " in direction else direction
    other = "blue" if clip.objects[0].color != "blue" else "green"

    stroke_set = StrokeSet([Stroke(points=list(DEMO_STROKE["points"]), radius=DEMO_STROKE["radius"])], 64, 64)
    save_strokes(stroke_set, output_dir / "stroke.json")
    strokes = stroke_set.scaled_to(size, size).strokes
    extract = dict(num_frames=NUM_FRAMES, fps=fps, height=size, width=size)
    runs = {
        "stroke": (STROKE_PROMPT, {"motion_vectors": strokes_to_motion_vectors(strokes, NUM_FRAMES, size, size)},
                   None),
        "motion_transfer": (f"a {other} square moving {where} on a plain background",
                            extract_conditions(source_path, ["motion"], **extract), clip.frames),
        "sketch": (clip.caption.replace(clip.objects[0].color, other),
                   extract_conditions(source_path, [CannyExtractor(*SKETCH_CANNY_THRESHOLDS)], **extract), clip.frames),
    }  # fmt: skip

    written = [output_dir / "stroke.json", source_path]
    for name, (prompt, conditions, source) in runs.items():
        print(f"({name}) {prompt!r} with {', '.join(conditions)}", flush=True)
        frames = pipeline(prompt, **conditions, **common, generator=torch.Generator().manual_seed(args.seed)).frames[0]
        written.append(save_video(frames, output_dir / f"{name}.mp4", fps=fps))
        grid = condition_grid(frames, conditions, source=source, height=GRID_HEIGHT)
        written.append(save_video(grid, output_dir / f"{name}_grid.mp4", fps=fps))
        written.append(save_video(grid, output_dir / f"{name}_grid.gif", fps=fps))
    print("wrote:")
    for path in written:
        print(f"  {path}")
    return 0
