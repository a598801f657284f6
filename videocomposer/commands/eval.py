"""`videocomposer eval`: the papers' video metrics on a folder of generated videos, written as JSON and markdown.

`videocomposer eval --generated DIR [--reference DIR] [--prompts FILE] [--conditions DIR] [--metrics ...] --output
report.json` reads every mp4 / gif / webm / mov / mkv / avi file of the folders (all frames, at their own size),
skips unreadable files with a count, and writes `report.json` (schema below) and `report.md` (the table it prints).

JSON: ``{"metrics": {name: number | {"value": null, "reason": str}}, "videos_per_metric": {name: int},
"skipped_files": int, "skipped": [{"file", "reason"}], "per_video": {file: {name: number | {"value": null,
"reason"}}}, "num_videos": {"generated": int, "reference": int}, "settings": {...}}``. Per-metric values are means
over the videos where the metric is defined (``videos_per_metric`` says how many); ``dynamic_degree`` is the
fraction of dynamic videos; ``fvd`` and ``fid`` compare the two folders' feature distributions.

Weight-based metrics use the weights the user names (files; a transformers hub id is fetched by transformers as
usual): a metric whose weights are not given, or fail to load, is reported as not computed, with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from videocomposer.atomic_files import atomic_write_text

VIDEO_EXTENSIONS = (".mp4", ".gif", ".webm", ".mov", ".mkv", ".avi")
WEIGHT_FREE = ("warping_error", "temporal_flickering", "repetition_peak", "seam_discontinuity", "motion_vector_error")
WEIGHTED = (
    "clip_frame_consistency",
    "clip_text_similarity",
    "subject_consistency",
    "flow_error",
    "dynamic_degree",
    "fvd",
    "fid",
)
METRICS = WEIGHT_FREE + WEIGHTED
# metric -> the non-weight input it needs (option name, as `args` attribute)
_INPUT_OF = {
    "seam_discontinuity": "seams",
    "motion_vector_error": "conditions",
    "flow_error": "conditions",
    "clip_text_similarity": "prompts",
    "fvd": "reference",
    "fid": "reference",
}
# metric -> the weights option it needs
_WEIGHTS_OF = {
    "clip_frame_consistency": "clip_model",
    "clip_text_similarity": "clip_model",
    "subject_consistency": "dino_model",
    "flow_error": "raft_weights",
    "dynamic_degree": "raft_weights",
    "fvd": "i3d_model",
    "fid": "inception",
}
_NOTES = {
    "warping_error": "Farneback-warped next frame vs frame, mean abs error (0-1), lower is smoother",
    "temporal_flickering": "VBench score (255 - mean abs frame difference) / 255, 1 = still",
    "repetition_peak": "prominence of the self-similarity peak over frame distance, 0 = no repetition",
    "seam_discontinuity": "warping error at --seams / elsewhere, 1 = seamless",
    "motion_vector_error": "codec motion-vector end-point error vs the condition (px), see --mv-support",
    "clip_frame_consistency": "mean CLIP cosine of consecutive frames",
    "clip_text_similarity": "mean CLIP cosine of frames and prompt",
    "subject_consistency": "VBench DINO consistency with previous and first frame",
    "flow_error": "RAFT flow vs the motion condition, end-point error (px)",
    "dynamic_degree": "VBench: fraction of videos with large RAFT motion",
    "fvd": "Frechet video distance (comparable within one feature extractor and clip length only)",
    "fid": "Frechet Inception distance over all frames",
}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure a folder of generated videos: flicker, repetition, motion control, CLIP, DINO, FVD, FID",
        description=(
            "Compute video metrics on a folder of generated videos and write a JSON report plus a markdown table. "
            "Weight-free metrics always run; CLIP, DINO, RAFT, FVD and FID need the weights named by their options "
            "and are reported as not computed (with the reason) without them. Metrics: " + ", ".join(METRICS) + "."
        ),
    )
    parser.add_argument("--generated", type=Path, required=True, metavar="DIR", help="folder of generated videos")
    parser.add_argument(
        "--reference", type=Path, metavar="DIR", help="folder of reference (real) videos, for fvd and fid"
    )
    parser.add_argument("--prompts", type=Path, metavar="FILE", help="captions .csv/.jsonl (for clip_text_similarity)")
    parser.add_argument("--video-column", default="videoid", help="column of --prompts naming the video")
    parser.add_argument("--caption-column", default="name", help="column of --prompts holding the prompt")
    parser.add_argument(
        "--conditions",
        type=Path,
        metavar="DIR",
        help="folder of `videocomposer extract` files NAME.safetensors with motion_vectors",
    )
    parser.add_argument(
        "--metrics", nargs="+", choices=METRICS, metavar="NAME", help="metrics to compute (default: all, listed above)"
    )
    parser.add_argument(
        "--output", type=Path, required=True, metavar="FILE", help="report .json (the .md table goes next to it)"
    )
    parser.add_argument(
        "--mv-support",
        choices=("both", "either"),
        default="both",
        help="motion_vector_error on blocks with a vector in both fields (default) or in either",
    )
    parser.add_argument("--seams", type=int, nargs="+", help="first frame of each new window (seam_discontinuity)")
    parser.add_argument("--clip-model", help="transformers CLIP folder / hub id, or open_clip:ARCH:WEIGHTS_FILE")
    parser.add_argument("--dino-model", help="transformers DINO / DINOv2 / ViT folder or hub id")
    parser.add_argument("--raft-weights", help="torchvision RAFT state dict (raft_large or raft_small)")
    parser.add_argument("--i3d-model", help="StyleGAN-V i3d_torchscript.pt, or r3d_18:PATH / r2plus1d_18:PATH")
    parser.add_argument("--inception", help="FID Inception weights (torch-fidelity pt_inception-2015-12-05 file)")
    parser.add_argument("--fvd-frames", type=int, default=16, help="frames per FVD clip, from the start (16)")
    parser.add_argument("--device", default="cpu", help="torch device of the weight-based models")
    parser.set_defaults(func=run)


def _video_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def read_video(path: Path):
    """All frames of a video file as uint8 ``(F, H, W, 3)``; ValueError for unreadable files or < 2 frames.

    GIFs are read with Pillow (ffmpeg collapses frames without a delay into one), everything else with PyAV.
    """
    import av
    import numpy as np
    import PIL.Image
    import PIL.ImageSequence

    try:
        if path.suffix.lower() == ".gif":
            with PIL.Image.open(path) as image:
                frames = [np.asarray(frame.convert("RGB")) for frame in PIL.ImageSequence.Iterator(image)]
        else:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise ValueError("no video stream")
                frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.error.FFmpegError, OSError) as error:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"unreadable ({type(error).__name__}: {error})") from None
    if len(frames) < 2:
        raise ValueError(f"{len(frames)} frame(s); metrics need at least 2")
    if len({f.shape for f in frames}) != 1:
        raise ValueError("frames change size mid-stream")
    return np.stack(frames)


def _validate(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """Check the arguments before any heavy work; returns the metrics to compute and those not computed (reasons)."""
    if not args.generated.is_dir():
        raise FileNotFoundError(f"--generated: no such folder: {args.generated}")
    for name in ("reference", "conditions"):
        folder = getattr(args, name)
        if folder is not None and not folder.is_dir():
            raise FileNotFoundError(f"{_option(name)}: no such folder: {folder}")
    if args.prompts is not None and not args.prompts.is_file():
        raise FileNotFoundError(f"--prompts: no such file: {args.prompts}")
    if args.output.suffix != ".json":
        raise ValueError(f"--output: expected a .json file, got {args.output}")
    if args.fvd_frames < 2:
        raise ValueError(f"--fvd-frames: expected >= 2, got {args.fvd_frames}")
    if args.seams is not None and min(args.seams) < 1:
        raise ValueError(f"--seams: frame indices must be >= 1, got {args.seams}")
    if args.prompts is None and (args.video_column, args.caption_column) != ("videoid", "name"):
        raise ValueError("--video-column / --caption-column are given but --prompts is not")
    explicit = args.metrics is not None
    wanted = list(dict.fromkeys(args.metrics)) if explicit else list(METRICS)
    not_computed: dict[str, str] = {}
    for metric in wanted:
        needed = _INPUT_OF.get(metric)
        if needed is not None and getattr(args, needed) is None:
            if explicit:
                raise ValueError(f"--metrics {metric} needs {_option(needed)}")
            not_computed[metric] = f"needs {_option(needed)}"
    for metric in wanted:
        weights = _WEIGHTS_OF.get(metric)
        if metric not in not_computed and weights is not None and getattr(args, weights) is None:
            not_computed[metric] = f"no weights: give {_option(weights)}"
    if explicit:
        used = {_INPUT_OF.get(m) for m in wanted} | {_WEIGHTS_OF.get(m) for m in wanted}
        for option in ("seams", "conditions", "prompts", "reference", *dict.fromkeys(_WEIGHTS_OF.values())):
            if getattr(args, option) is not None and option not in used:
                raise ValueError(f"{_option(option)} is given but none of --metrics {' '.join(wanted)} uses it")
        for option, default, metric in (("mv_support", "both", "motion_vector_error"), ("fvd_frames", 16, "fvd")):
            if getattr(args, option) != default and metric not in wanted:
                raise ValueError(f"{_option(option)} is given but --metrics has no {metric}")
        if all(m in not_computed for m in wanted):
            raise ValueError(
                "--metrics: none can be computed: " + "; ".join(f"{m}: {r}" for m, r in not_computed.items())
            )
    return [m for m in wanted if m not in not_computed], not_computed


def _load_models(metrics: list[str], args: argparse.Namespace, not_computed: dict[str, str]) -> dict[str, object]:
    """Load each weight-based model once; a load failure moves its metrics to ``not_computed`` with the reason."""
    from videocomposer.metrics import ClipEncoder, DinoEncoder, FrameFeatures, RaftFlow, VideoFeatures

    loaders = {
        "clip_model": lambda: ClipEncoder.load(args.clip_model, args.device),
        "dino_model": lambda: DinoEncoder.load(args.dino_model, args.device),
        "raft_weights": lambda: RaftFlow.load(args.raft_weights, args.device),
        "i3d_model": lambda: VideoFeatures.load(args.i3d_model, args.device),
        "inception": lambda: FrameFeatures.load_inception(args.inception, args.device),
    }
    models: dict[str, object] = {}
    for option in dict.fromkeys(_WEIGHTS_OF[m] for m in metrics if m in _WEIGHTS_OF):
        try:
            models[option] = loaders[option]()
        except (OSError, ValueError, ImportError, RuntimeError) as error:
            for metric in metrics:
                if _WEIGHTS_OF.get(metric) == option:
                    not_computed[metric] = f"{_option(option)} {getattr(args, option)!r} failed to load: {error}"
    return models


def _prompts(args: argparse.Namespace) -> dict[str, str]:
    from videocomposer.data.video_dataset import read_captions

    pairs = read_captions(args.prompts, args.video_column, args.caption_column)
    return {Path(video).stem: caption for video, caption in pairs}


def _motion_condition(args: argparse.Namespace, stem: str, frames):
    """``(frames resized to the condition size, condition (F, 2, H, W))`` or a reason string."""
    import torch
    from safetensors.torch import load_file

    from condition_extractors import resize_center_crop

    path = args.conditions / f"{stem}.safetensors"
    if not path.is_file():
        return f"no condition file {path.name}"
    tensors = load_file(str(path))
    if "motion_vectors" not in tensors:
        return f"{path.name} has no motion_vectors (keys: {sorted(tensors)})"
    vectors = tensors["motion_vectors"]
    if vectors.ndim != 5 or vectors.shape[:2] != (1, 2):
        return f"{path.name}: motion_vectors must be (1, 2, F, H, W), got {tuple(vectors.shape)}"
    _, _, num_frames, height, width = vectors.shape
    if len(frames) != num_frames:
        return f"{len(frames)} frames, but the condition has {num_frames}"
    if frames.shape[1:3] != (height, width):
        pixels = torch.from_numpy(frames).permute(0, 3, 1, 2)
        frames = (resize_center_crop(pixels, height, width).permute(0, 2, 3, 1).numpy() * 255).round().astype("uint8")
    return frames, vectors[0].permute(1, 0, 2, 3).numpy()


def _per_video(frames, stem: str, metrics: list[str], args, models, prompts) -> dict[str, object]:
    """Per-video values: a float, or a reason string when the metric is undefined for this video."""
    from videocomposer import metrics as M

    values: dict[str, object] = {}
    if "warping_error" in metrics or "seam_discontinuity" in metrics:
        pair_errors = M.pairwise_warping_errors(frames)
        if "warping_error" in metrics:
            values["warping_error"] = float(pair_errors.mean())
        if "seam_discontinuity" in metrics:
            if max(args.seams) > len(frames) - 1 or len(set(args.seams)) >= len(frames) - 1:
                values["seam_discontinuity"] = f"--seams {args.seams} do not fit {len(frames)} frames"
            else:
                values["seam_discontinuity"] = M.seam_ratio(pair_errors, args.seams)
    if "temporal_flickering" in metrics:
        values["temporal_flickering"] = M.temporal_flickering(frames)
    if "repetition_peak" in metrics:
        values["repetition_peak"] = M.repetition_peak(M.self_similarity_profile(frames)).prominence
    if "motion_vector_error" in metrics or "flow_error" in metrics:
        paired = _motion_condition(args, stem, frames)
        if isinstance(paired, str):
            values.update({m: paired for m in ("motion_vector_error", "flow_error") if m in metrics})
        else:
            resized, condition = paired
            if "motion_vector_error" in metrics:
                if resized.shape[1] % 2 or resized.shape[2] % 2:
                    values["motion_vector_error"] = f"odd size {resized.shape[1:3]}: MPEG-4 needs even sizes"
                else:
                    values["motion_vector_error"] = M.motion_vector_error(resized, condition, args.mv_support)
            if "flow_error" in metrics:
                values["flow_error"] = M.flow_error(resized, condition, models["raft_weights"])
    if "dynamic_degree" in metrics:
        values["dynamic_degree"] = float(M.is_dynamic(M.backward_flows(frames, models["raft_weights"])))
    if "clip_frame_consistency" in metrics:
        values["clip_frame_consistency"] = M.clip_frame_consistency(frames, models["clip_model"])
    if "clip_text_similarity" in metrics:
        prompt = prompts.get(stem)
        values["clip_text_similarity"] = (
            f"no prompt for {stem!r} in --prompts"
            if prompt is None
            else M.clip_text_similarity(frames, prompt, models["clip_model"])
        )
    if "subject_consistency" in metrics:
        values["subject_consistency"] = M.subject_consistency(frames, models["dino_model"])
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            values[name] = "undefined for this video (no supported blocks, or a zero denominator)"
    return values


def _json_value(value) -> object:
    return value if isinstance(value, float) else {"value": None, "reason": value}


def markdown_table(report: dict) -> str:
    """The report's metrics as a markdown table (metric, value, videos, meaning or reason)."""
    lines = ["| metric | value | videos | note |", "|---|---|---|---|"]
    for name, value in report["metrics"].items():
        count = report["videos_per_metric"].get(name, 0)
        if isinstance(value, dict):
            lines.append(f"| {name} | not computed | - | {value['reason']} |")
        else:
            lines.append(f"| {name} | {value:.4f} | {count} | {_NOTES[name]} |")
    lines.append("")
    lines.append(f"{report['num_videos']['generated']} generated videos, {report['skipped_files']} unreadable files "
                 "skipped.")  # fmt: skip
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    metrics, not_computed = _validate(args)
    prompts = _prompts(args) if "clip_text_similarity" in metrics else {}
    generated_files = _video_files(args.generated)
    if not generated_files:
        raise ValueError(f"--generated: no video files ({', '.join(VIDEO_EXTENSIONS)}) in {args.generated}")
    import numpy as np
    from tqdm.auto import tqdm

    from videocomposer.metrics import FeatureStatistics, frechet_distance

    models = _load_models(metrics, args, not_computed)
    metrics = [m for m in metrics if m not in not_computed]
    per_video_metrics = [m for m in metrics if m not in ("fvd", "fid")]
    stats = {(m, s): FeatureStatistics() for m in ("fvd", "fid") if m in metrics for s in ("generated", "reference")}
    short_clips = {"generated": 0, "reference": 0}
    feature_videos = dict.fromkeys(stats, 0)  # videos behind each feature set (FID counts frames as vectors)
    skipped: list[dict[str, str]] = []
    per_video: dict[str, dict[str, object]] = {}

    def add_features(frames, side: str) -> None:
        if "fvd" in metrics:
            if len(frames) < args.fvd_frames:
                short_clips[side] += 1
            else:
                stats["fvd", side].update(models["i3d_model"](frames[None, : args.fvd_frames]))
                feature_videos["fvd", side] += 1
        if "fid" in metrics:
            stats["fid", side].update(models["inception"](frames))
            feature_videos["fid", side] += 1

    for path in tqdm(generated_files, desc="generated videos"):
        try:
            frames = read_video(path)
        except ValueError as error:
            skipped.append({"file": str(path), "reason": str(error)})
            continue
        per_video[path.name] = _per_video(frames, path.stem, per_video_metrics, args, models, prompts)
        add_features(frames, "generated")
    num_reference = 0
    for path in tqdm(_video_files(args.reference) if stats else [], desc="reference videos", disable=not stats):
        try:
            frames = read_video(path)
        except ValueError as error:
            skipped.append({"file": str(path), "reason": str(error)})
            continue
        num_reference += 1
        add_features(frames, "reference")

    results: dict[str, object] = {}
    counts: dict[str, int] = {}
    for metric in dict.fromkeys(args.metrics or METRICS):
        if metric in not_computed:
            results[metric] = not_computed[metric]
        elif metric in ("fvd", "fid"):
            generated, reference = stats[metric, "generated"], stats[metric, "reference"]
            if generated.count < 2 or reference.count < 2:
                short = (
                    f" ({short_clips['generated']} generated and {short_clips['reference']} reference videos are "
                    "shorter than --fvd-frames)"
                    if metric == "fvd"
                    else ""
                )
                results[metric] = (f"needs >= 2 feature vectors per folder, got {generated.count} generated and "
                                   f"{reference.count} reference{short}")  # fmt: skip
            else:
                results[metric] = frechet_distance(*generated.mean_and_covariance(), *reference.mean_and_covariance())
                counts[metric] = feature_videos[metric, "generated"]
        else:
            values = [v[metric] for v in per_video.values() if isinstance(v.get(metric), float)]
            counts[metric] = len(values)
            results[metric] = float(np.mean(values)) if values else f"defined for none of {len(per_video)} videos"
    report = {
        "metrics": {name: _json_value(value) for name, value in results.items()},
        "videos_per_metric": counts,
        "skipped_files": len(skipped),
        "skipped": skipped,
        "per_video": {name: {m: _json_value(v) for m, v in values.items()} for name, values in per_video.items()},
        "num_videos": {"generated": len(per_video), "reference": num_reference},
        "settings": {
            "generated": str(args.generated),
            "reference": None if args.reference is None else str(args.reference),
            "fvd_frames": args.fvd_frames,
            "seams": args.seams,
            "mv_support": args.mv_support,
            **{option: getattr(args, option) for option in dict.fromkeys(_WEIGHTS_OF.values())},
        },
    }
    table = markdown_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output, json.dumps(report, indent=2) + "\n")
    atomic_write_text(args.output.with_suffix(".md"), table)
    print(table, end="")
    print(f"wrote {args.output} and {args.output.with_suffix('.md')}")
    return 0
