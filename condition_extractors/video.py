"""Video input: decode a file with PyAV (or take frames in memory), sample at a frame rate, resize and centre-crop.

Sampling is exactly that of the original's ``ffmpeg -i clip -filter:v fps=4`` (the ``fps`` filter, default rounding
``near``). Timestamps ``t`` are the decoded frames' presentation times relative to the file's start (ffmpeg subtracts
the container's start time), compared exactly as rationals. Output slots lie on the grid ``n / fps``:

* the first slot is ``n0 = round(t_first * fps)`` (round half away from zero; ``t_first`` = the first decoded frame);
* slot ``n`` holds the LAST decoded frame (in decode order) with ``round(t * fps) <= n``, i.e. ``t < (n + 0.5) / fps``,
  so slow sources repeat frames, fast ones skip them, and variable frame rates need no special case;
* after the last frame (shown until ``t_end`` = its time + its duration), slots ``n`` with ``n + 0.5 <= t_end * fps``
  still get it; later ones do not exist.

``start_time`` skips the slots before it: the first slot returned is the first grid slot ``n >= start_time * fps``
(``n >= n0``), so ``start_time = k / fps`` returns ffmpeg's output frames ``k, k+1, ...``. The start is deterministic
by default; the original's random I-frame start is :func:`random_iframe_start` (seeded), and its raising of the rate
for a clip too short for ``num_frames`` is ``raise_fps=True`` (off by default: such a clip raises).
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

import av
import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

VideoInput = str | os.PathLike | torch.Tensor | np.ndarray | list
T = TypeVar("T")


def _round_half_away(value: Fraction) -> int:
    """``av_rescale_q_rnd``'s ``AV_ROUND_NEAR_INF``: nearest integer, halves away from zero."""
    return math.floor(abs(value) + Fraction(1, 2)) * (1 if value >= 0 else -1)


def sample_at_fps(
    timed_items: Iterable[tuple[float | Fraction, T]],
    num_frames: int | None,
    fps: float,
    start_time: float,
    frame_duration: Callable[[T], float | Fraction | None] | None = None,
) -> list[T]:
    """Pick the items ffmpeg's ``fps`` filter outputs (rule in the module docstring), from ``start_time`` on.

    ``timed_items`` yields ``(time_in_seconds, item)`` in decode order; it is consumed lazily and abandoned once
    ``num_frames`` items are picked (``None``: until the stream ends). The last item lasts ``frame_duration(item)``
    seconds (when that gives ``None``: the last timestamp step; a lone item then has no duration).
    """
    rate = Fraction(fps)
    first_wanted = math.ceil(Fraction(start_time) * rate - Fraction(1, 10**6))
    picked: list[T] = []
    slot: int | None = None
    prev_time: Fraction | None = None
    prev_item: T | None = None
    step: Fraction | None = None

    def full() -> bool:
        return num_frames is not None and len(picked) >= num_frames

    for time, item in timed_items:
        time = Fraction(time)
        rounded = _round_half_away(time * rate)
        if slot is None:  # ffmpeg's first output slot, or the first one at or after start_time
            slot = max(rounded, first_wanted)
        # every slot before this frame's rounded time is closed: it holds the previous frame
        while prev_item is not None and not full() and rounded > slot:
            picked.append(prev_item)
            slot += 1
        if full():
            return picked
        if prev_time is not None and time > prev_time:
            step = time - prev_time
        prev_time, prev_item = time, item
    last_duration = frame_duration(prev_item) if frame_duration is not None and prev_item is not None else None
    step = Fraction(last_duration) if last_duration is not None else step
    if prev_item is not None and step is not None:
        end = (prev_time + step) * rate
        while not full() and slot + Fraction(1, 2) <= end:
            picked.append(prev_item)
            slot += 1
    return picked


def _decoded_frames(
    path: str, container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[tuple[Fraction, av.VideoFrame]]:
    """Yield ``(time, frame)`` of every decoded frame, times relative to the container start as ffmpeg's CLI does;
    frames without a timestamp fall back to index / average rate."""
    rate = Fraction(stream.average_rate) if stream.average_rate else None
    offset = Fraction(container.start_time or 0, av.time_base)
    for index, frame in enumerate(container.decode(stream)):
        if frame.pts is not None and frame.time_base is not None:
            time = frame.pts * Fraction(frame.time_base) - offset
        elif rate is not None:
            time = index / rate
        else:
            raise ValueError(f"video={path!r}: frame {index} has no timestamp and the stream no frame rate")
        yield time, frame


def _duration(frame: av.VideoFrame, rate: Fraction | None) -> Fraction | None:
    """How long a decoded frame is shown: its own duration, else one frame at the stream's average rate."""
    if frame.duration and frame.time_base is not None:
        return frame.duration * Fraction(frame.time_base)
    return 1 / rate if rate else None


def ffmpeg_reason(error: av.error.FFmpegError) -> str:
    """FFmpeg's sentence for ``error`` ("Invalid data found when processing input"), without its errno and path."""
    return error.strerror or type(error).__name__


def open_video_stream(path: str) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``path`` with PyAV and return its container and first video stream; clear ``ValueError`` otherwise."""
    if not os.path.isfile(path):
        raise ValueError(f"video={path!r}: no such file")
    try:
        container = av.open(path)
    except av.error.FFmpegError as error:
        raise ValueError(
            f"video={path!r}: not a readable video file: corrupt, truncated or not a video ({ffmpeg_reason(error)})"
        ) from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"video={path!r}: the file has no video stream")
    # A still image (FFmpeg's image demuxers: ``png_pipe``, ``jpeg_pipe``, ``image2``, ...) is not a video.
    kind = container.format.name
    if kind == "image2" or kind.endswith("_pipe"):
        container.close()
        raise ValueError(
            f"video={path!r}: this is a still image ({kind.removesuffix('_pipe')}), not a video; an image is taken "
            f"as the `image` / `style_image` condition (condition_extractors.load_image, `videocomposer generate "
            f"--image/--sketch/--style`)"
        )
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def probe_duration(path: str) -> float | None:
    """Duration in seconds of the first video stream of ``path`` (``None`` when the file does not say)."""
    container, stream = open_video_stream(path)
    with container:
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / av.time_base
        if stream.frames and stream.average_rate:
            return stream.frames / float(stream.average_rate)
    return None


def sampled_frame_count(duration: float, fps: float) -> int:
    """How many frames sampling at ``fps`` gives from the start of a clip of ``duration`` seconds (the last slot ``n``
    exists while ``n + 1/2 <= duration * fps``): ``round(duration * fps)``, halves away from zero. A start
    ``k / fps`` can give ``num_frames`` frames when ``k + num_frames <= sampled_frame_count``."""
    return _round_half_away(Fraction(duration) * Fraction(fps))


def raised_fps(path: str, num_frames: int, fps: float, start_time: float = 0.0) -> float:
    """The original's rate for a short clip: ``fps`` if the clip (from ``start_time``) lasts more than ``num_frames``
    frames at ``fps``, else ``int(num_frames / duration) + 1``; warns naming the new rate when it changes."""
    duration = probe_duration(path)
    if duration is None:
        return fps
    duration -= start_time
    if duration * fps > num_frames:
        return fps
    if duration <= 0:
        raise ValueError(f"video={path!r}: start_time={start_time} is at or after the end ({duration + start_time} s)")
    new_fps = float(int(num_frames / duration) + 1)
    warnings.warn(
        f"video={path!r}: {duration:.3g} s from start_time={start_time} is too short for num_frames={num_frames} at "
        f"fps={fps}; sampling at fps={new_fps:g} instead (raise_fps=True, as the original)",
        stacklevel=3,
    )
    return new_fps


def random_iframe_start(
    path: str, num_frames: int, fps: float, seed: int | np.random.Generator, gop_size: int = 12
) -> float:
    """The original's random start, seeded: a uniformly drawn I-frame of the ``fps`` re-encode (output frames
    ``0, gop_size, 2 gop_size, ...``) with ``num_frames`` frames from it inside the clip; returns its time ``k / fps``
    (``0.0`` when only the first fits). I-frames the encoder adds at scene cuts are not candidates."""
    if not isinstance(gop_size, int) or gop_size < 1:
        raise ValueError(f"gop_size must be a positive int, got {gop_size!r}")
    duration = probe_duration(path)
    if duration is None:
        return 0.0
    slots = sampled_frame_count(duration, fps)
    candidates = range(0, max(slots - num_frames, 0) + 1, gop_size)
    rng = np.random.default_rng(seed)  # a Generator is returned as it is
    return candidates[int(rng.integers(len(candidates)))] / fps


@dataclass
class SampledClip:
    """Frames of a video file picked by the ``fps`` rule, decoded once, in the decoder's own pixel format.

    ``fps`` is the rate actually used (``raise_fps`` may have raised it); ``start_time`` the one asked for.
    """

    path: str
    frames: list[av.VideoFrame]
    fps: float
    start_time: float

    @functools.cached_property
    def rgb(self) -> torch.Tensor:
        """uint8 ``(F, 3, H, W)`` RGB frames (converted once, then cached)."""
        return torch.from_numpy(np.stack([f.to_ndarray(format="rgb24") for f in self.frames])).permute(0, 3, 1, 2)


def decode_sampled(path: str, num_frames: int | None, fps: float, start_time: float, **codec_options: str) -> list:
    """Decode ``path`` and return the sampled PyAV frames (see ``sample_at_fps``), with clear errors."""
    container, stream = open_video_stream(path)
    stream.codec_context.options = codec_options  # {} (the default) unless given
    rate = Fraction(stream.average_rate) if stream.average_rate else None
    try:
        with container:
            if start_time > 0:
                offset = (container.start_time or 0) / av.time_base
                target = int((start_time - 0.5 / fps + offset) / stream.time_base)
                container.seek(target, stream=stream, any_frame=False, backward=True)
            frames = sample_at_fps(
                _decoded_frames(path, container, stream), num_frames, fps, start_time, lambda f: _duration(f, rate)
            )
    except av.error.FFmpegError as error:
        raise ValueError(f"video={path!r}: the file is corrupt or truncated ({ffmpeg_reason(error)})") from None
    if not frames:
        raise ValueError(
            f"video={path!r}: no frame decoded at or after start_time={start_time} at fps={fps} (the clip ends "
            f"before its first output frame, as with ffmpeg's fps filter); lower start_time or raise fps"
        )
    if num_frames is not None and len(frames) < num_frames:
        raise ValueError(
            f"video={path!r}: only {len(frames)} frames at fps={fps} from start_time={start_time}, fewer than "
            f"num_frames={num_frames}; lower num_frames or start_time, raise fps, or pass raise_fps=True (the original's rate)"
        )
    return frames


def sample_video(
    path: str | os.PathLike, num_frames: int | None, fps: float, start_time: float = 0.0, raise_fps: bool = False
) -> SampledClip:
    """Decode ``path`` once into a :class:`SampledClip`; ``raise_fps`` applies :func:`raised_fps` first."""
    path = os.fspath(path)
    if raise_fps and num_frames is not None:
        fps = raised_fps(path, num_frames, fps, start_time)
    return SampledClip(path, decode_sampled(path, num_frames, fps, start_time), fps, start_time)


def frames_to_uint8(frames: torch.Tensor | np.ndarray | list, name: str) -> torch.Tensor:
    """In-memory frames -> uint8 ``(F, 3, H, W)``; floats must lie in [0, 1]."""
    if isinstance(frames, list):
        if not frames or not all(isinstance(f, PIL.Image.Image) for f in frames):
            raise TypeError(f"{name}: a list must hold at least one PIL image, got {[type(f) for f in frames[:3]]}")
        sizes = {f.size for f in frames}
        if len(sizes) != 1:
            raise ValueError(f"{name}: all PIL images must have one size, got {sorted(sizes)}")
        frames = np.stack([np.asarray(f.convert("RGB")) for f in frames])
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"{name}: a numpy array must be (F, H, W, 3), got shape {frames.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    elif isinstance(frames, torch.Tensor):
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"{name}: a tensor must be (F, 3, H, W), got shape {tuple(frames.shape)}")
        tensor = frames.detach().cpu()
    else:
        raise TypeError(
            f"{name}: expected a path, a tensor, a numpy array or a list of PIL images, got {type(frames)}"
        )
    if tensor.shape[0] == 0:
        raise ValueError(f"{name}: zero frames")
    if tensor.dtype == torch.uint8:
        return tensor.contiguous()
    if not tensor.is_floating_point():
        raise TypeError(f"{name}: frames must be uint8 or float in [0, 1], got dtype {tensor.dtype}")
    low, high = tensor.min().item(), tensor.max().item()
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{name}: float frames must lie in [0, 1], got [{low:.3g}, {high:.3g}]")
    return tensor.float().mul(255.0).round_().to(torch.uint8).contiguous()


def check_sampling(num_frames: int | None, fps: float, start_time: float) -> None:
    """``ValueError`` naming the argument for a bad ``num_frames`` / ``fps`` / ``start_time``."""
    if num_frames is not None and (not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames < 1):
        raise ValueError(f"num_frames must be a positive int or None, got {num_frames!r}")
    if not (isinstance(fps, (int, float)) and fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    if not (isinstance(start_time, (int, float)) and start_time >= 0 and math.isfinite(start_time)):
        raise ValueError(f"start_time must be a finite number >= 0, got {start_time!r}")


def load_video(
    video: VideoInput, num_frames: int | None = 16, fps: float = 4.0, start_time: float = 0.0, raise_fps: bool = False
) -> torch.Tensor:
    """Load a video as uint8 ``(F, 3, H, W)`` RGB frames.

    Args:
        video: a file path (mp4, mov, webm, mkv, gif, ...; decoded with PyAV), or frames already in memory: a uint8 or
            float-in-[0, 1] tensor ``(F, 3, H, W)``, a numpy array ``(F, H, W, 3)`` or a list of PIL images.
        num_frames: frames to return; ``None`` returns every sampled frame. In-memory frames count as already sampled:
            their first ``num_frames`` are returned and ``fps`` / ``start_time`` do not apply.
        fps: sampling rate for files (the original samples at 4 fps), by the rule of the module docstring.
        start_time: seconds into the file where sampling starts (rounded up to the ``1 / fps`` grid).
        raise_fps: for a file too short for ``num_frames`` at ``fps``, sample at the original's raised rate (with a
            warning naming it) instead of raising.

    Raises:
        ValueError: the file is missing, has no video stream, is corrupt or truncated, or gives zero frames or fewer
            than ``num_frames``; in-memory frames with a wrong shape or range. The message names the input.
        TypeError: an unsupported input type or dtype.
    """
    check_sampling(num_frames, fps, start_time)
    if isinstance(video, (str, os.PathLike)):
        return sample_video(video, num_frames, fps, start_time, raise_fps).rgb
    tensor = frames_to_uint8(video, "video")
    if num_frames is not None and tensor.shape[0] < num_frames:
        raise ValueError(f"video: {tensor.shape[0]} frames given, fewer than num_frames={num_frames}")
    return tensor[:num_frames]


def resize_crop_geometry(in_height: int, in_width: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Short-side resize then centre crop: returns ``(resized_height, resized_width, top, left)``."""
    scale = max(height / in_height, width / in_width)
    resized_height = max(height, round(in_height * scale))
    resized_width = max(width, round(in_width * scale))
    return resized_height, resized_width, (resized_height - height) // 2, (resized_width - width) // 2


def resize_center_crop(frames: torch.Tensor, height: int, width: int, antialias: bool = True) -> torch.Tensor:
    """Resize ``(F, C, H, W)`` frames so the short side fits, centre-crop to ``height x width``.

    uint8 input is read as [0, 255], float input must already be in [0, 1]; returns float32 in [0, 1]. Bilinear with
    antialiasing (``antialias=True``), so downscaling does not alias.
    """
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
        raise ValueError(f"frames must be a (F, C, H, W) tensor, got {getattr(frames, 'shape', type(frames))}")
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    if frames.dtype == torch.uint8:
        frames = frames.float() / 255.0
    elif not frames.is_floating_point():
        raise TypeError(f"frames must be uint8 or float, got {frames.dtype}")
    resized_height, resized_width, top, left = resize_crop_geometry(*frames.shape[2:], height, width)
    if (resized_height, resized_width) != tuple(frames.shape[2:]):
        frames = F.interpolate(
            frames.float(),
            size=(resized_height, resized_width),
            mode="bilinear",
            antialias=antialias,
            align_corners=False,
        )
    return frames[:, :, top : top + height, left : left + width].float().clamp(0.0, 1.0).contiguous()
