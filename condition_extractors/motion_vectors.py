"""Codec motion vectors with PyAV: no ffmpeg binary, no temporary files, any CPU architecture.

The original (``datasets.py: extract_motion_vectors``) re-encodes the clip at 4 fps with ``ffmpeg -c:v mpeg4`` and
reads the vectors with ``mvextractor``. Here the sampled frames are re-encoded in memory to MPEG-4 part 2 with the same
encoder defaults (200 kb/s, GOP 12, no B-frames) and decoded with ``flags2=+export_mvs``. Each vector's
``source * (motion_x, motion_y) / motion_scale`` (= ``dst - src``, the forward displacement in pixels) is written at its
destination block centre; every other pixel, and every I-frame, is zero.

Default difference from the original, on purpose: frames are resized and centre-cropped to ``height x width``
*before* encoding, so the sparse field is born at the condition size, in pixels of that size. The original encoded at
the source size and bilinearly resized the sparse field to 256 (torchvision ``Resize`` + ``CenterCrop`` on the field,
no antialiasing, values not rescaled), which scatters and dilutes the vectors; ``mode="original"`` reproduces that
recipe exactly. For a source whose short side already is the target size, both modes give the same field.
"""

from __future__ import annotations

import fractions
import os
from typing import ClassVar

import av
import numpy as np
import torch
import torchvision.transforms.functional as TF

from .base import ConditionExtractor, register_extractor
from .video import VideoInput, decode_sampled, load_video, open_video_stream, resize_crop_geometry

ArrayLike = np.ndarray | torch.Tensor
# decoders that honour flags2=+export_mvs
VECTOR_CODECS = ("h264", "mpeg4", "h263", "mpeg1video", "mpeg2video")


def motion_field_from_vectors(dst_xy: ArrayLike, displacement: ArrayLike, height: int, width: int) -> torch.Tensor:
    """Sparse motion field ``(2, height, width)`` float32 from block vectors, exactly as the original builds it.

    Args:
        dst_xy: ``(N, 2)`` destination points ``(x, y)`` in pixels (integers; floats are rounded to the nearest
            pixel). Points outside the frame are clipped to its border, as the original does.
        displacement: ``(N, 2)`` forward displacements ``(dx, dy) = dst - src`` in pixels.
        height, width: field size.

    Returns:
        channel 0 = dx, channel 1 = dy at each destination pixel, zeros elsewhere. When two vectors share a
        destination, the later one in the input wins.
    """
    dst = np.asarray(dst_xy.detach().cpu() if isinstance(dst_xy, torch.Tensor) else dst_xy)
    disp = np.asarray(displacement.detach().cpu() if isinstance(displacement, torch.Tensor) else displacement)
    if dst.ndim != 2 or dst.shape[1] != 2:
        raise ValueError(f"dst_xy must be (N, 2), got shape {dst.shape}")
    if disp.shape != dst.shape:
        raise ValueError(f"displacement must have the shape of dst_xy {dst.shape}, got {disp.shape}")
    if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
        raise ValueError(f"height and width must be positive ints, got {height!r}, {width!r}")
    if not (np.isfinite(dst).all() and np.isfinite(disp).all()):
        raise ValueError("dst_xy and displacement must be finite")
    field = np.zeros((2, height, width), dtype=np.float32)
    if len(dst) == 0:
        return torch.from_numpy(field)
    points = np.rint(dst).astype(np.int64)
    x = points[:, 0].clip(0, width - 1)
    y = points[:, 1].clip(0, height - 1)
    # keep the last vector per destination pixel: the first occurrence in the reversed order
    _, first_reversed = np.unique((y * width + x)[::-1], return_index=True)
    keep = len(x) - 1 - first_reversed
    field[0, y[keep], x[keep]] = disp[keep, 0]
    field[1, y[keep], x[keep]] = disp[keep, 1]
    return torch.from_numpy(field)


def vectors_of_frame(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(dst_xy, displacement)`` of a decoded frame's exported motion vectors (empty for I-frames)."""
    side_data = frame.side_data.get("MOTION_VECTORS")
    if frame.pict_type == av.video.frame.PictureType.I or side_data is None:
        return np.zeros((0, 2), np.int64), np.zeros((0, 2), np.float32)
    vectors = side_data.to_ndarray()
    if len(vectors) == 0:
        return np.zeros((0, 2), np.int64), np.zeros((0, 2), np.float32)
    dst = np.stack([vectors["dst_x"], vectors["dst_y"]], axis=1).astype(np.int64)
    motion = np.stack([vectors["motion_x"], vectors["motion_y"]], axis=1).astype(np.float32)
    # source = -1 (past reference): -motion / scale = dst - src, the forward displacement
    displacement = vectors["source"][:, None] * motion / vectors["motion_scale"][:, None]
    return dst, displacement.astype(np.float32)


def map_vectors_to_crop(
    dst_xy: np.ndarray, displacement: np.ndarray, in_height: int, in_width: int, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Move vectors of an ``in_height x in_width`` frame through its short-side resize + centre crop to
    ``height x width``: pixel centres map as ``(p + 0.5) * factor - 0.5 - crop offset`` (rounded), displacements scale
    by the resize factor, vectors whose destination leaves the crop are dropped."""
    resized_height, resized_width, top, left = resize_crop_geometry(in_height, in_width, height, width)
    factor = np.array([resized_width / in_width, resized_height / in_height], dtype=np.float32)
    mapped = np.rint((dst_xy + 0.5) * factor - 0.5 - np.array([left, top], dtype=np.float32))
    inside = (mapped[:, 0] >= 0) & (mapped[:, 0] < width) & (mapped[:, 1] >= 0) & (mapped[:, 1] < height)
    return mapped[inside].astype(np.int64), (displacement[inside] * factor).astype(np.float32)


@register_extractor
class MotionVectorExtractor(ConditionExtractor):
    """Codec motion vectors ``(F, 2, H, W)`` in pixels, sparse (one vector per block), I-frames zero.

    Args:
        mode: ``"reencode"`` (encode the sampled frames, resized to the condition size, to MPEG-4 part 2, then read
            the vectors), ``"original"`` (the original's exact recipe: encode the sampled frames at the source
            resolution, build the field there, then bilinearly resize it without antialiasing and centre-crop, values
            in source pixels; needs a file or frames at source size in ``extract_conditions``) or ``"bitstream"`` (read the vectors already in an H.264 / MPEG-4 file, no re-encoding; needs a
            file path in ``extract_conditions``). Vectors are relative to each frame's reference at the file's own
            frame rate; exported vectors do not say how far back the reference is, so multi-reference H.264 (x264's
            default ``refs=3``) or B-frames mix 1- and 2-frame displacements: a different distribution from training.
        bit_rate, gop_size: MPEG-4 encoder settings (the ffmpeg CLI defaults the original used).
    """

    name = "motion"
    condition = "motion"
    outputs: ClassVar[dict[str, int]] = {"motion_vectors": 2}
    scale = 1.0

    def __init__(self, mode: str = "reencode", bit_rate: int = 200_000, gop_size: int = 12):
        if mode not in ("reencode", "original", "bitstream"):
            raise ValueError(f"mode must be 'reencode', 'original' or 'bitstream', got {mode!r}")
        if bit_rate <= 0 or gop_size <= 0:
            raise ValueError(f"bit_rate and gop_size must be positive, got {bit_rate}, {gop_size}")
        self.mode = mode
        self.bit_rate = bit_rate
        self.gop_size = gop_size

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        if self.mode == "bitstream":
            raise ValueError("mode='bitstream' reads a file: call extract_from_video(path, ...) or extract_conditions")
        return self._codec_fields(frames)

    def _codec_fields(self, frames: torch.Tensor) -> torch.Tensor:
        """``(F, 2, H, W)`` sparse fields of float frames ``(F, 3, H, W)`` encoded at their own size."""
        num_frames, _, height, width = frames.shape
        if height % 2 or width % 2:
            raise ValueError(f"MotionVectorExtractor: height and width must be even for MPEG-4, got {height}x{width}")
        pixels = frames.mul(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        decoded = self._encode_decode(pixels)
        if len(decoded) != num_frames:
            raise RuntimeError(f"MPEG-4 round trip returned {len(decoded)} frames for {num_frames}")
        return torch.stack([motion_field_from_vectors(*vectors_of_frame(f), height, width) for f in decoded])

    def _encode_decode(self, pixels: np.ndarray) -> list[av.VideoFrame]:
        """Encode uint8 ``(F, H, W, 3)`` to MPEG-4 part 2 in memory and decode it with motion-vector export."""
        encoder = av.CodecContext.create("mpeg4", "w")
        encoder.width, encoder.height = pixels.shape[2], pixels.shape[1]
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = fractions.Fraction(1, 4)
        encoder.framerate = fractions.Fraction(4, 1)
        encoder.bit_rate = self.bit_rate
        encoder.gop_size = self.gop_size
        encoder.max_b_frames = 0
        packets = []
        for index, image in enumerate(pixels):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            packets.extend(encoder.encode(frame))
        packets.extend(encoder.encode(None))
        decoder = av.CodecContext.create("mpeg4", "r")
        decoder.options = {"flags2": "+export_mvs"}
        decoded = []
        for packet in packets:
            decoded.extend(decoder.decode(packet))
        decoded.extend(decoder.decode(None))
        return decoded

    def extract_from_video(
        self, video: VideoInput, frames: torch.Tensor, *, fps: float, start_time: float
    ) -> torch.Tensor:
        if self.mode == "reencode":
            return self(frames)
        if self.mode == "original":
            source = load_video(video, num_frames=frames.shape[0], fps=fps, start_time=start_time)
            return self.original_recipe(source, frames.shape[2], frames.shape[3])
        if not isinstance(video, (str, os.PathLike)):
            raise TypeError(f"mode='bitstream' needs a video file path, got {type(video).__name__}")
        return self.from_file(os.fspath(video), frames.shape[0], frames.shape[2], frames.shape[3], fps, start_time)

    def original_recipe(self, source: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The original's fields of uint8 source-size frames ``(F, 3, H, W)``, resized to ``height x width``.

        Encode at the source size (an odd last row / column is dropped: MPEG-4 needs even sizes), write the vectors
        at their destinations in source pixels, then ``Resize`` (short side, bilinear, no antialiasing, as
        torchvision's tensor default of 2023) + ``CenterCrop`` the field, exactly as the original's ``mv_transforms``.
        """
        source = source[:, :, : source.shape[2] // 2 * 2, : source.shape[3] // 2 * 2]
        fields = self._codec_fields(source.float() / 255.0)
        resized_height, resized_width, _, _ = resize_crop_geometry(fields.shape[2], fields.shape[3], height, width)
        size = height if height == width else [resized_height, resized_width]
        fields = TF.resize(fields, size, interpolation=TF.InterpolationMode.BILINEAR, antialias=False)
        return TF.center_crop(fields, [height, width])

    @staticmethod
    def from_file(
        path: str, num_frames: int, height: int, width: int, fps: float = 4.0, start_time: float = 0.0
    ) -> torch.Tensor:
        """Vectors stored in ``path`` (no re-encoding) of the frames sampled at ``fps``, as ``(F, 2, H, W)``.

        Destinations and displacements are mapped through the same short-side resize + centre crop as the frames
        (displacements scaled to the new pixel size); vectors whose destination falls outside the crop are dropped.
        """
        container, stream = open_video_stream(path)
        codec = stream.codec_context.name
        container.close()
        if codec not in VECTOR_CODECS:
            raise ValueError(f"video={path!r}: codec {codec!r} stores no motion vectors; use mode='reencode'")
        decoded = decode_sampled(path, num_frames, fps, start_time, flags2="+export_mvs")
        fields = []
        for frame in decoded:
            dst, displacement = map_vectors_to_crop(*vectors_of_frame(frame), frame.height, frame.width, height, width)
            fields.append(motion_field_from_vectors(dst, displacement, height, width))
        return torch.stack(fields)
