"""The demo's training set on disk, in the form ``videocomposer.train`` reads: clips, captions and a condition cache.

``write_training_set(folder, n)`` writes ``folder/videos/*.mp4`` (8 frames, 64x64, at :data:`FPS`),
``folder/captions.csv`` (WebVid's ``videoid,name`` columns) and ``folder/conditions/`` (one safetensors file per clip
with the metadata :class:`~videocomposer.data.video_dataset.VideoTextDataset` checks, and ``index.json``), so that
training runs as::

    python -m videocomposer.train --pretrained_model_name_or_path MODEL --train_data_dir folder/videos \\
        --captions_file folder/captions.csv --conditions_cache_dir folder/conditions \\
        --conditions motion canny depth mask image --resolution 64 --num_frames 8 ...

Per clip (one object, seeds from :func:`~videocomposer.data.synthetic.clip_seeds`; a third of the backgrounds are
photo crops; with probability ``window_clip_prob`` the clip is an 8-frame window of a clip rendered at 16, 32 or 64
frames, so that its object moves 2-8x slower, as in one window of a long video), every condition the demo model's STC
encoder has:

- ``motion_vectors``: with probability ``stroke_motion_prob`` the object's path drawn as the app draws a stroke
  (:func:`~videocomposer.motion.strokes_to_motion_vectors`, the app's radius range), else codec motion vectors
  (:class:`~condition_extractors.MotionVectorExtractor`, what ``videocomposer demo`` / ``generate`` extract);
- ``sketch``: Canny edges (``SKETCH_CANNY_THRESHOLDS``; PiDiNet weights cannot be downloaded here);
- ``depth``: the generator's z-order depth on the canonical scale (near object 10, background 0);
- ``masked_video`` / ``mask``: a random inpainting mask (:class:`~condition_extractors.MaskGenerator`);
- ``image``: the first frame (the single-image condition), repeated over the frames.

Sizes follow ``extract_conditions``: motion at the video size, the others at 1.5x (96x96) from frames resized the same
way (``resize_center_crop``). Conditions are stored as float16 (the pipeline casts them to the STC encoder's dtype).
Captions are the clip's full caption, or (drawn per clip) without the motion words, without the background, or empty
(``empty_caption_prob``): the empty prompt is what the pipeline's guidance feeds the unconditional branch, and prompts
without a direction are what a user types next to a stroke.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from videocomposer.atomic_files import atomic_path, atomic_write_bytes
from videocomposer.data.synthetic import (
    CAPTION_COLUMNS,
    PROCEDURAL_BACKGROUNDS,
    clip_seeds,
    describe,
    encode_mp4,
    generate_clip,
)
from videocomposer.motion import Stroke, strokes_to_motion_vectors

from .components import NUM_FRAMES, RESOLUTION, SKETCH_CANNY_THRESHOLDS

DEPTH_SCALE = 10.0  # ground-truth depth in [0, 1] -> canonical depth in [0, 10]
CONDITION_SIZE = round(1.5 * RESOLUTION)  # extract_conditions' size for all conditions but motion
FPS = 4.0  # the trainer's default sampling rate: the 8 frames of a clip are exactly its 8 samples
#: ``videocomposer.train --conditions``: the extractor names whose outputs the cache holds.
TRAIN_CONDITIONS = ("motion", "canny", "depth", "mask", "image")
PHOTO_PROB = 1 / 3  # share of clips on a photo crop
STROKE_RADIUS_RANGE = (12.0, 20.0)  # pixels at 64x64; the app's default is a quarter of the short side (16)
CAPTION_VARIANTS = {"full": 0.4, "no_motion": 0.3, "no_background": 0.1, "object_only": 0.2}
WINDOW_SOURCE_FRAMES = (16, 32, 64)  # the lengths a window clip is cut from


@dataclass(frozen=True)
class TrainingSet:
    """Where :func:`write_training_set` put things (the ``videocomposer.train`` data arguments)."""

    train_data_dir: Path
    captions_file: Path
    conditions_cache_dir: Path

    def train_arguments(self) -> list[str]:
        """The data arguments of ``videocomposer.train`` for this set."""
        return [
            "--train_data_dir", str(self.train_data_dir), "--captions_file", str(self.captions_file),
            "--conditions_cache_dir", str(self.conditions_cache_dir), "--conditions", *TRAIN_CONDITIONS,
            "--resolution", str(RESOLUTION), "--num_frames", str(NUM_FRAMES), "--fps", str(FPS),
        ]  # fmt: skip


def clip_caption(clip, rng: np.random.Generator, empty_caption_prob: float) -> str:
    """The training caption of ``clip``: empty with ``empty_caption_prob``, else a :data:`CAPTION_VARIANTS` draw."""
    if rng.random() < empty_caption_prob:
        return ""
    variant = rng.choice(list(CAPTION_VARIANTS), p=list(CAPTION_VARIANTS.values()))
    motion = variant in ("full", "no_background")
    background = variant in ("full", "no_motion")
    return describe(clip.objects, clip.directions, clip.background, with_motion=motion, with_background=background)


def clip_conditions(
    clip, rng: np.random.Generator, stroke_motion: bool, start: int = 0
) -> dict[str, torch.Tensor]:
    """The cached conditions ``{pipeline kwarg: (C, F, h, w) float16}`` of frames ``start..start+F-1`` of a one-object
    ``clip`` (module docstring). The motion is computed over the whole clip and cut, as a long video's windows cut it."""
    from condition_extractors import CannyExtractor, MaskGenerator, MotionVectorExtractor, resize_center_crop

    window = slice(start, start + NUM_FRAMES)
    pixels = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0  # (L, 3, H, W)
    if stroke_motion:
        track = clip.trajectories[0].astype(np.float64)
        times = np.linspace(0.0, 1.0, len(track)).tolist()
        stroke = Stroke([tuple(p) for p in track.tolist()], float(rng.uniform(*STROKE_RADIUS_RANGE)), times)
        motion = strokes_to_motion_vectors([stroke], len(track), RESOLUTION, RESOLUTION)[0]  # (2, L, H, W)
    else:
        motion = MotionVectorExtractor()(pixels).transpose(0, 1)
    motion, pixels = motion[:, window], pixels[window]
    resized = resize_center_crop(pixels, CONDITION_SIZE, CONDITION_SIZE)  # (F, 3, S, S) in [0, 1]
    sketch = CannyExtractor(*SKETCH_CANNY_THRESHOLDS)(resized)
    depth = torch.from_numpy(clip.depth[window])[:, None]
    depth = F.interpolate(depth, size=(CONDITION_SIZE,) * 2, mode="bilinear")
    masked = MaskGenerator(seed=int(rng.integers(2**31)))(resized)
    conditions = {
        "motion_vectors": motion,
        "sketch": sketch.transpose(0, 1),
        "depth": depth.transpose(0, 1) * DEPTH_SCALE,
        "masked_video": masked[:, :3].transpose(0, 1),
        "mask": masked[:, 3:].transpose(0, 1),
        "image": resized[:1].expand_as(resized).transpose(0, 1),
    }
    return {name: value.to(torch.float16).contiguous() for name, value in conditions.items()}


def training_frames(num_clips: int, seed: int = 0) -> np.ndarray:
    """Frames ``(N * F, H, W, 3)`` uint8 of the first ``num_clips`` training clips (for fitting the VAE)."""
    frames = [_training_clip(clip_seed)[0].frames for clip_seed in clip_seeds("train", num_clips, seed)]
    return np.concatenate(frames)


def _training_clip(clip_seed: int, window_clip_prob: float = 0.0):
    """The clip of a training seed (a third of them on photos), the first frame of its training window (a window
    clip's source is longer than :data:`NUM_FRAMES`) and the generator of its other draws."""
    rng = np.random.default_rng([clip_seed, 24])
    backgrounds: Sequence[str] = ("photo",) if rng.random() < PHOTO_PROB else PROCEDURAL_BACKGROUNDS
    length = NUM_FRAMES
    if window_clip_prob > 0.0 and rng.random() < window_clip_prob:
        length = int(rng.choice(WINDOW_SOURCE_FRAMES))
    clip = generate_clip(clip_seed, length, RESOLUTION, RESOLUTION, num_objects=1, backgrounds=backgrounds)
    return clip, int(rng.integers(length - NUM_FRAMES + 1)), rng


def write_training_set(
    folder: str | Path,
    num_clips: int,
    seed: int = 0,
    stroke_motion_prob: float = 0.5,
    empty_caption_prob: float = 0.1,
    window_clip_prob: float = 0.0,
    progress: bool = True,
) -> TrainingSet:
    """Write ``num_clips`` training clips (training seeds ``seed..seed+num_clips-1``) with captions and conditions.

    Resumable and deterministic: a clip whose cache file exists is not rendered again (every draw of a clip comes
    from its own seed), and the captions file is written last, so a complete set is one whose captions file exists.
    """
    from tqdm.auto import tqdm

    from videocomposer.data.video_dataset import VideoTextDataset, write_cache_index

    probabilities = {"stroke_motion_prob": stroke_motion_prob, "empty_caption_prob": empty_caption_prob,
                     "window_clip_prob": window_clip_prob}  # fmt: skip
    for name, value in probabilities.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: expected a probability in [0, 1], got {value}")
    seeds = clip_seeds("train", num_clips, seed)
    folder = Path(folder)
    videos, cache = folder / "videos", folder / "conditions"
    videos.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip_seed in seeds:
        clip, start, rng = _training_clip(clip_seed, window_clip_prob)
        rows.append((f"train_{clip_seed:08d}", clip_caption(clip, rng, empty_caption_prob), clip, start, rng))
    captions = _captions_csv([(videoid, caption) for videoid, caption, *_ in rows])
    dataset = VideoTextDataset(videos, _temporary_captions(folder, captions), num_frames=NUM_FRAMES, fps=FPS,
                               resolution=RESOLUTION, conditions=TRAIN_CONDITIONS)  # fmt: skip
    for index, (videoid, _, clip, start, rng) in enumerate(tqdm(rows, desc="training clips", disable=not progress)):
        target = dataset.cache_path(index, cache)
        if target.exists():
            continue
        frames = clip.frames[start : start + NUM_FRAMES]
        atomic_write_bytes(videos / f"{videoid}.mp4", encode_mp4(frames, fps=int(FPS)))
        conditions = clip_conditions(clip, rng, stroke_motion=bool(rng.random() < stroke_motion_prob), start=start)
        with atomic_path(target) as temporary:
            save_file(conditions, str(temporary), metadata=dataset.cache_metadata(index, 0.0))
    write_cache_index(dataset, cache)
    captions_file = folder / "captions.csv"
    atomic_write_bytes(captions_file, captions)
    (folder / ".captions.pending.csv").unlink(missing_ok=True)
    return TrainingSet(videos, captions_file, cache)


def _captions_csv(rows: list[tuple[str, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CAPTION_COLUMNS)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def _temporary_captions(folder: Path, captions: bytes) -> Path:
    """The captions under a pending name while the cache is written (the final name marks a complete set)."""
    path = folder / ".captions.pending.csv"
    atomic_write_bytes(path, captions)
    return path
