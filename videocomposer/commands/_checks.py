"""Checks `generate` and `extract` make before any model loads: outputs, input files, sizes, condition tensors.

Each raises `ValueError` (or `FileNotFoundError`) with one line naming the option, which the CLI prints with exit 2.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

_GIB = 1024**3


def check_finite(option: str, value: float) -> None:
    """``value`` is a finite number >= 0 (``nan`` would silently turn guidance off)."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{option}: expected a number >= 0 (finite), got {value}")


def check_output_file(path: str | os.PathLike, option: str) -> None:
    """``path`` can be written: not a folder, and its folder (or the nearest existing one above it, which the command
    creates) is writable."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option}: {path} is a folder; give a file name")
    check_output_folder(path.parent, option)


def check_output_folder(folder: str | os.PathLike, option: str) -> None:
    """``folder`` exists as a writable folder, or can be created in the nearest existing folder above it."""
    folder = Path(os.path.abspath(folder))
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{option}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: permission denied: cannot write in {existing}")


def image_size(path: str | os.PathLike, option: str) -> tuple[int, int]:
    """``(height, width)`` of an image file, decoded completely once so that a broken file fails here."""
    from condition_extractors.image import open_image_file

    try:
        return open_image_file(path, "RGB", "path").size[::-1]
    except ValueError as error:
        raise ValueError(f"{option}: {error}") from None


def video_size(path: str | os.PathLike, option: str) -> tuple[int, int]:
    """``(height, width)`` of a video file's first frame, decoded once so that an unreadable file fails here."""
    import av

    from condition_extractors.video import open_video_stream

    try:
        container, stream = open_video_stream(os.fspath(path))
        with container:
            frame = next(container.decode(stream), None)
    except (ValueError, av.error.FFmpegError) as error:
        raise ValueError(f"{option}: {error}") from None
    if frame is None:
        raise ValueError(f"{option}: {path} has no decodable frame")
    return frame.height, frame.width


def check_mask_aspect(mask: str | os.PathLike, video: str | os.PathLike, mask_option: str, video_option: str) -> None:
    """The mask is drawn on the video's frame: the same aspect ratio (within the app's tolerance, 2%)."""
    from videocomposer.app.uploads import ASPECT_TOLERANCE

    mask_height, mask_width = image_size(mask, mask_option)
    height, width = video_size(video, video_option)
    if abs(mask_width / mask_height - width / height) > ASPECT_TOLERANCE * width / height:
        raise ValueError(f"{mask_option}: the mask is {mask_width}x{mask_height} but {video_option} {video} is "
                         f"{width}x{height} (width x height); draw the mask on the video's frame (same aspect "
                         "ratio)")  # fmt: skip


def available_memory() -> int:
    """Bytes of memory available to a new allocation (psutil's ``available``: Linux's ``MemAvailable``)."""
    import psutil

    return psutil.virtual_memory().available


def check_video_memory(
    frames: int, height: int, width: int, channels: int, decoded_frames: int | None = None,
    available: int | None = None, layer: str = "channels of the VAE's full-size layer",
    way_out: str = "decode fewer frames at once with --frame-chunk-size",
) -> None:  # fmt: skip
    """Refuse a video whose decode cannot fit in memory, before anything is allocated.

    The rule (a lower bound: the real peak is higher): the VAE decoder's full-size layer holds ``channels`` (the VAE
    config's first ``block_out_channels``) float32 values per pixel for each frame decoded at once
    (``decoded_frames``, default all), and a convolution needs its input and output: ``2 x 4 x decoded_frames x
    channels x height x width`` bytes. More than the available memory is refused, naming the largest square size
    that fits. ``layer`` and ``way_out`` word the message for another use of the same rule.
    """
    available = available_memory() if available is None else available
    decoded = min(decoded_frames or frames, frames)
    per_pixel = 2 * 4 * decoded * channels
    if per_pixel * height * width <= available:
        return
    side = int(math.isqrt(available // per_pixel)) // 8 * 8
    raise ValueError(
        f"--height/--width: a {frames}-frame {width}x{height} video needs at least "
        f"{per_pixel * height * width / _GIB:.1f} GiB ({decoded} frames at once x {channels} {layer} x "
        f"{width}x{height} pixels x 4 bytes, input and output), more than the {available / _GIB:.1f} GiB available; "
        f"the limit is height x width <= {available // per_pixel} pixels (about {side}x{side}); lower the size or "
        f"{way_out}"
    )


def check_condition_fit(
    shapes: Mapping[str, tuple[int, ...]], frames: int, height: int, width: int, where: str
) -> None:  # fmt: skip
    """Condition tensors ``(1, C, F, h, w)`` fit a ``frames`` x ``height`` x ``width`` video
    (`videocomposer.conditions.check_condition_shape`); the error names ``where`` and the options that fix it."""
    from videocomposer.conditions import check_condition_shape

    for key, shape in sorted(shapes.items()):
        try:
            check_condition_shape(key, shape, num_frames=frames, height=height, width=width)
        except ValueError as error:
            raise ValueError(
                f"{where}: {error} Extract the conditions for this video (--frames {frames} --height {height} "
                f"--width {width}), or generate at their size."
            ) from None
