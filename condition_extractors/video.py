"""Video input: decode a file with PyAV (or take frames in memory), sample at a frame rate, resize and centre-crop.

Sampling follows the original's ``ffmpeg -filter:v fps=4``: output frame ``k`` is the decoded frame whose timestamp is
nearest to ``start_time + k / fps`` (ties go to the earlier frame), so slow sources repeat frames and fast ones skip
them. Unlike the original, the start is deterministic (``start_time``) instead of a random I-frame, and a clip that is
too short raises instead of silently raising the frame rate.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

import av
import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

VideoInput = str | os.PathLike | torch.Tensor | np.ndarray | list
T = TypeVar("T")


def sample_at_fps(
    timed_items: Iterable[tuple[float, T]],
    num_frames: int | None,
    fps: float,
    start_time: float,
    frame_duration: float | None = None,
) -> list[T]:
    """Pick, for each target time ``start_time + k / fps``, the item with the nearest timestamp.

    ``timed_items`` yields ``(time_in_seconds, item)`` in increasing time; it is consumed lazily and abandoned once
    ``num_frames`` items are picked (``None``: until the stream ends). A target after the last item is served by it
    only while it lies inside that item's display interval (``frame_duration``, else the last timestamp step).
    """
    picked: list[T] = []
    prev_time: float | None = None
    prev_item: T | None = None
    step: float | None = frame_duration

    def target() -> float:
        return start_time + len(picked) / fps

    def full() -> bool:
        return num_frames is not None and len(picked) >= num_frames

    for time, item in timed_items:
        while not full() and time >= target():
            tk = target()
            # nearest of (prev, current); a frame before start_time is never picked
            if prev_time is not None and prev_time >= start_time - 0.5 / fps and tk - prev_time <= time - tk:
                picked.append(prev_item)
            else:
                picked.append(item)
        if full():
            return picked
        if prev_time is not None and frame_duration is None:
            step = time - prev_time
        prev_time, prev_item = time, item
    if prev_time is not None and prev_time >= start_time - 0.5 / fps:
        end = prev_time + (step if step is not None else 0.0)
        while not full() and target() < end - 1e-6:
            picked.append(prev_item)
    return picked


def _decoded_frames(
    path: str, container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator:
    """Yield ``(time, frame)`` for every decoded frame; timestamps fall back to index / average rate."""
    rate = float(stream.average_rate) if stream.average_rate else None
    for index, frame in enumerate(container.decode(stream)):
        time = frame.time
        if time is None:
            if rate is None:
                raise ValueError(f"video={path!r}: frame {index} has no timestamp and the stream no frame rate")
            time = index / rate
        yield time, frame


def _reject_still_image(path: str, container: av.container.InputContainer) -> None:
    """A still image (FFmpeg's image demuxers: ``png_pipe``, ``jpeg_pipe``, ``image2``, ...) is not a video."""
    kind = container.format.name
    if kind == "image2" or kind.endswith("_pipe"):
        container.close()
        raise ValueError(
            f"video={path!r}: this is a still image ({kind.removesuffix('_pipe')}), not a video; an image is taken "
            f"as the `image` / `style_image` condition (condition_extractors.load_image, `videocomposer generate "
            f"--image/--sketch/--style`)"
        )


def open_video_stream(path: str) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``path`` with PyAV and return its container and first video stream; clear ``ValueError`` otherwise."""
    if not os.path.isfile(path):
        raise ValueError(f"video={path!r}: no such file")
    try:
        container = av.open(path)
    except av.error.FFmpegError as error:
        raise ValueError(
            f"video={path!r}: not a readable video file (corrupt, truncated or not a video: {error})"
        ) from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"video={path!r}: the file has no video stream")
    _reject_still_image(path, container)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def decode_sampled(path: str, num_frames: int | None, fps: float, start_time: float, **codec_options: str) -> list:
    """Decode ``path`` and return the sampled PyAV frames (see ``sample_at_fps``), with clear errors."""
    container, stream = open_video_stream(path)
    if codec_options:
        stream.codec_context.options = codec_options
    rate = float(stream.average_rate) if stream.average_rate else None
    try:
        with container:
            if start_time > 0:
                container.seek(int(start_time / stream.time_base), stream=stream, any_frame=False, backward=True)
            frames = sample_at_fps(
                _decoded_frames(path, container, stream), num_frames, fps, start_time, 1.0 / rate if rate else None
            )
    except av.error.FFmpegError as error:
        raise ValueError(f"video={path!r}: the file is corrupt or truncated ({error})") from None
    if not frames:
        raise ValueError(f"video={path!r}: no frame decoded at or after start_time={start_time}")
    if num_frames is not None and len(frames) < num_frames:
        raise ValueError(
            f"video={path!r}: only {len(frames)} frames at fps={fps} from start_time={start_time}, fewer than "
            f"num_frames={num_frames}; lower num_frames or start_time, or raise fps"
        )
    return frames


def frames_to_uint8(frames: torch.Tensor | np.ndarray | list, name: str) -> torch.Tensor:
    """In-memory frames -> uint8 ``(F, 3, H, W)``; floats must lie in [0, 1]."""
    if isinstance(frames, list):
        if not frames or not all(isinstance(f, PIL.Image.Image) for f in frames):
            raise TypeError(f"{name}: a list must hold at least one PIL image, got {[type(f) for f in frames[:3]]}")
        sizes = {f.size for f in frames}
        if len(sizes) != 1:
            raise ValueError(f"{name}: all PIL images must have one size, got {sorted(sizes)}")
        return torch.from_numpy(np.stack([np.asarray(f.convert("RGB")) for f in frames])).permute(0, 3, 1, 2)
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


def load_video(
    video: VideoInput, num_frames: int | None = 16, fps: float = 4.0, start_time: float = 0.0
) -> torch.Tensor:
    """Load a video as uint8 ``(F, 3, H, W)`` RGB frames.

    Args:
        video: a file path (mp4, mov, webm, mkv, gif, ...; decoded with PyAV), or frames already in memory: a uint8 or
            float-in-[0, 1] tensor ``(F, 3, H, W)``, a numpy array ``(F, H, W, 3)`` or a list of PIL images.
        num_frames: frames to return; ``None`` returns every sampled frame. In-memory frames count as already sampled:
            their first ``num_frames`` are returned and ``fps`` / ``start_time`` do not apply.
        fps: sampling rate for files (the original samples at 4 fps).
        start_time: seconds into the file where sampling starts.

    Raises:
        ValueError: the file is missing, has no video stream, is corrupt or truncated, or gives zero frames or fewer
            than ``num_frames``; in-memory frames with a wrong shape or range. The message names the input.
        TypeError: an unsupported input type or dtype.
    """
    if num_frames is not None and (not isinstance(num_frames, int) or num_frames < 1):
        raise ValueError(f"num_frames must be a positive int or None, got {num_frames!r}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    if not start_time >= 0:
        raise ValueError(f"start_time must be >= 0, got {start_time!r}")
    if isinstance(video, (str, os.PathLike)):
        path = os.fspath(video)
        frames = decode_sampled(path, num_frames, fps, start_time)
        return torch.from_numpy(np.stack([f.to_ndarray(format="rgb24") for f in frames])).permute(0, 3, 1, 2)
    tensor = frames_to_uint8(video, "video")
    if num_frames is not None:
        if tensor.shape[0] < num_frames:
            raise ValueError(f"video: {tensor.shape[0]} frames given, fewer than num_frames={num_frames}")
        tensor = tensor[:num_frames]
    return tensor


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
    resized_height, resized_width, top, left = resize_crop_geometry(frames.shape[2], frames.shape[3], height, width)
    if (resized_height, resized_width) != tuple(frames.shape[2:]):
        frames = F.interpolate(
            frames.float(),
            size=(resized_height, resized_width),
            mode="bilinear",
            antialias=antialias,
            align_corners=False,
        )
    return frames[:, :, top : top + height, left : left + width].float().clamp(0.0, 1.0).contiguous()
