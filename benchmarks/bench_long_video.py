"""Long video with the demo model (trained window 8): seams, repetition, control over length, cost and memory.

Held-out synthetic clips rendered at 64 frames (64x64, one object) give the caption, the stroke condition (the
ground-truth trajectory rendered as a hand-drawn stroke, ``render_motion_field``, as the demo was trained with) and the
reference trajectory. Every configuration generates each clip with the same seed:
  - "full": ``disable_long_video()``, one temporal attention over all 64 frames (what the pipeline did before);
  - "windows/<noise>": windowed temporal attention (window 8, stride 4, pyramid), noise random/shuffle_context/bspline
    (B-spline anchors every 4 frames, "bspline-8": every 8);
  - "gen-l-video": the whole UNet per window, predictions fused (``gen_l_video.py``), random noise;
  - "none": default settings without the stroke (the baseline of the control measure).
Measures:
  - seam ratio: warping error (Farneback, ``videocomposer.metrics.warping``) of the frame pairs that straddle a window
    boundary (t -> t+1 with t+1 a window start or t+1 a window end) / that of every other pair; 1.0 = no seam;
  - repetition: D(d) = mean |frame_t - frame_{t+d}| over t; peak ratio = mean over m in {8, 16, 24, 32} of
    ((D(m-1) + D(m+1)) / 2) / D(m) (> 1: frames a window apart look more alike than their neighbours), also for the
    real 64-frame clips;
  - control: centroid error (px) of the saturated object vs the trajectory over all 64 frames, stroke vs none;
  - cost: process CPU time per frame at 64 frames / at 8 frames (same process, same steps);
  - memory: peak RSS (VmHWM, reset after a warm-up) over the RSS before the call, in a fresh process generating
    16/32/64/128 frames, without and with frame chunking
    (``unet.enable_frame_chunking(8)`` + ``decode_chunk_size=8``).

Continuity (issue 24; ``--continuity``): videos of 4 windows (32 frames) with one straight stroke across the frame
(the app's renderer and radius), seeds 0-3, a prompt without a direction: per frame the object's centroid; a jump is a
frame-to-frame centroid step larger than max(3x the median step, 6 px) (or a frame without an object); mean path error
vs the stroke. Prompt transitions: two segments ("a red circle" -> "a blue circle", boundary at frame 16) with the same
stroke and seed, compared per frame with the videos of each prompt alone: w(f) = d_A / (d_A + d_B) (d: mean absolute
frame difference to the video of the first / second prompt; 0 = like the first, 1 = like the second); the switch
frame (first frame with w >= 0.5) should be the boundary, and w should move from 0 to 1 within the documented span,
``prompt_transition`` frames centred on the boundary (reported: w at the first frame, the span's edges and the last
frame, averaged over seeds, and the frame where the seed-averaged w crosses 0.5). ``--held-out``: the same measures
with a diagonal stroke per seed (seeds 10-13) and ``bench_control --held-out``'s prompts (the second segment: the next
one of them).

Run: ``python benchmarks/bench_long_video.py [--num-clips 6] [--steps 20]``; appends to RESULTS.md and writes
long_video_seam.png (frames 24..35 of the first clip: rows full / windows (default) / gen-l-video; window boundaries
between frames 27|28, 31|32, 35|36).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_control import HELD_OUT_PROMPTS, HELD_OUT_SEEDS, object_masks, save_figure  # noqa: E402
from gen_l_video import gen_l_video  # noqa: E402
from results_file import write_section  # noqa: E402

from videocomposer.metrics.warping import pairwise_warping_errors  # noqa: E402

FIGURE = BENCH_DIR / "long_video_seam.png"
HEADING = "## bench_long_video: long video with the demo model (window 8)"
NUM_FRAMES, SIZE = 64, 64
FIRST_SEED = 3000  # held-out seeds EVAL_SEED_START + 3000 + i, clear of bench_control's
FIGURE_FRAMES = slice(24, 36)
CONTINUITY_HEADING = "## bench_long_video: continuity (jumps, prompt transitions) with the demo model"
CONTINUITY_CONFIGS = {
    "default": {},
    "stride 2": {"context_stride": 2},
    "shuffle_context noise": {"noise_type": "shuffle_context"},
    "bspline noise": {"noise_type": "bspline"},
    "bspline noise, stride 2": {"noise_type": "bspline", "context_stride": 2},
    "bspline noise, anchors every 2": {"noise_type": "bspline", "noise_anchor_spacing": 2},
}
MEMORY_FRAMES = (16, 32, 64, 128)
CONFIGS = {
    "full": None,
    "windows/random": {"noise_type": "random"},
    "windows/shuffle_context": {"noise_type": "shuffle_context"},
    "windows/bspline": {"noise_type": "bspline"},
    "windows/bspline-8": {"noise_type": "bspline", "noise_anchor_spacing": 8},
    "gen-l-video": {},  # default windows, run through gen_l_video (whole UNet per window)
}


def seam_pairs(num_frames: int, windows: list[tuple[int, int]]) -> np.ndarray:
    """Bool `(F - 1,)`: pair t -> t+1 crosses a window boundary (t+1 is a window start > 0 or a window end < F)."""
    seams = np.zeros(num_frames - 1, dtype=bool)
    for start, end in windows:
        if start > 0:
            seams[start - 1] = True
        if end < num_frames:
            seams[end - 1] = True
    return seams


def centroid_jumps(centroids: np.ndarray, min_jump: float = 6.0) -> tuple[float, float, int]:
    """``(largest step, threshold, jumps)`` of a centroid track ``(F, 2)`` (NaN rows: no object): the threshold is
    max(3x the median step, ``min_jump``) px; a jump is a step above it or a frame without an object."""
    steps = np.linalg.norm(np.diff(centroids, axis=0), axis=-1)
    finite = steps[np.isfinite(steps)]
    threshold = max(3.0 * float(np.median(finite)) if len(finite) else 0.0, min_jump)
    largest = float(finite.max()) if len(finite) else float("inf")
    missing = int(np.isnan(centroids).any(axis=-1).sum())
    return largest, threshold, int((finite > threshold).sum()) + missing


def continuity_cases(held_out: bool) -> list[tuple[int, list[tuple[float, float]], str, str]]:
    """(seed, stroke points, prompt, second prompt) per video: the default's horizontal stroke, seeds 0-3, red -> blue
    circle; ``held_out``: seeds 10-13, each a diagonal through the centre and prompts of ``bench_control --held-out``."""
    low, high = 0.2 * (SIZE - 1), 0.8 * (SIZE - 1)
    if not held_out:
        middle = (SIZE - 1) / 2
        return [(seed, [(low, middle), (high, middle)], "a red circle", "a blue circle") for seed in range(4)]
    diagonals = (
        [(low, low), (high, high)],
        [(high, high), (low, low)],
        [(low, high), (high, low)],
        [(high, low), (low, high)],
    )
    prompts = HELD_OUT_PROMPTS
    return [(seed, diagonals[i], prompts[i], prompts[(i + 1) % 4]) for i, seed in enumerate(HELD_OUT_SEEDS)]


def continuity(pipe, steps: int, guidance: float, cases: list, windows: int = 4, transitions: bool = True) -> dict:
    """Issue 24's long-video continuity measures of the pipeline's current long-video settings (module docstring),
    over ``cases`` (:func:`continuity_cases`)."""
    import torch

    from videocomposer.metrics import mask_centroids
    from videocomposer.motion import Stroke, strokes_to_motion_vectors, strokes_to_trajectories

    window = pipe.unet.config.num_frames
    num_frames = windows * window
    boundary = num_frames // 2
    transition = pipe.long_video_settings.prompt_transition if pipe.long_video_settings else 1
    half = transition // 2
    largest, thresholds, jumps, errors, switches, curves, seam_ratios = [], [], 0, [], [], [], []
    seam_mask = seam_pairs(num_frames, pipe.long_video_settings.windows.windows(num_frames))
    for seed, points, prompt, second_prompt in cases:
        stroke = Stroke(points, radius=SIZE / 4)
        path = strokes_to_trajectories([stroke], num_frames)[0]
        field = strokes_to_motion_vectors([stroke], num_frames, SIZE, SIZE)

        def run(prompt, seed=seed, field=field):
            return pipe(
                prompt, motion_vectors=field, num_frames=num_frames, height=SIZE, width=SIZE,
                num_inference_steps=steps, guidance_scale=guidance, generator=torch.Generator().manual_seed(seed),
            ).frames[0]  # fmt: skip

        first = run(prompt)
        pairs = pairwise_warping_errors(first)
        seam_ratios.append(pairs[seam_mask].mean() / max(pairs[~seam_mask].mean(), 1e-9))
        centroids = mask_centroids(object_masks(first))
        big, threshold, count = centroid_jumps(centroids)
        largest.append(big)
        thresholds.append(threshold)
        jumps += count
        distance = np.linalg.norm(centroids - path, axis=-1)
        errors.append(float(np.where(np.isfinite(distance), distance, np.hypot(SIZE, SIZE)).mean()))
        if not transitions:
            continue
        second = run(second_prompt)
        both = run([(0, prompt), (boundary, second_prompt)])
        d_first = np.abs(both - first).mean(axis=(1, 2, 3))
        d_second = np.abs(both - second).mean(axis=(1, 2, 3))
        weight = d_first / np.maximum(d_first + d_second, 1e-9)
        switches.append(int(np.argmax(weight >= 0.5)) - boundary if (weight >= 0.5).any() else num_frames)
        curves.append(weight)
    return {
        "frames": num_frames,
        "largest_jump": float(np.max(largest)),
        "threshold": float(np.min(thresholds)),
        "jumps": jumps,
        "path_error": float(np.mean(errors)),
        "seam_ratio": float(np.mean(seam_ratios)),
        "switch_offsets": switches,
        "span": (-half, transition - half),
        "curve": np.mean(curves, axis=0) if curves else None,
        "boundary": boundary,
    }


def transition_cells(result: dict) -> str:
    """The two prompt-transition cells of a continuity row."""
    curve, boundary, (before, after) = result["curve"], result["boundary"], result["span"]
    crossing = int(np.argmax(curve >= 0.5)) - boundary if (curve >= 0.5).any() else None
    edges = (curve[0], curve[max(boundary + before - 1, 0)], curve[min(boundary + after, len(curve) - 1)], curve[-1])
    return (
        f"| {result['switch_offsets']}; seed mean crosses 0.5 at {crossing} | "
        + " / ".join(f"{v:.2f}" for v in edges)
        + f" (first, span edges {[before, after]}, last) |"
    )


def continuity_main(args: argparse.Namespace, argv: list[str] | None) -> None:
    """``--continuity``: the continuity table of the default settings and the listed alternatives."""
    import torch

    from videocomposer.commands.generate import load_pipeline

    torch.set_num_threads(1)
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    results, start = {}, time.time()
    for name in args.configs:
        pipe.enable_long_video(**CONTINUITY_CONFIGS[name])
        cases = continuity_cases(args.held_out)
        results[name] = continuity(pipe, args.steps, args.guidance, cases, transitions=name == "default")
    seconds = time.time() - start
    if args.held_out:
        prompts = ", ".join(map(repr, HELD_OUT_PROMPTS))
        strokes = f"4 diagonals through the centre x seeds 10-13, prompts {prompts} (second segment: the next prompt)"
    else:
        strokes = "seeds 0-3, 'a red circle' -> 'a blue circle'"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench_long_video.py " + " ".join(argv if argv is not None else sys.argv[1:])
    rows = "\n".join(
        f"| {name} | {r['largest_jump']:.1f} (threshold {r['threshold']:.1f}) | {r['jumps']} | {r['path_error']:.2f} "
        f"| {r['seam_ratio']:.3f} " + (transition_cells(r) if r["curve"] is not None else "| - | - |")
        for name, r in results.items()
    )
    text = f"""### {stamp}, CPU {platform.machine()}, 1 thread, torch {torch.__version__}

Model `{args.model or "installed demo model"}`: {results[name]["frames"]} frames (4 windows) {SIZE}x{SIZE}, one
straight stroke across the frame, {strokes}, {args.steps} DDIM steps, guidance {args.guidance}; {seconds:.0f} s.
Command: `{command.strip()}`

| settings | largest centroid step (px) | jumps + frames without object (target 0) | mean path error (px, target <= 8) | seam ratio (target <= 1.1) | switch frame - boundary, per seed (target 0) | w: first / before / after the span / last (target 0 / 0 / 1 / 1) |
|---|---|---|---|---|---|---|
{rows}
"""
    print(text)
    if not args.no_write:
        write_section(CONTINUITY_HEADING, text)


def distance_profile(frames: np.ndarray, max_lag: int) -> np.ndarray:
    """D(d) for d = 0..max_lag: mean absolute difference of frames d apart (D(0) = 0)."""
    frames = frames.astype(np.float32)
    return np.array([0.0] + [np.abs(frames[d:] - frames[:-d]).mean() for d in range(1, max_lag + 1)])


def peak_ratio(profile: np.ndarray, window: int) -> float:
    """Mean over multiples m of the window (m + 1 <= max lag) of ((D(m-1) + D(m+1)) / 2) / D(m)."""
    multiples = range(window, len(profile) - 1, window)
    return float(np.mean([(profile[m - 1] + profile[m + 1]) / 2 / max(profile[m], 1e-9) for m in multiples]))


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (kB) in MiB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def memory_child(num_frames: int, chunked: bool, model: str | None) -> None:
    """Print JSON {peak_mb, base_mb}: RSS increase over the loaded pipeline while generating `num_frames` frames."""
    import torch

    from videocomposer.commands.generate import load_pipeline

    torch.set_num_threads(1)
    pipe = load_pipeline(model)
    pipe.set_progress_bar_config(disable=True)
    kwargs = dict(height=SIZE, width=SIZE, num_inference_steps=2, guidance_scale=3.0)
    if chunked:
        pipe.unet.enable_frame_chunking(8)
        kwargs["decode_chunk_size"] = 8
    pipe("a red circle", num_frames=2, generator=torch.Generator().manual_seed(0), **kwargs)  # warm-up, small
    with open("/proc/self/clear_refs", "w") as clear_refs:  # reset the peak RSS (VmHWM) to the current RSS
        clear_refs.write("5")
    base = _status_mib("VmRSS")
    pipe("a red circle", num_frames=num_frames, generator=torch.Generator().manual_seed(0), **kwargs)
    peak = _status_mib("VmHWM")
    print(json.dumps({"peak_mb": peak, "base_mb": base}))


def measure_memory(model: str | None) -> dict[tuple[int, bool], float]:
    results = {}
    for chunked in (False, True):
        for frames in MEMORY_FRAMES:
            command = [sys.executable, __file__, "--memory-child", str(frames)] + (["--chunked"] if chunked else [])
            if model:
                command += ["--model", model]
            env = dict(
                os.environ, PYTHONPATH=os.pathsep.join([str(BENCH_DIR.parent), os.environ.get("PYTHONPATH", "")])
            )
            out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
            values = json.loads(out.strip().splitlines()[-1])
            results[frames, chunked] = values["peak_mb"] - values["base_mb"]
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="pipeline folder (default: the installed demo model)")
    parser.add_argument("--num-clips", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--cost-steps", type=int, default=10)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement (subprocesses)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write RESULTS.md or the figure")
    parser.add_argument("--figure", default=str(FIGURE))
    parser.add_argument("--continuity", action="store_true", help="measure jumps and prompt transitions only")
    parser.add_argument(
        "--configs", nargs="+", choices=list(CONTINUITY_CONFIGS), default=list(CONTINUITY_CONFIGS),
        help="--continuity: the long-video settings to measure (prompt transitions: default only)",
    )  # fmt: skip
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="--continuity: diagonal strokes, seeds 10-13 and bench_control's held-out prompts",
    )
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--chunked", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child, args.chunked, args.model)
        return
    if args.num_clips < 1 or args.steps < 1 or args.cost_steps < 1:
        raise ValueError("--num-clips, --steps and --cost-steps must be positive")
    if args.continuity:
        continuity_main(args, argv)
        return

    import torch

    from videocomposer.commands.generate import load_pipeline
    from videocomposer.data.synthetic import clip_seeds, generate_clip
    from videocomposer.metrics import centroid_error, mask_centroids
    from videocomposer.motion.render import render_motion_field
    from videocomposer.motion.strokes import DEFAULT_RADIUS

    torch.set_num_threads(1)
    start_cpu = time.process_time()
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    window = pipe.unet.config.num_frames
    diagonal = float(np.hypot(SIZE, SIZE))
    max_lag = min(NUM_FRAMES // 2, 4 * window) + 1

    def generate(prompt, config, seed, num_frames=NUM_FRAMES, steps=args.steps, **conditions):
        if config is None:
            pipe.disable_long_video()
        else:
            pipe.enable_long_video(**config)
        return pipe(
            prompt, **conditions, num_frames=num_frames, height=SIZE, width=SIZE, num_inference_steps=steps,
            guidance_scale=args.guidance, generator=torch.Generator().manual_seed(seed),
        ).frames[0]  # fmt: skip

    pipe.enable_long_video()
    seams = seam_pairs(NUM_FRAMES, pipe.long_video_settings.windows.windows(NUM_FRAMES))
    seam_ratio = {name: [] for name in CONFIGS}
    flicker = {name: [] for name in CONFIGS}
    peaks = {name: [] for name in [*CONFIGS, "real"]}
    errors = {"stroke": [], "none": []}
    figure_rows = []
    for index, seed in enumerate(clip_seeds("eval", args.num_clips, FIRST_SEED)):
        clip = generate_clip(seed, NUM_FRAMES, SIZE, SIZE, num_objects=1)
        stroke = torch.from_numpy(render_motion_field(clip.trajectories, [DEFAULT_RADIUS], SIZE, SIZE))[None]
        peaks["real"].append(peak_ratio(distance_profile(clip.frames / 255.0, max_lag), window))
        for name, config in CONFIGS.items():
            with gen_l_video(pipe) if name == "gen-l-video" else contextlib.nullcontext():
                frames = generate(clip.caption, config, seed, motion_vectors=stroke)
            pair_errors = pairwise_warping_errors(frames)
            seam_ratio[name].append(pair_errors[seams].mean() / max(pair_errors[~seams].mean(), 1e-9))
            flicker[name].append(pair_errors.mean())
            peaks[name].append(peak_ratio(distance_profile(frames, max_lag), window))
            if name == "windows/random":  # the default settings
                errors["stroke"].append(
                    centroid_error(mask_centroids(object_masks(frames)), clip.trajectories[0], missing=diagonal)
                )
            if index == 0 and name in ("full", "windows/random", "gen-l-video"):
                figure_rows.append(frames[FIGURE_FRAMES])
        frames = generate(clip.caption, {}, seed)
        errors["none"].append(
            centroid_error(mask_centroids(object_masks(frames)), clip.trajectories[0], missing=diagonal)
        )
    quality_seconds = time.process_time() - start_cpu

    # cost: CPU time per frame, 64 frames vs one window, default settings, same process
    pipe.enable_long_video()
    per_frame = {}
    for num_frames, repeats in ((window, 3), (NUM_FRAMES, 2)):
        times = []
        for repeat in range(repeats):
            t0 = time.process_time()
            generate("a red circle moving right", {}, repeat, num_frames=num_frames, steps=args.cost_steps)
            times.append((time.process_time() - t0) / num_frames)
        per_frame[num_frames] = min(times)
    cost_ratio = per_frame[NUM_FRAMES] / per_frame[window]
    memory = {} if args.no_memory else measure_memory(args.model)
    total_seconds = time.process_time() - start_cpu

    def mean(values):
        return float(np.mean(values))

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/bench_long_video.py " + " ".join(argv if argv is not None else sys.argv[1:])
    rows = "\n".join(
        f"| {name} | {mean(seam_ratio[name]):.3f} | {mean(flicker[name]):.4f} | {mean(peaks[name]):.3f} |"
        for name in CONFIGS
    )
    stroke_error, none_error = mean(errors["stroke"]), mean(errors["none"])
    text = f"""### {stamp}, CPU {platform.machine()}, 1 thread, torch {torch.__version__}

{args.num_clips} held-out clips (seeds {clip_seeds("eval", 1, FIRST_SEED)[0]}+, one object) rendered at {NUM_FRAMES}
frames {SIZE}x{SIZE}, stroke condition from the trajectory; {args.steps} DDIM steps, guidance {args.guidance}; window
{window}, stride 4, pyramid weights. {quality_seconds:.0f} s CPU for the quality runs, {total_seconds:.0f} s in all.
Command: `{command.strip()}`

| configuration | seam ratio (target <= 1.1) | warping error | repetition peak ratio |
|---|---|---|---|
{rows}
| real clips | - | - | {mean(peaks["real"]):.3f} |

Control over {NUM_FRAMES} frames (default settings, windows/random): centroid error {stroke_error:.2f} px with the
stroke vs {none_error:.2f} px without (none / stroke = {none_error / max(stroke_error, 1e-9):.2f}x).

Cost: {per_frame[window] * 1e3:.1f} ms CPU per frame at {window} frames, {per_frame[NUM_FRAMES] * 1e3:.1f} ms at
{NUM_FRAMES} frames ({args.cost_steps} steps): ratio {cost_ratio:.2f} (target <= 1.25,
{"met" if cost_ratio <= 1.25 else "missed"}).
"""
    if memory:
        lines = "\n".join(
            f"| {frames} | {memory[frames, False]:.0f} | {memory[frames, True]:.0f} |" for frames in MEMORY_FRAMES
        )
        slopes = [
            (memory[MEMORY_FRAMES[-1], c] - memory[MEMORY_FRAMES[0], c]) / (MEMORY_FRAMES[-1] - MEMORY_FRAMES[0])
            for c in (False, True)
        ]
        text += f"""
Peak memory (RSS increase of a fresh process over the loaded pipeline, MiB; 2 steps):

| frames | plain | frame chunking 8 + decode chunk 8 |
|---|---|---|
{lines}
| slope (MiB / frame) | {slopes[0]:.2f} | {slopes[1]:.2f} |
"""
    print(text)
    if not args.no_write:
        write_section(HEADING, text)
        save_figure(figure_rows, args.figure, scale=2)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
