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
Targets of issue 7 at 64x64: <= 2 px with motion, >= 8 px without, sketch IoU >= 0.8.

Run: `python benchmarks/bench_control.py [--num-clips 50] [--steps 25] [--guidance 3]`; appends to RESULTS.md and
writes control_fidelity.png (for each of the first clips, rows: real clip, motion-, no-, sketch-conditioned).
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
SATURATION_THRESHOLD = 0.5  # objects have HSV saturation >= 0.7, the backgrounds <= 0.3
FIRST_SEED = 1000  # held-out seeds EVAL_SEED_START + 1000 + i: clear of the ones the demo command uses


def object_masks(frames: np.ndarray) -> np.ndarray:
    """(F, H, W) bool: pixels whose HSV saturation (max - min) / max exceeds SATURATION_THRESHOLD."""
    values = frames.astype(np.float32)
    high, low = values.max(axis=-1), values.min(axis=-1)
    saturation = (high - low) / np.maximum(high, 1e-6)
    return (saturation > SATURATION_THRESHOLD) & (high > 0.15)


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
    parser.add_argument("--num-clips", type=int, default=50)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only, do not write RESULTS.md or the figure")
    parser.add_argument("--figure", default=str(FIGURE), help="PNG of the first clips: real / motion / none / sketch")
    args = parser.parse_args(argv)
    if args.num_clips < 1 or args.steps < 1 or args.threads < 1:
        raise ValueError("--num-clips, --steps and --threads must be positive")

    import torch

    from condition_extractors import CannyExtractor, MotionVectorExtractor, resize_center_crop
    from videocomposer.commands.generate import load_pipeline
    from videocomposer.data.synthetic import clip_seeds, generate_clip
    from videocomposer.demo.components import NUM_FRAMES, SKETCH_CANNY_THRESHOLDS
    from videocomposer.metrics import centroid_error, mask_centroids, mask_iou, warping_error

    torch.set_num_threads(args.threads)
    pipeline = load_pipeline(args.model)
    pipeline.set_progress_bar_config(disable=True)
    size = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    diagonal = float(np.hypot(size, size))
    size_15 = round(1.5 * size)  # extract_conditions' size for the sketch
    motion_extractor, canny = MotionVectorExtractor(), CannyExtractor(*SKETCH_CANNY_THRESHOLDS)
    errors: dict[str, list[float]] = {"motion": [], "none": []}
    ious, flicker_generated, flicker_real, figure_rows = [], [], [], []
    start = time.time()
    for seed in clip_seeds("eval", args.num_clips, FIRST_SEED):
        clip = generate_clip(seed, NUM_FRAMES, size, size, num_objects=1)
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
                flicker_generated.append(warping_error(frames))
                flicker_real.append(warping_error(clip.frames))
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
"""
    print(table)
    if not args.no_write:
        write_section(HEADING, table)
        save_figure(figure_rows, args.figure)
        print(f"figure: {args.figure} (rows per clip: real, motion-conditioned, no condition, sketch-conditioned)")


if __name__ == "__main__":
    main()
