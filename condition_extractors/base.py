"""Extractor base class, registry (with entry-point discovery) and ``extract_conditions``.

An extractor turns sampled frames ``(F, 3, H, W)`` in [0, 1] into a condition ``(F, C, H, W)`` in the canonical range
of docs/architecture.md. Built-in extractors register themselves by name; third-party packages add theirs through the
entry-point group ``videocomposer.condition_extractors`` (entry-point name = registry name, object = the extractor
class or any callable returning a ``ConditionExtractor``), e.g. in their ``pyproject.toml``::

    [project.entry-points."videocomposer.condition_extractors"]
    optical_flow = "my_package.flow:FlowExtractor"
"""

from __future__ import annotations

import importlib.metadata
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

import torch
from tqdm.auto import tqdm

from .video import SampledClip, VideoInput, check_sampling, load_video, resize_center_crop, sample_video

ENTRY_POINT_GROUP = "videocomposer.condition_extractors"


class ConditionExtractor(ABC):
    """Base class of every extractor.

    Class attributes:
        name: registry name (``get_extractor(name)``).
        condition: the condition of the schema (``videocomposer.conditions``) it makes (default: the spec that lists
            ``name`` among its ``extractors``). Its spec gives ``outputs`` (pipeline keyword -> channels, in the
            channel order of ``__call__``'s output) and ``scale`` (size relative to the video); a subclass may set any
            of the three as a class attribute instead.
    """

    name: ClassVar[str]

    @property
    def condition(self) -> str:
        from videocomposer.conditions import condition_specs  # the schema, read when an extractor is used

        for spec in condition_specs():
            if self.name in spec.extractors:
                return spec.name
        raise ValueError(f"extractor {self.name!r}: no condition of the schema lists it; set its `condition`")

    @property
    def outputs(self) -> dict[str, int]:
        return dict(self._spec().inputs)

    @property
    def scale(self) -> float:
        return self._spec().scale

    def _spec(self):
        from videocomposer.conditions import get_condition  # the schema, read when an extractor is used

        return get_condition(self.condition)

    @property
    def channels(self) -> int:
        return sum(self.outputs.values())

    @abstractmethod
    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        """``(F, 3, H, W)`` float frames in [0, 1] (already validated) -> ``(F, C, H, W)`` float condition."""

    def extract_from_source(self, clip: SampledClip, height: int, width: int) -> torch.Tensor | None:
        """Condition ``(F, C, height, width)`` straight from the decoded source frames of a file (in the decoder's
        pixel format, at the source size), or ``None`` (the default) to be given the resized RGB frames instead."""
        return None

    def extract_from_video(
        self, video: VideoInput, frames: torch.Tensor, *, fps: float, start_time: float
    ) -> torch.Tensor:
        """Condition of ``frames``, which were sampled from ``video``; extractors that read the source override it."""
        return self(frames)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(
                f"{type(self).__name__}: frames must be a (F, 3, H, W) tensor, got "
                f"{tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames)}"
            )
        if not frames.is_floating_point():
            raise TypeError(f"{type(self).__name__}: frames must be float in [0, 1], got {frames.dtype}")
        if frames.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: frames has zero frames")
        low, high = frames.min().item(), frames.max().item()
        if low < 0.0 or high > 1.0:
            raise ValueError(f"{type(self).__name__}: frames must lie in [0, 1], got [{low:.3g}, {high:.3g}]")
        out = self.extract(frames)
        expected = (frames.shape[0], self.channels, *frames.shape[2:])
        if tuple(out.shape) != expected:
            raise RuntimeError(f"{type(self).__name__} returned shape {tuple(out.shape)}, expected {expected}")
        return out

    def pipeline_kwargs(self, condition: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split ``(F, C, H, W)`` into the pipeline's ``(1, C_k, F, H, W)`` keyword arguments."""
        parts = condition.permute(1, 0, 2, 3).split(list(self.outputs.values()))  # (C_k, F, H, W) each
        return {key: part[None].contiguous() for key, part in zip(self.outputs, parts)}


_REGISTRY: dict[str, Callable[..., ConditionExtractor]] = {}


def register_extractor(cls: type[ConditionExtractor]) -> type[ConditionExtractor]:
    """Class decorator: register ``cls`` under ``cls.name``. Registering another class under a taken name raises."""
    if not (isinstance(cls, type) and issubclass(cls, ConditionExtractor)):
        raise TypeError(f"register_extractor expects a ConditionExtractor subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__name__}.name must be a non-empty string, got {name!r}")
    if _REGISTRY.get(name, cls) is not cls:
        raise ValueError(f"extractor name {name!r} is already registered by {_REGISTRY[name]!r}")
    _REGISTRY[name] = cls
    return cls


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_extractors() -> list[str]:
    """Names of the built-in, registered and entry-point extractors, sorted."""
    return sorted(set(_REGISTRY) | set(_entry_points()))


def get_extractor(name: str, **kwargs) -> ConditionExtractor:
    """Build the extractor registered (or advertised through an entry point) as ``name`` with ``kwargs``."""
    factory = _REGISTRY.get(name)
    if factory is None:
        entry_point = _entry_points().get(name)
        if entry_point is None:
            raise ValueError(f"unknown extractor name {name!r}; available: {available_extractors()}")
        factory = entry_point.load()
        if not callable(factory):
            raise TypeError(f"entry point {name!r} ({entry_point.value}) does not load a callable: {factory!r}")
    extractor = factory(**kwargs)
    if not isinstance(extractor, ConditionExtractor):
        raise TypeError(f"extractor {name!r} built {type(extractor).__name__}, not a ConditionExtractor")
    return extractor


def check_extractor_kwargs(kwargs: Mapping[str, Mapping], names: Sequence, argument: str) -> None:
    """``ValueError`` naming ``argument`` when ``kwargs`` (extractor name -> constructor arguments) names no extractor
    name of ``names``; ``TypeError`` when its arguments are not a dict."""
    unknown = sorted(set(kwargs) - {name for name in names if isinstance(name, str)})
    if unknown:
        raise ValueError(f"{argument} keys {unknown} match no name in {list(names)}")
    for key, value in kwargs.items():
        if not isinstance(value, Mapping):
            raise TypeError(f"{argument}[{key!r}] must be a dict of constructor arguments, got {type(value).__name__}")


def extract_conditions(
    video: VideoInput,
    names: Sequence[str | ConditionExtractor],
    num_frames: int | None = 16,
    fps: float = 4.0,
    height: int = 256,
    width: int = 256,
    start_time: float = 0.0,
    progress: bool = True,
    raise_fps: bool = False,
    **extractor_kwargs: dict,
) -> dict[str, torch.Tensor]:
    """Turn a video into the pipeline's condition keyword arguments.

    Args:
        video: a path or in-memory frames (see ``load_video``).
        names: extractor names (``available_extractors()``) or built extractors.
        num_frames, fps, start_time: sampling (the original: 16 frames at 4 fps), by the rule of ffmpeg's ``fps``
            filter (``condition_extractors.video``); a file is decoded once for all extractors. ``num_frames=None``
            takes the whole clip from ``start_time`` at ``fps`` (conditions for a long video).
        height, width: the video size; each extractor works at ``round(size * extractor.scale)``.
        progress: show a tqdm progress bar over the extractors.
        raise_fps: for a file too short for ``num_frames`` at ``fps``, sample at the original's raised rate
            (``int(num_frames / duration) + 1``, with a warning naming it) instead of raising.
        **extractor_kwargs: per-name constructor arguments, e.g. ``depth={"model": "Intel/dpt-large"}``.

    Returns:
        ``{pipeline kwarg: (1, C, F, h, w) float32 tensor on the CPU}``, e.g. ``motion_vectors``, ``depth``,
        ``sketch``, ``masked_video`` + ``mask``, ``image``.
    """
    if isinstance(names, (str, ConditionExtractor)) or not names:
        raise ValueError(f"names must be a non-empty list of extractor names or extractors, got {names!r}")
    check_extractor_kwargs(extractor_kwargs, names, "extractor_kwargs")
    if height < 2 or width < 2:
        raise ValueError(f"height and width must be >= 2, got {height}x{width}")
    extractors = [
        n if isinstance(n, ConditionExtractor) else get_extractor(n, **extractor_kwargs.get(n, {})) for n in names
    ]
    claimed: dict[str, str] = {}
    for extractor in extractors:
        for key in extractor.outputs:
            if key in claimed:
                raise ValueError(f"extractors {claimed[key]!r} and {extractor.name!r} both produce {key!r}")
            claimed[key] = extractor.name

    check_sampling(num_frames, fps, start_time)
    clip = None
    if isinstance(video, (str, os.PathLike)):
        clip = sample_video(video, num_frames, fps, start_time, raise_fps)
        fps = clip.fps
    resized: dict[float, torch.Tensor] = {}
    conditions: dict[str, torch.Tensor] = {}
    for extractor in tqdm(extractors, desc="extracting conditions", disable=not progress):
        size = (round(height * extractor.scale), round(width * extractor.scale))
        condition = None if clip is None else extractor.extract_from_source(clip, *size)
        if condition is None:
            if extractor.scale not in resized:
                raw = clip.rgb if clip is not None else load_video(video, num_frames, fps, start_time)
                resized[extractor.scale] = resize_center_crop(raw, *size)
            condition = extractor.extract_from_video(video, resized[extractor.scale], fps=fps, start_time=start_time)
        expected = (len(clip.frames) if clip is not None else condition.shape[0], extractor.channels, *size)
        if tuple(condition.shape) != expected:
            raise RuntimeError(
                f"{type(extractor).__name__} returned shape {tuple(condition.shape)}, expected {expected}"
            )
        conditions.update(extractor.pipeline_kwargs(condition.float().cpu()))
    return conditions
