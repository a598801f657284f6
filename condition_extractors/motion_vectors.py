"""Codec motion vectors with PyAV: no ffmpeg binary, no temporary files, any CPU architecture.

The original (``datasets.py: extract_motion_vectors``) re-encodes the clip with ``ffmpeg -i clip -filter:v fps=4
-c:v mpeg4`` and reads the vectors with ``mvextractor``; the default ``mode="original"`` reproduces that tool chain:

1. the frames ffmpeg's ``fps`` filter picks (``condition_extractors.video``), decoded once;
2. their decoded yuv420p planes handed to the encoder untouched (no RGB round trip; another pixel format or a
   full-range frame is converted to limited-range yuv420p by swscale, bicubic, as ffmpeg's auto-inserted scaler
   does), at the source size;
3. MPEG-4 part 2 in memory with the ffmpeg CLI defaults (200 kb/s, GOP 12, no B-frames, time base ``1 / fps``),
   decoded with ``flags2=+export_mvs``;
4. the original's field: each vector's ``source * (motion_x, motion_y) / motion_scale`` (= ``dst - src``, the
   forward displacement in source pixels) written at its destination block centre (clipped into the frame), every
   other pixel and every I-frame zero;
5. ``mv_transforms``: ``Resize`` (short side, bilinear, no antialiasing) + ``CenterCrop`` of that sparse field, which
   spreads each vector over the neighbouring pixels and dilutes it (values stay in source pixels).

``mode="reencode"`` (this project's earlier default) encodes the frames already resized to the condition size, so its
vectors sit on a 16-px grid of the condition size, undiluted, in condition pixels: another distribution (models
trained on it, such as the demo model, whose clips have the condition size, where both modes agree).
``mode="bitstream"`` reads the vectors already in an H.264 / MPEG-4 file.
"""

from __future__ import annotations

import fractions
import os
from collections.abc import Sequence

import av
import numpy as np
import torch
import torchvision.transforms.functional as TF
from av.video.reformatter import ColorRange, Interpolation

from .base import ConditionExtractor, register_extractor
from .video import (
    SampledClip,
    VideoInput,
    decode_sampled,
    load_video,
    open_video_stream,
    resize_crop_geometry,
    sample_video,
)

ArrayLike = np.ndarray | torch.Tensor
# decoders that honour flags2=+export_mvs
VECTOR_CODECS = ("h264", "mpeg4", "h263", "mpeg1video", "mpeg2video")
MODES = ("original", "reencode", "bitstream")


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
    dst, disp = (np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a) for a in (dst_xy, displacement))
    if dst.ndim != 2 or dst.shape[1] != 2:
        raise ValueError(f"dst_xy must be (N, 2), got shape {dst.shape}")
    if disp.shape != dst.shape:
        raise ValueError(f"displacement must have the shape of dst_xy {dst.shape}, got {disp.shape}")
    if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
        raise ValueError(f"height and width must be positive ints, got {height!r}, {width!r}")
    if not (np.isfinite(dst).all() and np.isfinite(disp).all()):
        raise ValueError("dst_xy and displacement must be finite")
    field = np.zeros((2, height, width), dtype=np.float32)
    points = np.rint(dst).astype(np.int64)
    x = points[:, 0].clip(0, width - 1)
    y = points[:, 1].clip(0, height - 1)
    # keep the last vector per destination pixel: the first occurrence in the reversed order
    _, first_reversed = np.unique((y * width + x)[::-1], return_index=True)
    keep = len(x) - 1 - first_reversed
    field[:, y[keep], x[keep]] = disp[keep].T
    return torch.from_numpy(field)


def vectors_of_frame(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(dst_xy, displacement)`` of a decoded frame's exported motion vectors (empty for I-frames)."""
    side_data = frame.side_data.get("MOTION_VECTORS")
    vectors = () if frame.pict_type == av.video.frame.PictureType.I or side_data is None else side_data.to_ndarray()
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


def mv_transforms(fields: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The original's ``mv_transforms`` on source-size fields ``(F, 2, h, w)``: ``Resize`` of the short side
    (bilinear, no antialiasing: torchvision's tensor default of 2023) then ``CenterCrop`` to ``height x width``."""
    resized_height, resized_width, _, _ = resize_crop_geometry(*fields.shape[2:], height, width)
    size = height if height == width else [resized_height, resized_width]
    fields = TF.resize(fields, size, interpolation=TF.InterpolationMode.BILINEAR, antialias=False)
    return TF.center_crop(fields, [height, width])


def yuv420p_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U, V planes of a yuv420p frame as ``(H, W)``, ``(ceil(H/2), ceil(W/2))`` uint8 arrays (copies)."""
    if frame.format.name != "yuv420p":
        raise ValueError(f"expected a yuv420p frame, got {frame.format.name}")
    chroma = ((frame.height + 1) // 2, (frame.width + 1) // 2)
    return tuple(
        np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:rows, :cols].copy()
        for plane, (rows, cols) in zip(frame.planes, ((frame.height, frame.width), chroma, chroma))
    )


def encoder_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The yuv420p planes the MPEG-4 encoder gets for a decoded ``frame``, as ffmpeg's CLI hands them over.

    Limited-range yuv420p passes untouched; any other pixel format or a full-range frame (``yuvj420p``,
    ``color_range=pc``) is converted to limited-range yuv420p by swscale with bicubic filtering, as the scaler ffmpeg
    inserts before the encoder. Odd sizes stay odd (MPEG-4 codes them; chroma planes round up).
    """
    full_range = frame.format.name.startswith("yuvj") or frame.color_range == ColorRange.JPEG
    if frame.format.name != "yuv420p" or full_range:
        ranges = {"src_color_range": ColorRange.JPEG, "dst_color_range": ColorRange.MPEG} if full_range else {}
        frame = frame.reformat(format="yuv420p", interpolation=Interpolation.BICUBIC, **ranges)
    return yuv420p_planes(frame)


def yuv420p_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> av.VideoFrame:
    """A new yuv420p PyAV frame (no timestamp, no picture type) holding exactly these planes."""
    frame = av.VideoFrame(y.shape[1], y.shape[0], "yuv420p")
    for plane, data in zip(frame.planes, (y, u, v)):
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        rows[: data.shape[0], : data.shape[1]] = data
    return frame


def rgb_to_yuv420p(frames: torch.Tensor) -> list[av.VideoFrame]:
    """uint8 RGB ``(F, 3, H, W)`` -> yuv420p PyAV frames (swscale's conversion, as ffmpeg's)."""
    pixels = frames.permute(0, 2, 3, 1).contiguous().cpu().numpy()
    return [av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p") for image in pixels]


@register_extractor
class MotionVectorExtractor(ConditionExtractor):
    """Codec motion vectors ``(F, 2, H, W)`` in pixels, sparse, I-frames zero (see the module docstring).

    Args:
        mode: ``"original"`` (default: the original tool chain, what the released weights were trained on; from a
            file in ``extract_conditions`` it works on the decoded source frames, from frames in memory on those
            frames at their own size), ``"reencode"`` (encode the frames resized to the condition size) or
            ``"bitstream"`` (read the vectors already in an H.264 / MPEG-4 file, no re-encoding; needs a file path
            in ``extract_conditions``). Exported vectors do not say how far back their reference is, so
            multi-reference H.264 (x264's default ``refs=3``) or B-frames mix 1- and 2-frame displacements in
            ``bitstream`` mode: a different distribution from training.
        bit_rate, gop_size: MPEG-4 encoder settings (the ffmpeg CLI defaults the original used).
    """

    name = "motion"

    def __init__(self, mode: str = "original", bit_rate: int = 200_000, gop_size: int = 12):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if bit_rate <= 0 or gop_size <= 0:
            raise ValueError(f"bit_rate and gop_size must be positive, got {bit_rate}, {gop_size}")
        self.mode = mode
        self.bit_rate = bit_rate
        self.gop_size = gop_size

    def extract(self, frames: torch.Tensor) -> torch.Tensor:
        """Fields of float frames ``(F, 3, H, W)`` encoded at their own size (``original`` and ``reencode`` agree)."""
        if self.mode == "bitstream":
            raise ValueError("mode='bitstream' reads a file: call extract_from_video(path, ...) or extract_conditions")
        pixels = frames.mul(255.0).round_().to(torch.uint8)
        return self.codec_fields(rgb_to_yuv420p(pixels), fps=4.0)

    def codec_fields(self, frames: Sequence[av.VideoFrame], fps: float) -> torch.Tensor:
        """``(F, 2, H, W)`` sparse fields at the frames' own size of decoded PyAV frames, their yuv420p planes
        (``encoder_planes``) encoded at ``fps``."""
        planes = [encoder_planes(frame) for frame in frames]
        height, width = planes[0][0].shape
        decoded = self._encode_decode([yuv420p_frame(*p) for p in planes], fps)
        if len(decoded) != len(frames):
            raise RuntimeError(f"MPEG-4 round trip returned {len(decoded)} frames for {len(frames)}")
        return torch.stack([motion_field_from_vectors(*vectors_of_frame(f), height, width) for f in decoded])

    def _encode_decode(self, frames: list[av.VideoFrame], fps: float) -> list[av.VideoFrame]:
        """Encode yuv420p frames to MPEG-4 part 2 in memory and decode them with motion-vector export."""
        rate = fractions.Fraction(fps).limit_denominator(1_000_000)
        encoder = av.CodecContext.create("mpeg4", "w")
        encoder.width, encoder.height = frames[0].width, frames[0].height
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = 1 / rate
        encoder.framerate = rate
        encoder.bit_rate = self.bit_rate
        encoder.gop_size = self.gop_size
        encoder.max_b_frames = 0
        packets = []
        for index, frame in enumerate(frames):
            frame.pts = index
            packets.extend(encoder.encode(frame))
        packets.extend(encoder.encode(None))
        decoder = av.CodecContext.create("mpeg4", "r")
        decoder.options = {"flags2": "+export_mvs"}
        return [frame for packet in (*packets, None) for frame in decoder.decode(packet)]

    def extract_from_source(self, clip: SampledClip, height: int, width: int) -> torch.Tensor | None:
        if self.mode == "original":
            return mv_transforms(self.codec_fields(clip.frames, clip.fps), height, width)
        if self.mode == "bitstream":
            return self.from_file(clip.path, len(clip.frames), height, width, clip.fps, clip.start_time)
        return None  # reencode: the frames resized to the condition size

    def extract_from_video(
        self, video: VideoInput, frames: torch.Tensor, *, fps: float, start_time: float
    ) -> torch.Tensor:
        if self.mode == "reencode":
            return self(frames)
        if isinstance(video, (str, os.PathLike)):
            return self.extract_from_source(sample_video(video, frames.shape[0], fps, start_time), *frames.shape[2:])
        if self.mode == "bitstream":
            raise TypeError(f"mode='bitstream' needs a video file path, got {type(video).__name__}")
        return self.original_recipe(load_video(video, num_frames=frames.shape[0]), *frames.shape[2:], fps)

    def original_recipe(self, source: torch.Tensor, height: int, width: int, fps: float = 4.0) -> torch.Tensor:
        """The original's fields of uint8 RGB source-size frames ``(F, 3, H, W)`` (converted to yuv420p by swscale),
        through ``mv_transforms`` to ``height x width``. From a file, ``extract_conditions`` skips the RGB step."""
        return mv_transforms(self.codec_fields(rgb_to_yuv420p(source), fps), height, width)

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
        mapped = [map_vectors_to_crop(*vectors_of_frame(f), f.height, f.width, height, width) for f in decoded]
        return torch.stack([motion_field_from_vectors(*vectors, height, width) for vectors in mapped])
