"""Control fidelity of the demo model on held-out synthetic clips (seeds never used in training).

For every clip (one object, 8 frames, 64x64) the model generates, with the clip's caption and the same noise:
  - "motion": the codec motion vectors of the clip (MotionVectorExtractor, as `videocomposer demo`);
  - "none": no STC condition at all (the baseline);
  - "sketch": the Canny sketch of the clip (at 1.5x the video size, as `extract_conditions`).
The generated object is found as the saturated pixels (objects are saturated colours, backgrounds muted tones; hue
errors of the small VAE do not matter), and measured against the generator's ground truth:
  - centroid error (px): mean over frames of |centroid(generated) - trajectory(gt)|, a frame with no object counts as
    the frame diagonal (`videocomposer.metrics.centroid_error`), for "motion" vs "none" (ratio none / motion);
  - sketch IoU: generated object mask vs the ground-truth visible mask, all frames pooled (`mask_iou`);
  - flicker: warping error (Farneback flow) of the "motion" videos vs the real clips (ratio generated / real).
  - masked-video context: PSNR (dB) of the generated frames vs the real clip outside the hole of a random mask
    (`MaskGenerator`, the mask condition alone, the generated pixels as they are: no compositing of the known ones).
Targets of issue 7 at 64x64: <= 2 px with motion, >= 8 px without, sketch IoU >= 0.8.

Stroke following (issue 24; `--strokes`): one straight stroke through the centre as the app draws it (radius a
quarter of the short side, `strokes_to_motion_vectors`), 4 directions x seeds 0-3, a prompt without a direction
("a red circle", ...), 20 steps, guidance 3.0; per frame the generated object's centroid vs the stroke's position:
mean error, the ratio to the same seeds and prompts without the stroke, the error at frame 0 (the object starting
where the stroke starts), and how often the object has the prompt's colour (nearest of the generator's colours).
Targets at 64x64: mean <= 6 px, >= 2.5x better than without, <= 8 px at frame 0. `--models A B` measures several
models with the same strokes and seeds, one column each.

Run: `python benchmarks/bench_control.py [--num-clips 50] [--steps 25] [--guidance 3]`; appends to RESULTS.md and
writes control_fidelity.png (for each of the first clips, rows: real clip, motion-, no-, sketch-conditioned).
`python benchmarks/bench_control.py --strokes --models OLD NEW` writes the stroke-following section.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import numpy as np
from results_file import write_section

FIGURE = Path(__file__).resolve().parent / "control_fidelity.png"
FIGURE_CLIPS = 3
HEADING = "## bench_control: control fidelity of the demo model"
STROKE_HEADING = "## bench_control: stroke following of the demo model"
STROKE_DIRECTIONS = {"right": (1.0, 0.0), "left": (-1.0, 0.0), "down": (0.0, 1.0), "up": (0.0, -1.0)}
STROKE_PROMPTS = ("a red circle", "a blue square", "a green triangle", "a yellow circle")  # seed i: prompt i
#: ``--held-out``: strokes, seeds and prompts the default set does not use (diagonals through the centre)
HELD_OUT_DIRECTIONS = {name: (x * 0.5**0.5, y * 0.5**0.5) for name, (x, y) in
                       {"down-right": (1, 1), "up-left": (-1, -1), "up-right": (1, -1), "down-left": (-1, 1)}.items()}
HELD_OUT_PROMPTS = ("a green circle", "a red square", "a blue circle", "a yellow square")
HELD_OUT_SEEDS = range(10, 14)
STROKE_HALF_LENGTH = 0.3  # of the frame's side: the stroke runs from 0.2 to 0.8 through the centre
SATURATION_THRESHOLD = 0.5  # objects have HSV saturation >= 0.7, the backgrounds <= 0.3
FIRST_SEED = 1000  # held-out seeds EVAL_SEED_START + 1000 + i: clear of the ones the demo command uses


def object_masks(frames: np.ndarray) -> np.ndarray:
    """(F, H, W) bool: pixels whose HSV saturation (max - min) / max exceeds SATURATION_THRESHOLD."""
    values = frames.astype(np.float32)
    high, low = values.max(axis=-1), values.min(axis=-1)
    saturation = (high - low) / np.maximum(high, 1e-6)
    return (saturation > SATURATION_THRESHOLD) & (high > 0.15)


def stroke_following(pipeline, size: int, steps: int = 20, guidance: float = 3.0, seeds=range(4),
                     directions=STROKE_DIRECTIONS, prompts=STROKE_PROMPTS) -> dict:  # fmt: skip
    """Issue 24's stroke-following measure of one model (module docstring): mean errors with and without the
    stroke, their ratio, the error at frame 0, and the share of videos whose object has the prompt's colour."""
    import torch

    from videocomposer.data.synthetic import COLORS
    from videocomposer.demo.components import NUM_FRAMES
    from videocomposer.metrics import mask_centroids
    from videocomposer.motion import Stroke, strokes_to_motion_vectors, strokes_to_trajectories

    diagonal = float(np.hypot(size, size))
    centre, half = (size - 1) / 2, STROKE_HALF_LENGTH * size
    errors = {"stroke": [], "none": []}
    first, colours = [], []
    for direction in directions.values():
        offset = np.array(direction) * half
        stroke = Stroke([tuple(centre - offset), tuple(centre + offset)], radius=size / 4)
        path = strokes_to_trajectories([stroke], NUM_FRAMES)[0]  # (F, 2)
        field = strokes_to_motion_vectors([stroke], NUM_FRAMES, size, size)
        for seed in seeds:
            prompt = prompts[seed % len(prompts)]
            for name, conditions in (("stroke", {"motion_vectors": field}), ("none", {})):
                frames = pipeline(
                    prompt, **conditions, num_frames=NUM_FRAMES, height=size, width=size, num_inference_steps=steps,
                    guidance_scale=guidance, generator=torch.Generator().manual_seed(seed),
                ).frames[0]  # fmt: skip
                masks = object_masks(frames)
                centroids = mask_centroids(masks)
                distance = np.linalg.norm(centroids - path, axis=-1)
                distance = np.where(np.isfinite(distance), distance, diagonal)  # no object: the diagonal
                errors[name].append(float(distance.mean()))
                if name == "stroke":
                    first.append(float(distance[0]))
                    pixels = frames[masks] * 255.0
                    if len(pixels):
                        mean = pixels.mean(axis=0)
                        nearest = min(COLORS, key=lambda c: float(np.sum((np.array(COLORS[c]) - mean) ** 2)))
                        colours.append(nearest == prompt.split()[1])
                    else:
                        colours.append(False)
    stroke_error, none_error = float(np.mean(errors["stroke"])), float(np.mean(errors["none"]))
    return {
        "stroke": stroke_error,
        "none": none_error,
        "ratio": none_error / max(stroke_error, 1e-9),
        "frame0": float(np.mean(first)),
        "colour": float(np.mean(colours)),
        "runs": len(errors["stroke"]),
    }


def masked_context_psnr(pipeline, clips: list, size: int, steps: int, guidance: float) -> float:
    """Mean PSNR (dB, pixels in [0, 1]) outside the hole of the masked-video-conditioned videos of ``clips``."""
    import torch

    from condition_extractors import MaskGenerator, resize_center_crop
    from videocomposer.demo.components import NUM_FRAMES

    size_15 = round(1.5 * size)
    values = []
    for clip in clips:
        pixels = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
        masked = MaskGenerator(seed=clip.seed)(resize_center_crop(pixels, size_15, size_15)).permute(1, 0, 2, 3)[None]
        frames = pipeline(
            clip.caption, masked_video=masked[:, :3], mask=masked[:, 3:], num_frames=NUM_FRAMES, height=size,
            width=size, num_inference_steps=steps, guidance_scale=guidance,
            generator=torch.Generator().manual_seed(clip.seed),
        ).frames[0]  # fmt: skip
        hole = torch.nn.functional.interpolate(masked[0, 3:].transpose(0, 1), size=(size, size), mode="nearest")
        known = (hole[:, 0] < 0.5).numpy()  # (F, H, W)
        error = ((frames - clip.frames / 255.0) ** 2)[known].mean()
        values.append(float(10 * np.log10(1.0 / max(error, 1e-12))))
    return float(np.mean(values))


def strokes_main(args: argparse.Namespace, argv: list[str] | None) -> None:
    """``--strokes``: the stroke-following table of one or more models."""
    import torch

    from videocomposer.commands.generate import load_pipeline

    results, start = {}, time.time()
    for model in args.models or [None]:
        pipeline = load_pipeline(model)
        pipeline.set_progress_bar_config(disable=True)
        size = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
        results[model or "installed demo model"] = stroke_following(pipeline, size, args.steps, args.guidance, *(
            (HELD_OUT_SEEDS, HELD_OUT_DIRECTIONS, HELD_OUT_PROMPTS) if args.held_out else ()))  # fmt: skip
    seconds = time.time() - start
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench_control.py " + " ".join(argv if argv is not None else sys.argv[1:])
    names = list(results)
    rows = [
        ("mean centroid error with the stroke (px)", "stroke", "{:.2f}", "<= 6"),
        ("mean centroid error without it (px)", "none", "{:.2f}", "-"),
        ("ratio without / with", "ratio", "{:.2f}x", ">= 2.5x"),
        ("error at frame 0 (px)", "frame0", "{:.2f}", "<= 8"),
        ("object in the prompt's colour", "colour", "{:.0%}", "-"),
    ]
    table = f"""### {stamp}, CPU {platform.machine()}, {args.threads} thread(s), torch {torch.__version__}

One straight stroke through the centre ({"4 diagonals x seeds 10-13" if args.held_out else "4 directions x seeds 0-3"}
= {results[names[0]]["runs"]} videos per model), prompts
{", ".join(repr(p) for p in (HELD_OUT_PROMPTS if args.held_out else STROKE_PROMPTS))} (seed i: prompt i mod 4),
{args.steps} DDIM steps, guidance
{args.guidance}, {seconds:.0f} s. Command: `{command.strip()}`

| measure | {" | ".join(f"`{name}`" for name in names)} | target |
|---|{"---|" * len(names)}---|
"""
    for label, key, fmt, target in rows:
        table += f"| {label} | {' | '.join(fmt.format(results[n][key]) for n in names)} | {target} |\n"
    print(table)
    if not args.no_write:
        write_section(STROKE_HEADING, table)


def save_figure(rows: list[np.ndarray], path: str | Path, scale: int = 2) -> None:
    """Stack (F, H, W, 3) float videos as rows of frames side by side, upscaled ``scale``x, into a PNG (atomically)."""
    import PIL.Image

    strips = [np.concatenate(list(np.clip(video, 0.0, 1.0)), axis=1) for video in rows]
    image = (np.concatenate(strips, axis=0) * 255).round().astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    PIL.Image.fromarray(image).save(partial, format="PNG")
    partial.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="pipeline folder (default: the installed demo model)")
    parser.add_argument("--strokes", action="store_true", help="measure stroke following only (issue 24)")
    parser.add_argument("--models", nargs="+", default=None, help="--strokes: pipeline folders to compare")
    parser.add_argument("--held-out", action="store_true", help="--strokes: diagonal strokes, seeds 10-13, other prompts")
    parser.add_argument("--num-clips", type=int, default=50)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only, do not write RESULTS.md or the figure")
    parser.add_argument("--figure", default=str(FIGURE), help="PNG of the first clips: real / motion / none / sketch")
    args = parser.parse_args(argv)
    if args.num_clips < 1 or args.steps < 1 or args.threads < 1:
        raise ValueError("--num-clips, --steps and --threads must be positive")
    if args.models is not None and not args.strokes:
        raise ValueError("--models: only with --strokes (the clip measures take --model)")

    import torch

    torch.set_num_threads(args.threads)
    if args.strokes:
        strokes_main(args, argv)
        return

    from condition_extractors import CannyExtractor, MotionVectorExtractor, resize_center_crop
    from videocomposer.commands.generate import load_pipeline
    from videocomposer.data.synthetic import clip_seeds, generate_clip
    from videocomposer.demo.components import NUM_FRAMES, SKETCH_CANNY_THRESHOLDS
    from videocomposer.metrics import centroid_error, mask_centroids, mask_iou, mean_abs_warping_error

    pipeline = load_pipeline(args.model)
    pipeline.set_progress_bar_config(disable=True)
    size = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    diagonal = float(np.hypot(size, size))
    size_15 = round(1.5 * size)  # extract_conditions' size for the sketch
    motion_extractor, canny = MotionVectorExtractor(), CannyExtractor(*SKETCH_CANNY_THRESHOLDS)
    errors: dict[str, list[float]] = {"motion": [], "none": []}
    ious, flicker_generated, flicker_real, figure_rows, clips = [], [], [], [], []
    start = time.time()
    for seed in clip_seeds("eval", args.num_clips, FIRST_SEED):
        clip = generate_clip(seed, NUM_FRAMES, size, size, num_objects=1)
        clips.append(clip)
        pixels = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
        runs = {
            "motion": {"motion_vectors": motion_extractor(pixels).permute(1, 0, 2, 3)[None]},
            "none": {},
            "sketch": {"sketch": canny(resize_center_crop(pixels, size_15, size_15)).permute(1, 0, 2, 3)[None]},
        }
        in_figure = len(figure_rows) < 4 * FIGURE_CLIPS  # rows: real, then one per run
        if in_figure:
            figure_rows.append(clip.frames / 255.0)
        for name, conditions in runs.items():
            frames = pipeline(
                clip.caption, **conditions, num_frames=NUM_FRAMES, height=size, width=size,
                num_inference_steps=args.steps, guidance_scale=args.guidance,
                generator=torch.Generator().manual_seed(seed),
            ).frames[0]  # fmt: skip
            if in_figure:
                figure_rows.append(frames)
            masks = object_masks(frames)
            if name == "sketch":
                ious.append(mask_iou(masks, clip.visible_masks[:, 0]))
                continue
            errors[name].append(centroid_error(mask_centroids(masks), clip.trajectories[0], missing=diagonal))
            if name == "motion":
                flicker_generated.append(mean_abs_warping_error(frames))
                flicker_real.append(mean_abs_warping_error(clip.frames))
    psnr = masked_context_psnr(pipeline, clips, size, args.steps, args.guidance)
    seconds = time.time() - start

    motion, none = float(np.mean(errors["motion"])), float(np.mean(errors["none"]))
    iou = float(np.mean(ious))
    flicker, flicker_ref = float(np.mean(flicker_generated)), float(np.mean(flicker_real))
    verdict = {
        "motion": "met" if motion <= 2 else "missed",
        "none": "met" if none >= 8 else "missed",
        "iou": "met" if iou >= 0.8 else "missed",
    }
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench_control.py " + " ".join(argv if argv is not None else sys.argv[1:])
    table = f"""### {stamp}, CPU {platform.machine()}, {args.threads} thread(s), torch {torch.__version__}

{args.num_clips} held-out clips (seeds {clip_seeds("eval", 1, FIRST_SEED)[0]}+, one object, {NUM_FRAMES} frames
{size}x{size}), {args.steps} DDIM steps, guidance {args.guidance}, {seconds:.0f} s. Command: `{command.strip()}`

| measure | value | target | ratio |
|---|---|---|---|
| centroid error, motion condition (px) | {motion:.2f} | <= 2 ({verdict["motion"]}) | none / motion = {none / max(motion, 1e-9):.2f}x |
| centroid error, no STC condition (px) | {none:.2f} | >= 8 ({verdict["none"]}) | 1.00x (baseline) |
| sketch mask IoU | {iou:.3f} | >= 0.8 ({verdict["iou"]}) | - |
| warping error, motion-conditioned videos | {flicker:.4f} | - | generated / real = {flicker / max(flicker_ref, 1e-9):.2f}x |
| warping error, real clips | {flicker_ref:.4f} | - | 1.00x (baseline) |
| masked video: PSNR outside the hole (dB) | {psnr:.2f} | - | - |
"""
    print(table)
    if not args.no_write:
        write_section(HEADING, table)
        save_figure(figure_rows, args.figure)
        print(f"figure: {args.figure} (rows per clip: real, motion-conditioned, no condition, sketch-conditioned)")


if __name__ == "__main__":
    main()
