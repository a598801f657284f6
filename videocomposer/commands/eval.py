"""`videocomposer eval`: the papers' video metrics on a folder of generated videos, written as JSON and markdown.

`videocomposer eval --generated DIR [--reference DIR] [--prompts FILE] [--conditions DIR] [--metrics ...] --output
report.json` reads every mp4 / gif / webm / mov / mkv / avi file of the folders (all frames, at their own size),
skips unreadable files with a count, and writes `report.json` (schema below) and `report.md` (the table it prints).
Frames are streamed in chunks of ``CHUNK`` frames: memory does not grow with the clip's length (per frame only a
32x32 thumbnail and a few numbers are kept; the frames of a motion or sketch condition at the condition's size).

JSON: ``{"metrics": {name: number | {"value": null, "reason": str}}, "videos_per_metric": {name: int},
"skipped_files": int, "skipped": [{"file", "reason"}], "per_video": {file: {name: number | {"value": null,
"reason"}}}, "num_videos": {"generated": int, "reference": int}, "samples": {"fvd" | "fid": {"generated": int,
"reference": int}}, "warnings": [str], "settings": {...}}``. Per-metric values are means over the videos where the
metric is defined (``videos_per_metric`` says how many); ``dynamic_degree`` is the fraction of dynamic videos;
``fvd`` and ``fid`` compare the two folders' feature distributions. Definitions and references: docs/metrics.md.

Weight-based metrics use the weights the user names (files; a transformers hub id is fetched by transformers as
usual): a metric whose weights are not given, or fail to load, is reported as not computed, with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

from videocomposer.atomic_files import atomic_write_text

VIDEO_EXTENSIONS = (".mp4", ".gif", ".webm", ".mov", ".mkv", ".avi")
CHUNK = 16  # frames decoded and measured at a time
FVD_MIN_SAMPLES = 2048  # StyleGAN-V's protocol: 2048 clips per set
WEIGHT_FREE = (
    "warping_error",
    "mean_abs_warping_error",
    "temporal_flickering",
    "repetition_peak",
    "repetition_lag",
    "jump_ratio",
    "seam_discontinuity",
    "motion_vector_error",
    "sketch_iou",
    "sketch_centroid_error",
    "psnr",
    "ssim",
)
WEIGHTED = (
    "clip_frame_consistency",
    "clip_text_similarity",
    "clipsim",
    "subject_consistency",
    "flow_error",
    "dynamic_degree",
    "lpips",
    "fvd",
    "fid",
)
METRICS = WEIGHT_FREE + WEIGHTED
# metric -> the non-weight input it needs (option name, as `args` attribute)
_INPUT_OF = {
    "seam_discontinuity": "seams",
    "motion_vector_error": "conditions",
    "flow_error": "conditions",
    "sketch_iou": "conditions",
    "sketch_centroid_error": "conditions",
    "clip_text_similarity": "prompts",
    "clipsim": "prompts",
    "psnr": "reference",
    "ssim": "reference",
    "lpips": "reference",
    "fvd": "reference",
    "fid": "reference",
}
# metric -> the weights option it needs
_WEIGHTS_OF = {
    "clip_frame_consistency": "clip_model",
    "clip_text_similarity": "clip_model",
    "clipsim": "clip_model",
    "subject_consistency": "dino_model",
    "flow_error": "raft_weights",
    "dynamic_degree": "raft_weights",
    "lpips": "lpips_weights",
    "fvd": "i3d_model",
    "fid": "inception",
}
_NOTES = {
    "warping_error": "Lai et al. 2018: squared error of the flow-warped next frame on non-occluded pixels (0-1)",
    "mean_abs_warping_error": "L1 variant: mean abs error of the Farneback-warped next frame, no occlusion mask",
    "temporal_flickering": "VBench score (255 - mean abs frame difference) / 255, 1 = still",
    "repetition_peak": "prominence of the self-similarity peak over frame distance, 0 = no repetition",
    "repetition_lag": "frame distance of that peak (0 = none), mean over videos",
    "jump_ratio": "largest frame-to-frame content change / median change (teleports, seams)",
    "seam_discontinuity": "L1 warping error at --seams / elsewhere, 1 = seamless",
    "motion_vector_error": "codec motion vectors vs the condition, per 16x16 block (px of the condition size)",
    "sketch_iou": "IoU of the generated video's Canny edges and the sketch condition (both > 0.5)",
    "sketch_centroid_error": "distance of the edge centroids of video and sketch condition (px)",
    "psnr": "PSNR vs the reference video of the same name (dB), mean over frames",
    "ssim": "SSIM (Wang et al. 2004) vs the reference video of the same name",
    "clip_frame_consistency": "mean CLIP cosine of consecutive frames",
    "clip_text_similarity": "mean CLIP cosine of frames and prompt (raw, -1..1)",
    "clipsim": "CLIPSIM, MSR-VTT form: mean of 100 * max(0, cos) (ViT-B/32 for published numbers)",
    "subject_consistency": "VBench DINO consistency with previous and first frame",
    "flow_error": "RAFT flow vs the motion condition, per 16x16 block (px of the condition size)",
    "dynamic_degree": "VBench: fraction of videos with large RAFT motion (frames at ~8 fps)",
    "lpips": "LPIPS (AlexNet) vs the reference video of the same name, lower = closer",
    "fvd": "Frechet video distance, StyleGAN-V protocol (comparable within one detector and clip length only)",
    "fid": "Frechet Inception distance over all frames",
}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure a folder of generated videos: flicker, warping, motion control, PSNR/SSIM, CLIP, DINO, FVD",
        description=(
            "Compute video metrics on a folder of generated videos and write a JSON report plus a markdown table. "
            "Weight-free metrics always run; CLIP, DINO, RAFT, LPIPS, FVD and FID need the weights named by their "
            "options and are reported as not computed (with the reason) without them. Definitions: docs/metrics.md. "
            "Metrics: " + ", ".join(METRICS) + "."
        ),
    )
    parser.add_argument("--generated", type=Path, required=True, metavar="DIR", help="folder of generated videos")
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="DIR",
        help="folder of reference videos: fvd and fid compare the sets; psnr, ssim and lpips compare each video with "
        "the reference of the same file name (stem)",
    )
    parser.add_argument("--prompts", type=Path, metavar="FILE", help="captions .csv/.jsonl (for clip_text_similarity)")
    parser.add_argument("--video-column", default="videoid", help="column of --prompts naming the video")
    parser.add_argument("--caption-column", default="name", help="column of --prompts holding the prompt")
    parser.add_argument(
        "--conditions",
        type=Path,
        metavar="DIR",
        help="folder of `videocomposer extract` files NAME.safetensors (motion_vectors, sketch)",
    )
    parser.add_argument(
        "--metrics", nargs="+", choices=METRICS, metavar="NAME", help="metrics to compute (default: all, listed above)"
    )
    parser.add_argument(
        "--output", type=Path, required=True, metavar="FILE", help="report .json (the .md table goes next to it)"
    )
    parser.add_argument("--seams", type=int, nargs="+", help="first frame of each new window (seam_discontinuity)")
    parser.add_argument("--clip-model", help="transformers CLIP folder / hub id, or open_clip:ARCH:WEIGHTS_FILE")
    parser.add_argument("--dino-model", help="transformers DINO / DINOv2 / ViT folder or hub id")
    parser.add_argument(
        "--raft-weights", help="torchvision RAFT state dict (raft_large or raft_small); also the warping_error flow"
    )
    parser.add_argument(
        "--lpips-weights", help="the lpips package's v0.1 alex.pth (linear layers), with --lpips-backbone"
    )
    parser.add_argument("--lpips-backbone", help="torchvision AlexNet ImageNet state dict (alexnet-owt-7be5be79.pth)")
    parser.add_argument("--i3d-model", help="StyleGAN-V i3d_torchscript.pt, or r3d_18:PATH / r2plus1d_18:PATH")
    parser.add_argument(
        "--inception", help="FID Inception weights: torch-fidelity's weights-inception-2015-12-05-6726825d.pth"
    )
    parser.add_argument("--fvd-frames", type=int, default=16, help="frames per FVD clip (16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the FVD clip offsets (0)")
    parser.add_argument("--device", default="cpu", help="torch device of the weight-based models")
    parser.set_defaults(func=run)


def _video_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def iter_frames(path: Path) -> Iterator:
    """Frames of a video file one at a time, uint8 ``(H, W, 3)``; ValueError for unreadable files or size changes.

    GIFs are read with Pillow (ffmpeg collapses frames without a delay into one), everything else with PyAV.
    """
    import av
    import numpy as np
    import PIL.Image
    import PIL.ImageSequence

    shape = None
    try:
        if path.suffix.lower() == ".gif":
            with PIL.Image.open(path) as image:
                decoded = (np.asarray(frame.convert("RGB")) for frame in PIL.ImageSequence.Iterator(image))
                for frame in decoded:
                    shape = shape or frame.shape
                    if frame.shape != shape:
                        raise ValueError("frames change size mid-stream")
                    yield frame
        else:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise ValueError("no video stream")
                for frame in container.decode(video=0):
                    frame = frame.to_ndarray(format="rgb24")
                    shape = shape or frame.shape
                    if frame.shape != shape:
                        raise ValueError("frames change size mid-stream")
                    yield frame
    except (av.error.FFmpegError, OSError) as error:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"unreadable ({type(error).__name__}: {error})") from None


def video_info(path: Path) -> tuple[int, float]:
    """``(frame count, frames per second)`` without decoding pictures (packets counted; GIF delays read)."""
    import av
    import PIL.Image

    try:
        if path.suffix.lower() == ".gif":
            with PIL.Image.open(path) as image:
                duration = image.info.get("duration") or 0
                return image.n_frames, (1000.0 / duration if duration else 8.0)
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            stream = container.streams.video[0]
            count = sum(1 for packet in container.demux(stream) if packet.size)
            rate = stream.average_rate or stream.guessed_rate
            return count, float(rate) if rate else 8.0
    except (av.error.FFmpegError, OSError) as error:
        raise ValueError(f"unreadable ({type(error).__name__}: {error})") from None


def chunks(path: Path, size: int = CHUNK) -> Iterator:
    """``(n, H, W, 3)`` uint8 chunks of at most ``size`` new frames; from the second on, the previous chunk's last
    frame comes first (so consecutive-pair metrics see every pair once)."""
    import numpy as np

    buffer, previous = [], None
    for frame in iter_frames(path):
        buffer.append(frame)
        if len(buffer) == size:
            yield np.stack(buffer if previous is None else [previous, *buffer])
            previous, buffer = buffer[-1], []
    if buffer:
        yield np.stack(buffer if previous is None else [previous, *buffer])


def read_video(path: Path):
    """All frames of a video file as uint8 ``(F, H, W, 3)``; ValueError for unreadable files or < 2 frames."""
    import numpy as np

    frames = list(iter_frames(path))
    if len(frames) < 2:
        raise ValueError(f"{len(frames)} frame(s); metrics need at least 2")
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
    if (args.lpips_weights is None) != (args.lpips_backbone is None):
        raise ValueError("--lpips-weights and --lpips-backbone go together: give both files")
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
        if "warping_error" in wanted:
            used.add("raft_weights")  # the warping flow: RAFT when given
        for option in ("seams", "conditions", "prompts", "reference", *dict.fromkeys(_WEIGHTS_OF.values())):
            if getattr(args, option) is not None and option not in used:
                raise ValueError(f"{_option(option)} is given but none of --metrics {' '.join(wanted)} uses it")
        for option, default, metric in (("fvd_frames", 16, "fvd"), ("seed", 0, "fvd")):
            if getattr(args, option) != default and metric not in wanted:
                raise ValueError(f"{_option(option)} is given but --metrics has no {metric}")
        if all(m in not_computed for m in wanted):
            raise ValueError(
                "--metrics: none can be computed: " + "; ".join(f"{m}: {r}" for m, r in not_computed.items())
            )
    return [m for m in wanted if m not in not_computed], not_computed


def _load_models(metrics: list[str], args: argparse.Namespace, not_computed: dict[str, str]) -> dict[str, object]:
    """Load each weight-based model once; a load failure moves its metrics to ``not_computed`` with the reason."""
    from videocomposer.metrics import ClipEncoder, DinoEncoder, FrameFeatures, Lpips, RaftFlow, VideoFeatures

    loaders = {
        "clip_model": lambda: ClipEncoder.load(args.clip_model, args.device),
        "dino_model": lambda: DinoEncoder.load(args.dino_model, args.device),
        "raft_weights": lambda: RaftFlow.load(args.raft_weights, args.device),
        "lpips_weights": lambda: Lpips.load(args.lpips_weights, args.lpips_backbone, args.device),
        "i3d_model": lambda: VideoFeatures.load(args.i3d_model, args.device),
        "inception": lambda: FrameFeatures.load_inception(args.inception, args.device),
    }
    options = [_WEIGHTS_OF[m] for m in metrics if m in _WEIGHTS_OF]
    if "warping_error" in metrics and args.raft_weights is not None:
        options.append("raft_weights")
    models: dict[str, object] = {}
    for option in dict.fromkeys(options):
        try:
            models[option] = loaders[option]()
        except (OSError, ValueError, ImportError, RuntimeError) as error:
            reason = f"{_option(option)} {getattr(args, option)!r} failed to load: {error}"
            for metric in metrics:
                if _WEIGHTS_OF.get(metric) == option or (metric == "warping_error" and option == "raft_weights"):
                    not_computed[metric] = reason
    return models


def _prompts(args: argparse.Namespace) -> dict[str, str]:
    from videocomposer.data.video_dataset import read_captions

    pairs = read_captions(args.prompts, args.video_column, args.caption_column)
    return {Path(video).stem: caption for video, caption in pairs}


def _condition_file(args: argparse.Namespace, stem: str, key: str):
    """``(tensor (C, F, H, W), header metadata)`` of ``key`` in the video's condition file, or a reason string."""
    from safetensors import safe_open

    path = args.conditions / f"{stem}.safetensors"
    if not path.is_file():
        return f"no condition file {path.name}"
    with safe_open(str(path), framework="pt") as handle:
        if key not in handle.keys():
            return f"{path.name} has no {key} (keys: {sorted(handle.keys())})"
        tensor, metadata = handle.get_tensor(key), handle.metadata() or {}
    if tensor.ndim != 5 or tensor.shape[0] != 1:
        return f"{path.name}: {key} must be (1, C, F, H, W), got {tuple(tensor.shape)}"
    return tensor[0], metadata


class _VideoMetrics:
    """The per-video metrics of one generated video, fed chunk by chunk (see :func:`chunks`)."""

    def __init__(self, stem: str, metrics: list[str], args, models, prompts, fps: float, num_frames: int):
        from videocomposer.metrics import dynamic_interval

        self.stem, self.metrics, self.args, self.models = stem, set(metrics), args, models
        self.prompt = prompts.get(stem)
        self.count, self.shape = 0, None
        self.lai, self.l1, self.differences, self.thumbs = [], [], [], []
        self.clip, self.dino, self.motions = [], [], []
        self.interval, self.sampled_count, self.last_sampled = dynamic_interval(fps), 0, None
        self.conditions = {}  # key -> (condition (C, F, H, W) numpy, metadata, resized frames list) or reason
        for key, names in (("motion_vectors", ("motion_vector_error", "flow_error")),
                           ("sketch", ("sketch_iou", "sketch_centroid_error"))):  # fmt: skip
            if self.metrics & set(names):
                loaded = _condition_file(args, stem, key)
                if not isinstance(loaded, str) and loaded[0].shape[1] != num_frames:
                    loaded = f"{num_frames} frames, but the condition has {loaded[0].shape[1]}"
                self.conditions[key] = loaded if isinstance(loaded, str) else (loaded[0].numpy(), loaded[1], [])
        self.reference = {"psnr": [], "ssim": [], "lpips": []}

    def update(self, chunk, new, reference_chunk=None) -> None:
        """``chunk`` (n, H, W, 3) uint8 whose last ``new`` frames are new (the first may repeat the last one)."""
        from videocomposer import metrics as M

        fresh = chunk[len(chunk) - new :]
        self.count += new
        self.shape = chunk.shape[1:3]
        pairs = len(chunk) >= 2
        l1 = self.metrics & {"mean_abs_warping_error", "seam_discontinuity"}
        if "warping_error" in self.metrics and pairs:
            flows = M.pair_flows(chunk, self.models.get("raft_weights"))
            self.lai.extend(M.lai_pair_errors(chunk, flows=flows))
            farneback = "raft_weights" not in self.models
            if l1:  # the L1 variant shares Lai's forward Farneback flows
                self.l1.extend(M.pairwise_warping_errors(chunk, flows[0] if farneback else None))
        elif l1 and pairs:
            self.l1.extend(M.pairwise_warping_errors(chunk))
        if "temporal_flickering" in self.metrics and pairs:
            self.differences.append((M.frame_difference(chunk), len(chunk) - 1))
        if self.metrics & {"repetition_peak", "repetition_lag", "jump_ratio"}:
            self.thumbs.append(M.thumbnails(fresh))
        if self.metrics & {"clip_frame_consistency", "clip_text_similarity", "clipsim"}:
            self.clip.append(self.models["clip_model"].encode_frames(fresh))
        if "subject_consistency" in self.metrics:
            self.dino.append(self.models["dino_model"].encode_frames(fresh))
        if "dynamic_degree" in self.metrics:
            self._dynamic(fresh)
        for entry in self.conditions.values():
            if not isinstance(entry, str):
                self._resize_for(entry, fresh)
        if reference_chunk is not None:
            self._compare(fresh, reference_chunk[len(reference_chunk) - new :])

    def _dynamic(self, fresh) -> None:
        """VBench's ~8 fps subsampling (global frame index a multiple of the step), then the flows of new pairs."""
        import numpy as np

        from videocomposer import metrics as M

        first = self.count - len(fresh)
        sampled = [f for i, f in enumerate(fresh, first) if i % self.interval == 0]
        self.sampled_count += len(sampled)
        chain = sampled if self.last_sampled is None else [self.last_sampled, *sampled]
        if len(chain) >= 2:
            self.motions.extend(M.pair_motion(M.backward_flows(np.stack(chain), self.models["raft_weights"])))
        if sampled:
            self.last_sampled = sampled[-1]

    @staticmethod
    def _resize_for(entry, fresh) -> None:
        import torch

        from condition_extractors import resize_center_crop

        condition, _, resized = entry
        height, width = condition.shape[2:]
        if len(resized) >= condition.shape[1]:
            return
        frames = fresh
        if fresh.shape[1:3] != (height, width):
            pixels = resize_center_crop(torch.from_numpy(fresh).permute(0, 3, 1, 2), height, width)
            frames = (pixels.permute(0, 2, 3, 1).numpy() * 255).round().astype("uint8")
        resized.extend(frames)

    def _compare(self, fresh, reference) -> None:
        from videocomposer import metrics as M

        if isinstance(self.reference, str):
            return
        if reference.shape != fresh.shape:
            self.reference = f"reference frames {reference.shape[1:3]} differ from the video's {fresh.shape[1:3]}"
            return
        if "psnr" in self.metrics:
            self.reference["psnr"].extend(M.frame_psnr(fresh, reference))
        if "ssim" in self.metrics:
            self.reference["ssim"].extend(M.frame_ssim(fresh, reference))
        if "lpips" in self.metrics:
            self.reference["lpips"].extend(self.models["lpips_weights"](fresh, reference))

    def result(self, reference_reason: str | None) -> dict[str, object]:
        """Per-video values: a float, or a reason string when the metric is undefined for this video."""
        import numpy as np

        from videocomposer import metrics as M

        values: dict[str, object] = {}
        wanted = self.metrics
        if "warping_error" in wanted:
            values["warping_error"] = float(np.mean(self.lai))
        if "mean_abs_warping_error" in wanted:
            values["mean_abs_warping_error"] = float(np.mean(self.l1))
        if "seam_discontinuity" in wanted:
            seams = self.args.seams
            if max(seams) > self.count - 1 or len(set(seams)) >= self.count - 1:
                values["seam_discontinuity"] = f"--seams {seams} do not fit {self.count} frames"
            else:
                values["seam_discontinuity"] = M.seam_ratio(np.asarray(self.l1), seams)
        if "temporal_flickering" in wanted:
            total = sum(d * n for d, n in self.differences) / sum(n for _, n in self.differences)
            values["temporal_flickering"] = 1.0 - total
        if self.thumbs:
            thumbs, self.thumbs = np.concatenate(self.thumbs), []
            peak = M.repetition_peak(M.profile_of_thumbnails(thumbs))
            if "repetition_peak" in wanted:
                values["repetition_peak"] = peak.prominence
            if "repetition_lag" in wanted:
                values["repetition_lag"] = float(peak.lag)
            if "jump_ratio" in wanted:
                values["jump_ratio"] = (
                    M.jump_ratio(M.steps_of_thumbnails(thumbs)).ratio if len(thumbs) >= 3 else "needs >= 3 frames"
                )
        self._motion_values(values)
        self._sketch_values(values)
        if "dynamic_degree" in wanted:
            values["dynamic_degree"] = (
                float(M.dynamic_decision(np.asarray(self.motions), self.sampled_count, *self.shape))
                if self.motions
                else f"{self.sampled_count} frame(s) after VBench's ~8 fps subsampling (step {self.interval}); needs 2"
            )
        if self.clip:
            embeddings = np.concatenate(self.clip)
            if "clip_frame_consistency" in wanted:
                values["clip_frame_consistency"] = M.consecutive_similarity(embeddings)
            for name in ("clip_text_similarity", "clipsim"):
                if name in wanted:
                    values[name] = self._text(embeddings, name == "clipsim")
        if self.dino:
            values["subject_consistency"] = M.first_and_previous_similarity(np.concatenate(self.dino))
        for name in ("psnr", "ssim", "lpips"):
            if name in wanted:
                if reference_reason is not None or isinstance(self.reference, str):
                    values[name] = reference_reason or self.reference
                else:
                    values[name] = float(np.mean(self.reference[name]))
        for name, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                values[name] = (
                    "infinite: identical to the reference" if name == "psnr" and value > 0
                    else "undefined for this video (no supported blocks, or a zero denominator)"
                )  # fmt: skip
        return values

    def _text(self, embeddings, clipsim: bool) -> object:
        import numpy as np

        if self.prompt is None:
            return f"no prompt for {self.stem!r} in --prompts"
        text = self.models["clip_model"].encode_texts([self.prompt])[0]
        unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
        cosines = unit @ (text / np.linalg.norm(text))
        return float((100.0 * np.maximum(0.0, cosines)).mean()) if clipsim else float(cosines.mean())

    def _motion_values(self, values: dict[str, object]) -> None:
        import numpy as np

        from videocomposer import metrics as M

        names = [m for m in ("motion_vector_error", "flow_error") if m in self.metrics]
        if not names:
            return
        entry = self.conditions["motion_vectors"]
        if not isinstance(entry, str):
            condition, metadata, resized = entry
            geometry = M.MotionGeometry.from_metadata(metadata)
            if len(resized) != condition.shape[1]:
                entry = f"{self.count} frames, but the condition has {condition.shape[1]}"
            elif geometry is None:
                entry = (f"{self.stem}.safetensors has no motion geometry in its header (written by an older "
                         "extract): re-run `videocomposer extract`")  # fmt: skip
        if isinstance(entry, str):
            values.update(dict.fromkeys(names, entry))
            return
        frames, vectors = np.stack(resized), condition.transpose(1, 0, 2, 3)
        if "motion_vector_error" in names:
            values["motion_vector_error"] = (
                f"odd size {frames.shape[1:3]}: MPEG-4 needs even sizes"
                if frames.shape[1] % 2 or frames.shape[2] % 2
                else M.motion_vector_error(frames, vectors, geometry)
            )
        if "flow_error" in names:
            values["flow_error"] = M.flow_error(frames, vectors, self.models["raft_weights"], geometry)

    def _sketch_values(self, values: dict[str, object]) -> None:
        import numpy as np
        import torch

        from condition_extractors.canny import CannyExtractor
        from videocomposer import metrics as M

        names = [m for m in ("sketch_iou", "sketch_centroid_error") if m in self.metrics]
        if not names:
            return
        entry = self.conditions["sketch"]
        if not isinstance(entry, str) and len(entry[2]) != entry[0].shape[1]:
            entry = f"{self.count} frames, but the condition has {entry[0].shape[1]}"
        if isinstance(entry, str):
            values.update(dict.fromkeys(names, entry))
            return
        condition, _, resized = entry
        frames = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float() / 255.0
        edges = CannyExtractor()(frames)[:, 0].numpy() > 0.5
        target = condition[0] > 0.5
        if "sketch_iou" in names:
            values["sketch_iou"] = M.mask_iou(edges, target)
        if "sketch_centroid_error" in names:
            diagonal = float(np.hypot(*target.shape[1:]))
            values["sketch_centroid_error"] = M.centroid_error(
                M.mask_centroids(edges), M.mask_centroids(target), missing=diagonal
            )


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
    lines.extend(f"Warning: {warning}" for warning in report["warnings"])
    return "\n".join(lines) + "\n"


def _clip_offset(seed: int, name: str, num_frames: int, length: int) -> int:
    """StyleGAN-V's random clip start, seeded per video (stable whatever the other files of the folder)."""
    import numpy as np

    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return int(rng.integers(0, num_frames - length + 1))


def _reference_chunks(reference: Path | None, path: Path, num_frames: int):
    """``(chunks of the reference video, None)`` or ``(None, reason)`` when it is missing, unreadable or longer."""
    if reference is None:
        return None, f"no reference video named {path.stem}.* in --reference"
    try:
        reference_frames = video_info(reference)[0]
    except ValueError as error:
        return None, f"reference {reference.name}: {error}"
    if reference_frames != num_frames:
        return None, f"{reference.name} has {reference_frames} frames, not {num_frames}"
    return chunks(reference), None


def run(args: argparse.Namespace) -> int:
    metrics, not_computed = _validate(args)
    prompts = _prompts(args) if {"clip_text_similarity", "clipsim"} & set(metrics) else {}
    generated_files = _video_files(args.generated)
    if not generated_files:
        raise ValueError(f"--generated: no video files ({', '.join(VIDEO_EXTENSIONS)}) in {args.generated}")
    import numpy as np
    from tqdm.auto import tqdm

    from videocomposer.metrics import FeatureStatistics, frechet_distance

    models = _load_models(metrics, args, not_computed)
    metrics = [m for m in metrics if m not in not_computed]
    per_video_metrics = [m for m in metrics if m not in ("fvd", "fid")]
    paired = {"psnr", "ssim", "lpips"} & set(per_video_metrics)
    stats = {(m, s): FeatureStatistics() for m in ("fvd", "fid") if m in metrics for s in ("generated", "reference")}
    short_clips = {"generated": 0, "reference": 0}
    feature_videos = dict.fromkeys(stats, 0)  # videos behind each feature set (FID counts frames as vectors)
    skipped: list[dict[str, str]] = []
    per_video: dict[str, dict[str, object]] = {}
    references = {p.stem: p for p in _video_files(args.reference)} if args.reference is not None else {}

    def measure(path: Path, side: str) -> dict[str, object] | None:
        """Stream one video through every metric; None (and a skipped entry) when it cannot be read."""
        try:
            num_frames, fps = video_info(path)
            if num_frames < 2:
                raise ValueError(f"{num_frames} frame(s); metrics need at least 2")
            clip = None
            if "fvd" in metrics and num_frames >= args.fvd_frames:
                start = _clip_offset(args.seed, path.name, num_frames, args.fvd_frames)
                clip = (start, [])
            video = None
            reference_iter, reference_reason = None, None
            if side == "generated":
                video = _VideoMetrics(path.stem, per_video_metrics, args, models, prompts, fps, num_frames)
                if paired:
                    reference_iter, reference_reason = _reference_chunks(references.get(path.stem), path, num_frames)
            seen = 0
            fid = FeatureStatistics() if "fid" in metrics else None
            for chunk in chunks(path):
                new = len(chunk) if seen == 0 else len(chunk) - 1
                fresh = chunk[len(chunk) - new :]
                if video is not None:
                    video.update(chunk, new, next(reference_iter) if reference_iter is not None else None)
                if clip is not None:
                    start, frames = clip
                    frames.extend(fresh[max(0, start - seen) : max(0, start + args.fvd_frames - seen)])
                if fid is not None:
                    fid.update(models["inception"](fresh))
                seen += new
            if seen < 2:
                raise ValueError(f"{seen} frame(s) decoded; metrics need at least 2")
        except ValueError as error:
            skipped.append({"file": str(path), "reason": str(error)})
            return None
        if "fvd" in metrics:
            if clip is None or len(clip[1]) < args.fvd_frames:  # fewer frames decoded than the container said
                short_clips[side] += 1
            else:
                stats["fvd", side].update(models["i3d_model"](np.stack(clip[1])[None]))
                feature_videos["fvd", side] += 1
        if fid is not None:
            stats["fid", side].merge(fid)
            feature_videos["fid", side] += 1
        return video.result(reference_reason) if video is not None else {}

    for path in tqdm(generated_files, desc="generated videos"):
        values = measure(path, "generated")
        if values is not None:
            per_video[path.name] = values
    num_reference = 0
    for path in tqdm(references.values() if stats else [], desc="reference videos", disable=not stats):
        num_reference += measure(path, "reference") is not None

    results: dict[str, object] = {}
    counts: dict[str, int] = {}
    warnings: list[str] = []
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
            if metric == "fvd" and min(generated.count, reference.count) < FVD_MIN_SAMPLES:
                warnings.append(
                    f"fvd from {generated.count} generated and {reference.count} reference clips: StyleGAN-V's "
                    f"protocol uses {FVD_MIN_SAMPLES} per set; small sets bias FVD upward"
                )
        else:
            values = [v[metric] for v in per_video.values() if isinstance(v.get(metric), float)]
            counts[metric] = len(values)
            results[metric] = float(np.mean(values)) if values else f"defined for none of {len(per_video)} videos"
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    report = {
        "metrics": {name: _json_value(value) for name, value in results.items()},
        "videos_per_metric": counts,
        "skipped_files": len(skipped),
        "skipped": skipped,
        "per_video": {name: {m: _json_value(v) for m, v in values.items()} for name, values in per_video.items()},
        "num_videos": {"generated": len(per_video), "reference": num_reference},
        "samples": {
            m: {s: stats[m, s].count for s in ("generated", "reference")}
            for m in ("fvd", "fid")
            if (m, "generated") in stats
        },  # fmt: skip
        "warnings": warnings,
        "settings": {
            "generated": str(args.generated),
            "reference": None if args.reference is None else str(args.reference),
            "fvd_frames": args.fvd_frames,
            "fvd_clip_offset": f"random per video (seed {args.seed}), StyleGAN-V protocol",
            "covariance": "unbiased (N - 1), as StyleGAN-V's np.cov",
            "warping_flow": "raft (20 iterations)" if "raft_weights" in models else "farneback (OpenCV)",
            "seams": args.seams,
            **{option: getattr(args, option) for option in dict.fromkeys(_WEIGHTS_OF.values())},
            "lpips_backbone": args.lpips_backbone,
        },
    }
    table = markdown_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output, json.dumps(report, indent=2) + "\n")
    atomic_write_text(args.output.with_suffix(".md"), table)
    print(table, end="")
    print(f"wrote {args.output} and {args.output.with_suffix('.md')}")
    return 0
