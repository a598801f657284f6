"""Videos in a folder with a captions file, as training items with conditions; the condition cache; collation.

Each item is ``num_frames`` frames sampled at ``fps`` from a random start (drawn from ``(seed, epoch, index)``, so a
run is reproducible), resized on the short side with antialiasing and centre-cropped, with the STC conditions of those
frames from the registered extractors (on the fly) or from a cache written by :func:`write_condition_cache`.

A clip that cannot be used (corrupt file, missing file, too short for ``num_frames`` at ``fps``, no cache entry) is
skipped with a warning, counted once in :attr:`VideoTextDataset.num_skipped` (shared with DataLoader workers), and
the item falls back to the next usable clip; a run never stops on bad data.
"""

import csv
import functools
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import av
import numpy as np
import torch
from safetensors import safe_open
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from condition_extractors import ConditionExtractor, available_extractors, extract_conditions, get_extractor
from condition_extractors.base import check_extractor_kwargs
from condition_extractors.video import load_video, probe_duration, resize_center_crop, sampled_frame_count

from ..atomic_files import atomic_write_text
from ..conditions import save_condition_file

CAPTION_FORMATS = (".csv", ".jsonl")
# The dataset attributes a condition cache is written with: recorded in each entry and in its index.json.
CACHE_SETTINGS = ("num_frames", "fps", "height", "width", "conditions")
# The errors that mean "this clip is unusable" (decoding, I/O, too short); anything else is a bug and propagates.
_DATA_ERRORS = (ValueError, OSError, RuntimeError, av.error.FFmpegError)


class UnusableClipError(Exception):
    """A clip that cannot be loaded: skipped by the dataset and counted."""


class VideoTextDataset(Dataset):
    """Videos under ``data_dir`` listed with captions in ``captions_file`` (CSV or JSONL).

    Args:
        data_dir: folder the video paths are relative to.
        captions_file: ``.csv`` (with a header row) or ``.jsonl`` (one JSON object a line).
        num_frames: frames per item.
        fps: sampling rate in frames per second (the original samples at 4).
        resolution: output size, an int (square) or ``(height, width)``.
        video_column: column holding the video path relative to ``data_dir``; a value without a file extension is a
            WebVid-style id and gets ``video_extension`` appended.
        caption_column: column holding the caption.
        conditions: extractor names (``condition_extractors.available_extractors()``) whose outputs each item carries.
            ``motion`` is the original's recipe (``MotionVectorExtractor(mode="original")``, what the released weights
            were trained on); ``condition_kwargs={"motion": {"mode": "reencode"}}`` selects the other.
        condition_kwargs: per-name constructor arguments, e.g. ``{"motion": {"bit_rate": 400_000}}``.
        cache_dir: read conditions from this cache (written by :func:`write_condition_cache`) instead of extracting
            them; each clip then uses the start time stored with its cache entry, so its window is fixed.
        seed: seed of the random start times.
        video_extension: appended to extension-less video ids.

    Items: ``{"pixel_values": (F, 3, H, W) float32 in [-1, 1], "prompt": str, "conditions": {pipeline kwarg:
    (C, F, h, w) float32}, "index": the index of the clip actually used}``.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        captions_file: str | os.PathLike,
        num_frames: int = 16,
        fps: float = 4.0,
        resolution: int | tuple[int, int] = 256,
        video_column: str = "videoid",
        caption_column: str = "name",
        conditions: Sequence[str] = (),
        condition_kwargs: Mapping[str, Mapping] | None = None,
        cache_dir: str | os.PathLike | None = None,
        seed: int = 0,
        video_extension: str = ".mp4",
    ):
        if not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames < 1:
            raise ValueError(f"num_frames must be a positive int, got {num_frames!r}")
        if not isinstance(fps, (int, float)) or not fps > 0:
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.height, self.width = _check_resolution(resolution)
        self.conditions = _check_conditions(conditions)
        check_extractor_kwargs(condition_kwargs or {}, self.conditions, "condition_kwargs")
        self.condition_kwargs = {name: dict(value) for name, value in (condition_kwargs or {}).items()}
        self.data_dir = Path(data_dir)
        if not self.data_dir.is_dir():
            raise ValueError(f"data_dir={str(data_dir)!r} is not a folder")
        if not video_extension.startswith("."):
            raise ValueError(f"video_extension must start with '.', got {video_extension!r}")
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        if self.cache_dir is not None:
            if not self.conditions:
                raise ValueError("cache_dir is given but conditions is empty: name the conditions the cache holds")
            if not self.cache_dir.is_dir():
                raise ValueError(
                    f"cache_dir={str(cache_dir)!r} is not a folder; write it with `videocomposer extract --cache DIR` "
                    "(or write_condition_cache)"
                )
        self.num_frames = num_frames
        self.fps = float(fps)
        self.seed = seed
        self.video_extension = video_extension
        self.entries = read_captions(captions_file, video_column, caption_column)
        # Shared memory, so that DataLoader workers see set_epoch and the main process sees their skips.
        self._unusable = torch.zeros(len(self.entries), dtype=torch.bool).share_memory_()
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def num_skipped(self) -> int:
        """Distinct clips found unusable so far (by this process and its DataLoader workers)."""
        return int(self._unusable.sum())

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Draw new start times: call once per epoch (seen by persistent DataLoader workers too)."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self._epoch.fill_(epoch)

    def video_path(self, index: int) -> Path:
        video = self.entries[index][0]
        return self.data_dir / (video if Path(video).suffix else video + self.video_extension)

    def start_time(self, index: int, epoch: int | None = None) -> float:
        """Random start (seconds) of clip ``index`` in ``epoch`` (default: the current one): ``k / fps`` for ``k``
        uniform over the starts from which :func:`~condition_extractors.video.load_video` gives ``num_frames`` frames
        at ``fps`` (the original's rule: ``k + num_frames <= round(duration * fps)``, the frames of its ``fps``
        re-encode).

        Raises:
            UnusableClipError: the file cannot be opened or is too short.
        """
        epoch = self.epoch if epoch is None else epoch
        path = self.video_path(index)
        try:
            duration = probe_duration(str(path))
        except _DATA_ERRORS as error:
            raise UnusableClipError(str(error)) from error
        if duration is None:
            return 0.0
        num_starts = sampled_frame_count(duration, self.fps) - self.num_frames + 1
        if num_starts < 1:
            raise UnusableClipError(
                f"video={str(path)!r}: {duration:.3g} s is too short for num_frames={self.num_frames} at "
                f"fps={self.fps} (it needs {(self.num_frames - 0.5) / self.fps:.3g} s)"
            )
        return int(np.random.default_rng([self.seed, epoch, index]).integers(num_starts)) / self.fps

    def clip_conditions(self, index: int, start_time: float) -> dict[str, torch.Tensor]:
        """Conditions ``{pipeline kwarg: (C, F, h, w)}`` of clip ``index`` from ``start_time``, by the extractors.

        Raises:
            UnusableClipError: the video cannot be decoded or is too short.
        """
        try:
            batch = extract_conditions(
                self.video_path(index),
                self._extractors,
                num_frames=self.num_frames,
                fps=self.fps,
                height=self.height,
                width=self.width,
                start_time=start_time,
                progress=False,
            )
        except _DATA_ERRORS as error:
            raise UnusableClipError(str(error)) from error
        return {key: value[0] for key, value in batch.items()}

    def load_clip(self, index: int) -> dict:
        """The item of clip ``index`` (no fallback).

        Raises:
            UnusableClipError: the clip cannot be used.
            ValueError: the cache entry was written with other settings than this dataset's.
        """
        conditions, start = self._read_cache(index) if self.cache_dir is not None else (None, self.start_time(index))
        try:
            frames = load_video(self.video_path(index), num_frames=self.num_frames, fps=self.fps, start_time=start)
        except _DATA_ERRORS as error:
            raise UnusableClipError(str(error)) from error
        if conditions is None:
            conditions = self.clip_conditions(index, start) if self.conditions else {}
        pixel_values = resize_center_crop(frames, self.height, self.width) * 2.0 - 1.0
        return {
            "pixel_values": pixel_values,
            "prompt": self.entries[index][1],
            "conditions": conditions,
            "index": index,
        }

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} clips")
        for offset in range(len(self)):
            candidate = (index + offset) % len(self)  # a negative index counts from the end
            if self._unusable[candidate]:
                continue
            try:
                return self.load_clip(candidate)
            except UnusableClipError as error:
                self.mark_unusable(candidate, str(error))
        raise RuntimeError(f"no usable clip left in the {len(self)} clips of the dataset ({self.num_skipped} skipped)")

    def mark_unusable(self, index: int, reason: str) -> None:
        """Record clip ``index`` as skipped, with a warning the first time."""
        if not self._unusable[index]:
            self._unusable[index] = True
            warnings.warn(
                f"VideoTextDataset: skipping clip {index} ({self.video_path(index)}): {reason}", stacklevel=2
            )

    def cache_path(self, index: int, cache_dir: str | os.PathLike | None = None) -> Path:
        """Cache file of clip ``index``: the video path with separators replaced, ``.safetensors`` appended."""
        folder = Path(cache_dir) if cache_dir is not None else self.cache_dir
        if folder is None:
            raise ValueError("cache_dir must be given: this dataset has no cache_dir")
        return folder / (self.entries[index][0].replace("/", "__").replace("\\", "__") + ".safetensors")

    def cache_metadata(self, index: int, start_time: float) -> dict[str, str]:
        """What a cache entry records: the clip's start time and the settings it was made with (as JSON)."""
        settings = {key: json.dumps(getattr(self, key)) for key in CACHE_SETTINGS}
        return {"video": self.entries[index][0], "start_time": repr(float(start_time)), **settings}

    def _read_cache(self, index: int) -> tuple[dict[str, torch.Tensor], float]:
        path = self.cache_path(index)
        if not path.is_file():
            raise UnusableClipError(f"no cache entry {path}; write it with `videocomposer extract --cache DIR`")
        with safe_open(str(path), framework="pt") as entry:
            metadata = entry.metadata() or {}
            tensors = {key: entry.get_tensor(key) for key in entry.keys()}
        start = float(metadata.get("start_time", "nan"))
        expected = self.cache_metadata(index, start)
        mismatched = {key: (metadata.get(key), value) for key, value in expected.items() if metadata.get(key) != value}
        if mismatched:
            raise ValueError(
                f"cache entry {path} was written with other settings (key: (cache, dataset)) {mismatched}; "
                f"write the cache again into an empty cache_dir"
            )
        return tensors, start

    @functools.cached_property
    def _extractors(self) -> list[ConditionExtractor]:  # built on first use, inside each DataLoader worker
        return [get_extractor(name, **self.condition_kwargs.get(name, {})) for name in self.conditions]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_extractors", None)  # workers build their own extractors
        return state


def read_captions(captions_file: str | os.PathLike, video_column: str, caption_column: str) -> list[tuple[str, str]]:
    """``(video, caption)`` pairs of a ``.csv`` (header row) or ``.jsonl`` captions file, in file order."""
    path = Path(captions_file)
    if path.suffix not in CAPTION_FORMATS:
        raise ValueError(f"captions_file must end in one of {CAPTION_FORMATS}, got {str(captions_file)!r}")
    if not path.is_file():
        raise ValueError(f"captions_file={str(captions_file)!r}: no such file")
    with open(path, newline="", encoding="utf-8") as f:
        if path.suffix == ".csv":
            rows = list(enumerate(csv.DictReader(f), start=2))
        else:
            rows = [(number, json.loads(line)) for number, line in enumerate(f, start=1) if line.strip()]
    if not rows:
        raise ValueError(f"captions_file={str(captions_file)!r} lists no videos")
    entries = []
    for number, row in rows:
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: each JSONL line must be an object, got {type(row).__name__}")
        for column in (video_column, caption_column):
            if row.get(column) is None:
                raise ValueError(
                    f"{path}:{number}: no value in column {column!r}; columns found: {sorted(k for k in row if k)} "
                    f"(set video_column / caption_column)"
                )
        video = str(row[video_column]).strip()
        if not video:
            raise ValueError(f"{path}:{number}: empty {video_column!r}")
        entries.append((video, str(row[caption_column])))
    return entries


def collate_video_text(items: Sequence[dict]) -> dict:
    """Batch items: ``pixel_values (B, F, 3, H, W)``, ``prompts`` list of str, ``conditions {kwarg: (B, C, F, h, w)}``,
    ``index (B,)``. Every item must carry the same condition names."""
    if not items:
        raise ValueError("items must hold at least one item")
    names = set(items[0]["conditions"])
    for item in items[1:]:
        if set(item["conditions"]) != names:
            raise ValueError(f"items carry different conditions: {sorted(names)} vs {sorted(item['conditions'])}")
    return {
        "pixel_values": torch.stack([item["pixel_values"] for item in items]),
        "prompts": [item["prompt"] for item in items],
        "conditions": {name: torch.stack([item["conditions"][name] for item in items]) for name in sorted(names)},
        "index": torch.tensor([item["index"] for item in items]),
    }


CACHE_INDEX_NAME = "index.json"


def write_condition_cache(
    dataset: VideoTextDataset,
    cache_dir: str | os.PathLike,
    progress: bool = True,
    indices: Sequence[int] | None = None,
) -> dict[str, int]:
    """Extract the conditions of every clip of ``dataset`` (or of the clips ``indices``: one process's share of a
    sharded run) into ``cache_dir``, one safetensors file per clip.

    Resumable: clips whose file exists are skipped. Each file is written atomically (a unique temporary name, then
    renamed; the umask's permissions), so a killed run leaves no half-written entry and processes never collide. A
    clip's window is its epoch-0 start time, recorded in the file. Unusable clips are skipped and counted (also in
    ``dataset.num_skipped``).

    Returns:
        ``{"written": n, "existing": n, "skipped": n}``.
    """
    from videocomposer.metrics.motion import MotionGeometry

    if not dataset.conditions:
        raise ValueError("dataset.conditions is empty: there is nothing to cache")
    indices = range(len(dataset)) if indices is None else indices
    bad = [i for i in indices if not 0 <= i < len(dataset)]
    if bad:
        raise ValueError(f"indices: expected clip indices in [0, {len(dataset)}), got {bad[:5]}")
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"written": 0, "existing": 0, "skipped": 0}
    for index in tqdm(indices, desc="caching conditions", disable=not progress):
        target = dataset.cache_path(index, folder)
        if target.exists():
            counts["existing"] += 1
            continue
        try:
            start = dataset.start_time(index, epoch=0)
            conditions = dataset.clip_conditions(index, start)
        except UnusableClipError as error:
            dataset.mark_unusable(index, str(error))
            counts["skipped"] += 1
            continue
        metadata = dataset.cache_metadata(index, start)
        if "motion" in dataset.conditions:  # how the vectors were made, so `eval` compares them in the video's pixels
            mode = dataset.condition_kwargs.get("motion", {}).get("mode", "original")
            metadata |= MotionGeometry.of_video(dataset.video_path(index), mode).to_metadata()
        save_condition_file(target, conditions, metadata)
        counts["written"] += 1
    return counts


def write_cache_index(dataset: VideoTextDataset, cache_dir: str | os.PathLike) -> Path:
    """Write ``cache_dir/index.json``: the settings, and per clip (in captions-file order) its cache file and start
    time, or that it has none. Built from the files present, so it is the same however many processes (or resumed
    runs) wrote them; call it once, after every writer finished."""
    folder = Path(cache_dir)
    entries, missing = [], []
    for index, (video, caption) in enumerate(dataset.entries):
        path = dataset.cache_path(index, folder)
        if not path.is_file():
            missing.append(video)
            continue
        with safe_open(str(path), framework="pt") as entry:
            start = float((entry.metadata() or {}).get("start_time", "nan"))
        entries.append({"video": video, "caption": caption, "file": path.name, "start_time": start})
    settings = {key: getattr(dataset, key) for key in CACHE_SETTINGS}
    index = {"settings": settings, "num_clips": len(dataset), "entries": entries, "missing": missing}
    return atomic_write_text(folder / CACHE_INDEX_NAME, json.dumps(index, indent=1) + "\n")


def _check_resolution(resolution: int | tuple[int, int]) -> tuple[int, int]:
    size = (resolution, resolution) if isinstance(resolution, int) else resolution
    valid = isinstance(size, Sequence) and len(size) == 2
    if not valid or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 2 for s in size):
        raise ValueError(f"resolution must be an int >= 2 or a (height, width) pair of them, got {resolution!r}")
    return tuple(size)


def _check_conditions(conditions: Sequence[str]) -> tuple[str, ...]:
    if isinstance(conditions, str):
        raise ValueError(f"conditions must be a sequence of extractor names, got the string {conditions!r}")
    names = tuple(conditions)
    if len(set(names)) != len(names):
        raise ValueError(f"conditions has duplicates: {list(names)}")
    unknown = [name for name in names if name not in available_extractors()]
    if unknown:
        raise ValueError(f"conditions has unknown extractor names {unknown}; available: {available_extractors()}")
    return names
