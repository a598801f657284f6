"""Clips for restoration: a video file or a folder of image frames in, the same kinds out, all frames at full size.

Film scans come as image sequences (PNG, TIFF, JPEG; DPX can be converted to TIFF), so a folder of frames is read in
name order and a folder output is written as lossless PNGs `00000.png`, `00001.png`, ... A video output is lossless
H.264 in RGB (`libx264rgb`, qp 0), so restored pixels survive the file exactly.
"""

from __future__ import annotations

import fractions
import os
from pathlib import Path

import av
import numpy as np
import PIL.Image

from videocomposer.atomic_files import atomic_folder, atomic_path

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm")


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of `folder` in name order (`ValueError` when there are none)."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise ValueError(f"{folder}: no image frames ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
    return files


def check_clip_path(path: str | os.PathLike, name: str) -> None:
    """`FileNotFoundError` / `ValueError` naming `name` unless `path` is a video file or a folder of frames."""
    path = Path(path)
    if path.is_dir():
        frame_files(path)
    elif not path.is_file():
        raise FileNotFoundError(f"{name}: no such file or folder: {path}")
    elif path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise ValueError(f"{name}: expected a video ({', '.join(VIDEO_EXTENSIONS)}) or a folder of frames, got {path}")


def read_frames(path: str | os.PathLike, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """uint8 RGB `(F, H, W, 3)` of a video file or a folder of frames, and the frame rate (25 for a folder)."""
    path = Path(path)
    check_clip_path(path, "clip")
    if path.is_dir():
        images = []
        for file in frame_files(path)[:max_frames]:
            with PIL.Image.open(file) as image:
                array = np.asarray(image)
                if array.dtype != np.uint8:  # a 16-bit scan (PIL reads 16-bit grey as 32-bit integers)
                    array = (array.astype(np.float64) / 257.0).round().clip(0, 255).astype(np.uint8)
                images.append(np.asarray(PIL.Image.fromarray(array).convert("RGB")))
        sizes = {image.shape for image in images}
        if len(sizes) != 1:
            raise ValueError(f"{path}: all frames must have one size, got {sorted(sizes)}")
        return np.stack(images), 25.0
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError(f"{path}: zero frames")
    return np.stack(frames), fps


def write_frames(path: str | os.PathLike, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Writes uint8 `(F, H, W, 3)` (or boolean masks `(F, H, W)`, as 0 / 255) atomically: a path with a video
    extension gets lossless RGB H.264, any other path becomes a folder of PNGs (replacing an existing one)."""
    path = Path(path)
    if frames.dtype == bool:
        frames = np.repeat(frames[..., None].astype(np.uint8) * 255, 3, axis=-1)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        with atomic_path(path) as temporary, av.open(str(temporary), "w") as container:
            stream = container.add_stream("libx264rgb", rate=fractions.Fraction(fps).limit_denominator(100_000))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "rgb24"
            stream.options = {"qp": "0", "preset": "veryfast"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            container.mux(stream.encode(None))
        return path
    with atomic_folder(path, replace=True) as staging:
        for index, frame in enumerate(frames):
            PIL.Image.fromarray(frame).save(staging / f"{index:05d}.png")
    return path
