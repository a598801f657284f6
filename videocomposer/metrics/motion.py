"""Motion control: does a generated video move as its motion condition says?

A motion-vector condition ``(F, 2, H, W)`` (the ``motion`` extractor's layout: channel 0 = dx, 1 = dy, the forward
displacement ``dst - src`` from frame ``t - 1``, written at the destination block centre of frame ``t``, zero
elsewhere and on I-frames) is not a per-pixel motion field in the generated video's pixels: in the original recipe
(``mode="original"``) the codec writes its 16-px macroblock vectors into a field at the *source* size, in *source*
pixels, and that sparse field is then resized (bilinear, no antialiasing) and centre-cropped, which spreads each
vector over neighbouring pixels with weights that sum to less than one. A 256² source moving 6 px/frame gives a
128² condition whose largest values are 1.5 although the content moves 3 px/frame at 128².

:class:`MotionGeometry` (written by ``videocomposer extract`` into the safetensors header, see
:meth:`MotionGeometry.to_metadata`) records what undoes this: the mode and the source size. From it,
:func:`condition_blocks` rebuilds, for each 16x16 block of the condition-size frame (the generated video's
macroblocks), the weighted mean of the codec vectors that landed there, in the frame's pixels:
``sum(C) / sum(W) * scale`` over the block, where ``W`` is the same resize applied to the indicator of the
macroblock centres (the weight each vector got) and ``scale`` the source-to-frame resize factor. Blocks where no
vector landed (``sum(W) = 0``) and condition frames without any non-zero vector (I-frames) are left out.

Two measures compare the generated video with those block vectors, both in pixels of the frames (the generated
video at the condition size); a still video scores the condition's magnitude, it is never left out:

- :func:`motion_vector_error` (weight-free): the same codec (PyAV, MPEG-4 part 2 re-encode) on the generated frames;
  per block the mean of its exported vectors (zero vectors count: a still macroblock is a motion of zero), then the
  end-point error against the condition's block vector, over P-frames of the generated video;
- :func:`flow_error` (VideoComposer's "motion control", Wang et al. 2023, Table 2): the dense optical flow of the
  generated video (RAFT, :class:`videocomposer.metrics.flow.RaftFlow`, as the paper; weight-free Farneback
  otherwise), averaged over each block with the condition's weights ``W``, then the end-point error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .video import as_float_video, as_uint8_video
from .warping import farneback_flows

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
BLOCK = 16  # MPEG-4 part 2 macroblock side
MODES = ("original", "reencode", "bitstream")
_PREFIX = "motion_vectors."


@dataclass(frozen=True)
class MotionGeometry:
    """How a motion-vector condition was made: the extractor's ``mode`` and the size of the frames the codec saw.

    ``original``: vectors in source pixels at source-size block centres, the field resized + centre-cropped.
    ``reencode``: the frames were resized to the condition size first: vectors in condition pixels, undiluted.
    ``bitstream``: the file's vectors, destinations and displacements mapped through the resize + crop.
    """

    mode: str
    source_height: int
    source_width: int

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {self.mode!r}")
        if self.source_height < 1 or self.source_width < 1:
            raise ValueError(f"source size: expected positive sides, got {self.source_height}x{self.source_width}")

    def to_metadata(self) -> dict[str, str]:
        """Safetensors header entries (strings) for the ``motion_vectors`` tensor."""
        return {
            _PREFIX + "mode": self.mode,
            _PREFIX + "source_size": f"{self.source_height}x{self.source_width}",
            _PREFIX + "units": "source pixels, field resized" if self.mode == "original" else "condition pixels",
        }

    @classmethod
    def of_video(cls, video: str | os.PathLike, mode: str = "original") -> MotionGeometry:
        """The geometry of motion vectors extracted from ``video`` with ``mode`` (its coded frame size)."""
        from condition_extractors.video import open_video_stream

        container, stream = open_video_stream(os.fspath(video))
        with container:
            return cls(mode, stream.codec_context.height, stream.codec_context.width)

    @classmethod
    def from_metadata(cls, metadata: dict[str, str] | None) -> MotionGeometry | None:
        """The geometry from a safetensors header, ``None`` when the file has none (written by an older extract)."""
        if not metadata or _PREFIX + "mode" not in metadata:
            return None
        try:
            height, width = (int(v) for v in metadata[_PREFIX + "source_size"].split("x"))
        except (KeyError, ValueError):
            raise ValueError(f"{_PREFIX}source_size: expected 'HxW' in the header, got {metadata}") from None
        return cls(metadata[_PREFIX + "mode"], height, width)

    def scale(self, height: int, width: int) -> float:
        """Factor from the condition's vector units to pixels of a ``height x width`` frame."""
        if self.mode != "original":
            return 1.0
        from condition_extractors.video import resize_crop_geometry

        resized_height, _, _, _ = resize_crop_geometry(self.source_height, self.source_width, height, width)
        return resized_height / self.source_height

    def weights(self, height: int, width: int) -> np.ndarray:
        """``(height, width)``: the weight each pixel of the condition got from the macroblock-centre vectors."""
        import torch

        from condition_extractors.motion_vectors import map_vectors_to_crop, motion_field_from_vectors, mv_transforms

        grid_height, grid_width = (
            (height, width) if self.mode == "reencode" else (self.source_height, self.source_width)
        )
        # every macroblock's centre, the last partial ones clipped into the frame as the vectors are
        ys, xs = np.meshgrid(
            np.arange(-(-grid_height // BLOCK)) * BLOCK + BLOCK // 2,
            np.arange(-(-grid_width // BLOCK)) * BLOCK + BLOCK // 2,
            indexing="ij",
        )
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        size = (grid_height, grid_width)
        if self.mode == "bitstream":  # the file's block centres mapped through the resize + crop, as the vectors are
            centres, _ = map_vectors_to_crop(centres, np.zeros(centres.shape, np.float32), *size, height, width)
            size = (height, width)
        field = motion_field_from_vectors(centres, np.ones(centres.shape, np.float32), *size)[None, :1]
        if self.mode == "original":
            field = mv_transforms(field, height, width)
        return field[0, 0].to(torch.float64).numpy()


def _condition(condition, frames: np.ndarray) -> np.ndarray:
    condition = np.asarray(condition.detach().cpu() if hasattr(condition, "detach") else condition, dtype=np.float32)
    expected = (frames.shape[0], 2, frames.shape[1], frames.shape[2])
    if condition.shape != expected:
        raise ValueError(f"condition: expected (F, 2, H, W) = {expected} to match the frames, got {condition.shape}")
    if not np.isfinite(condition).all():
        raise ValueError("condition: motion vectors must be finite")
    return condition


def _block_sums(values: np.ndarray) -> np.ndarray:
    """``(..., H, W)`` -> ``(..., ceil(H / 16), ceil(W / 16))`` sums over 16x16 blocks (edge blocks partial)."""
    height, width = values.shape[-2:]
    pad = [(0, 0)] * (values.ndim - 2) + [(0, -height % BLOCK), (0, -width % BLOCK)]
    padded = np.pad(values, pad)
    shape = (*padded.shape[:-2], padded.shape[-2] // BLOCK, BLOCK, padded.shape[-1] // BLOCK, BLOCK)
    return padded.reshape(shape).sum(axis=(-3, -1))


def condition_blocks(condition, geometry: MotionGeometry | None, height: int, width: int):
    """The condition's vector per 16x16 block of a ``height x width`` frame, in that frame's pixels.

    Args:
        condition: ``(F, 2, height, width)`` motion vectors.
        geometry: how the condition was made; ``None`` means vectors already in the frame's pixels at the
            macroblock centres of the frame (``mode="reencode"``).
    Returns:
        ``(vectors (F, 2, BH, BW), supported (F, BH, BW) bool, weights (height, width))``: a block is supported on
        frames ``t >= 1`` holding any non-zero vector, where a vector landed (block weight > 0).
    """
    if geometry is not None and not isinstance(geometry, MotionGeometry):
        raise TypeError(f"geometry: expected a MotionGeometry or None, got {type(geometry).__name__}")
    geometry = geometry or MotionGeometry("reencode", height, width)
    condition = np.asarray(condition, dtype=np.float64)
    weights = geometry.weights(height, width)
    block_weight = _block_sums(weights)
    has_vectors = np.abs(condition).reshape(len(condition), -1).max(axis=1) > 0
    has_vectors[0] = False
    supported = has_vectors[:, None, None] & (block_weight > 1e-6)[None]
    vectors = _block_sums(condition) / np.maximum(block_weight, 1e-6) * geometry.scale(height, width)
    return vectors, supported, weights


def motion_vector_error(frames: np.ndarray, condition, geometry: MotionGeometry | None = None) -> float:
    """Mean end-point error (pixels of ``frames``) between the codec motion of ``frames`` and ``condition``.

    The generated frames go through the same codec (MPEG-4 part 2, 200 kb/s, GOP 12, no B-frames); per 16x16 block
    of each P-frame the mean of its exported vectors (a still macroblock exports a zero vector; an intra-coded
    block exports none and is left out) is compared with the condition's block vector (:func:`condition_blocks`).

    Args:
        frames: ``(F, H, W, 3)`` uint8 or float in [0, 1], even ``H`` and ``W`` (MPEG-4), at the condition's size.
        condition: ``(F, 2, H, W)`` motion vectors (numpy or torch), the ``motion`` extractor's output.
        geometry: how the condition was made (:class:`MotionGeometry`, from the condition file's header);
            ``None``: already in the frames' pixels at their macroblock centres.
    Returns:
        The mean EPE over the blocks supported in both; NaN when none is (e.g. a condition without vectors).
    """
    frames = as_float_video(frames, min_frames=2)
    condition = _condition(condition, frames)
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"frames: MPEG-4 needs even sizes, got {height}x{width}")
    import torch

    from condition_extractors.motion_vectors import MotionVectorExtractor, rgb_to_yuv420p, vectors_of_frame

    target, supported, _ = condition_blocks(condition, geometry, height, width)
    pixels = torch.from_numpy(frames).permute(0, 3, 1, 2).mul(255.0).round().to(torch.uint8)
    decoded = MotionVectorExtractor()._encode_decode(rgb_to_yuv420p(pixels), 4.0)
    sums = np.zeros_like(target)
    counts = np.zeros(supported.shape)
    for t, frame in enumerate(decoded):
        dst, displacement = vectors_of_frame(frame)
        if len(dst) == 0:  # an I-frame: no motion measured
            supported[t] = False
            continue
        by = np.clip(dst[:, 1], 0, height - 1) // BLOCK
        bx = np.clip(dst[:, 0], 0, width - 1) // BLOCK
        np.add.at(counts[t], (by, bx), 1)
        np.add.at(sums[t, 0], (by, bx), displacement[:, 0])
        np.add.at(sums[t, 1], (by, bx), displacement[:, 1])
    mask = supported & (counts > 0)
    if not mask.any():
        return float("nan")
    generated = sums / np.maximum(counts, 1)[:, None]
    return float(np.linalg.norm(generated - target, axis=1)[mask].mean())


def backward_flows(frames: np.ndarray, flow_fn: FlowFn | None = None) -> np.ndarray:
    """``(F - 1, H, W, 2)``: for ``t >= 1`` the flow from frame ``t`` back to ``t - 1`` (``frame_t(p) ~ frame_t-1(p +
    flow)``), i.e. minus the forward displacement at destination pixels, the condition's convention."""
    frames = as_uint8_video(frames, min_frames=2)
    flows = np.asarray((flow_fn or farneback_flows)(frames[1:], frames[:-1]), dtype=np.float32)
    expected = (len(frames) - 1, *frames.shape[1:3], 2)
    if flows.shape != expected:
        raise ValueError(f"flow_fn: expected flows of shape {expected}, got {flows.shape}")
    return flows


def flow_error(
    frames: np.ndarray, condition, flow_fn: FlowFn | None = None, geometry: MotionGeometry | None = None
) -> float:
    """Mean end-point error (pixels of ``frames``) between the generated video's optical flow and the condition.

    With a ``geometry`` (a codec condition, e.g. from ``videocomposer extract``): per 16x16 block, the generated
    forward motion (minus the backward flow at each destination pixel) averaged with the condition's weights ``W``
    is compared with the condition's block vector (:func:`condition_blocks`): both are the same weighted mean over
    the block, so a video that follows the condition scores ~0 whatever the dilution, and a still one its motion.
    Without one, the condition is a per-pixel field in the frames' pixels, compared pixel by pixel where it holds a
    non-zero vector (frames ``t >= 1``).

    Args:
        frames: ``(F, H, W, 3)`` uint8 or float in [0, 1], at the condition's size.
        condition: ``(F, 2, H, W)`` motion vectors.
        flow_fn: ``(frames_a, frames_b) -> (N, H, W, 2)`` with ``a(p) ~ b(p + flow(p))`` (default: Farneback).
        geometry: how a codec condition was made (:class:`MotionGeometry`), or ``None`` for a per-pixel field.
    Returns:
        The mean EPE over supported blocks (pixels), NaN when the condition holds no vector.
    """
    frames = as_uint8_video(frames, min_frames=2)
    condition = _condition(condition, frames)
    height, width = frames.shape[1:3]
    if geometry is None:
        field = condition[1:].transpose(0, 2, 3, 1)
        mask = np.abs(field).sum(axis=-1) > 0
        if not mask.any():
            return float("nan")
        return float(np.linalg.norm(-backward_flows(frames, flow_fn) - field, axis=-1)[mask].mean())
    target, supported, weights = condition_blocks(condition, geometry, height, width)
    if not supported.any():
        return float("nan")
    motion = -backward_flows(frames, flow_fn).transpose(0, 3, 1, 2).astype(np.float64)  # (F - 1, 2, H, W)
    generated = _block_sums(motion * weights) / np.maximum(_block_sums(weights), 1e-6)
    return float(np.linalg.norm(generated - target[1:], axis=1)[supported[1:]].mean())
