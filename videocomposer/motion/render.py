"""Trajectories -> sparse macroblock motion-vector fields, laid out like the codec vectors the model was trained on.

The original (``extract_motion_vectors``) writes, for every MPEG-4 part 2 macroblock of a P-frame, the forward
displacement ``dst - src`` in pixels at the block's destination point (its centre, clipped into the frame), and zeros
everywhere else; I-frames (the first frame) are all zero. Here each 16x16 macroblock whose centre lies within a
stroke's ``radius`` of the stroke's position at frame f gets that stroke's displacement from frame f-1 to frame f.
The original then resizes that source-size field to the condition size (``mv_transforms``);
``strokes_to_motion_vectors`` renders at a chosen source size and does the same (see its ``source_short_side``).
"""

import numpy as np
import torch

from condition_extractors.motion_vectors import motion_field_from_vectors, mv_transforms

from .strokes import DEFAULT_TOLERANCE, Stroke, strokes_to_trajectories

MACROBLOCK_SIZE = 16
#: Short side of the WebVid-10M clips the released weights were trained on (596 x 336), at 256-px conditions.
RELEASE_SOURCE_SHORT_SIDE = 336


def macroblock_centres(height: int, width: int, block_size: int = MACROBLOCK_SIZE) -> np.ndarray:
    """Destination points ``(num_blocks, 2)`` (x, y) of a ``block_size`` macroblock grid, as the codec reports them.

    A frame is coded in ceil(H / 16) x ceil(W / 16) macroblocks; block (i, j) has its centre at
    (16 j + 8, 16 i + 8), clipped into [0, W-1] x [0, H-1] as the original does before writing.
    """
    xs = np.minimum(np.arange(0, width, block_size) + block_size // 2, width - 1)
    ys = np.minimum(np.arange(0, height, block_size) + block_size // 2, height - 1)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)


def render_motion_field(
    trajectories: np.ndarray,
    radii: list[float] | np.ndarray,
    height: int,
    width: int,
    block_size: int = MACROBLOCK_SIZE,
) -> np.ndarray:
    """Sparse motion-vector field ``(2, F, H, W)`` float32 (dx, dy in pixels) from trajectories ``(S, F, 2)``.

    For frame f >= 1 and stroke s: d = p_s(f) - p_s(f-1); every macroblock whose centre c satisfies
    |c - p_s(f)| <= radius_s gets d at c. Where regions of several strokes overlap, the block takes the stroke whose
    position is nearest. Frame 0 is all zero (like an I-frame), as is every pixel that is not a block centre.
    """
    trajectories = np.asarray(trajectories, dtype=np.float64)
    radii = np.asarray(radii, dtype=np.float64)
    if trajectories.ndim != 3 or trajectories.shape[2] != 2 or trajectories.shape[1] < 1:
        raise ValueError(f"trajectories must have shape (S, F >= 1, 2), got {trajectories.shape}")
    if not np.all(np.isfinite(trajectories)):
        raise ValueError("trajectories must be finite")
    if radii.shape != (trajectories.shape[0],) or not np.all(radii > 0):
        raise ValueError(f"radii must hold one positive radius per trajectory ({trajectories.shape[0]}), got {radii}")
    if height < 1 or width < 1 or block_size < 1:
        raise ValueError(f"height, width and block_size must be >= 1, got {height}, {width}, {block_size}")
    num_frames = trajectories.shape[1]
    centres = macroblock_centres(height, width, block_size)  # (B, 2)
    positions = trajectories[:, 1:]  # (S, F-1, 2) destination of each step
    displacements = trajectories[:, 1:] - trajectories[:, :-1]  # (S, F-1, 2)
    distance = np.linalg.norm(centres[None, None] - positions[:, :, None], axis=-1)  # (S, F-1, B)
    distance = np.where(distance <= radii[:, None, None], distance, np.inf)
    nearest = distance.argmin(axis=0)  # (F-1, B) stroke index
    step, block = np.nonzero(np.isfinite(distance.min(axis=0)))
    stroke = nearest[step, block]
    # The codec extractor's own writer, so both fields share one layout (frame 0 stays zero, like an I-frame).
    field = np.zeros((2, num_frames, height, width), dtype=np.float32)
    for f in range(1, num_frames):
        here = step == f - 1
        field[:, f] = motion_field_from_vectors(
            centres[block[here]], displacements[stroke[here], f - 1], int(height), int(width)
        ).numpy()
    return field


def source_geometry(height: int, width: int, source_short_side: int) -> tuple[int, int, float]:
    """The part of a source with short side ``source_short_side`` that the original's ``Resize`` + ``CenterCrop``
    turns into the ``height x width`` condition: ``(source_height, source_width, scale)`` with
    ``scale = source_short_side / min(height, width)`` source pixels per condition pixel."""
    scale = source_short_side / min(height, width)
    return max(2, round(height * scale)), max(2, round(width * scale)), scale


def strokes_to_motion_vectors(
    strokes: list[Stroke],
    num_frames: int,
    height: int,
    width: int,
    tolerance: float = DEFAULT_TOLERANCE,
    dtype: torch.dtype = torch.float32,
    source_short_side: int | None = None,
) -> torch.Tensor:
    """The pipeline's ``motion_vectors`` argument ``(1, 2, F, H, W)`` from hand-drawn strokes on an H x W frame.

    The field is rendered the way the original recipe sees real motion of the same speed: as the codec field of a
    source whose short side is ``source_short_side`` px (16-px macroblocks of that source, displacements in its
    pixels), then through ``mv_transforms`` (bilinear ``Resize`` without antialiasing + ``CenterCrop``) to
    ``H x W``, which spreads and dilutes each block's vector exactly as it does for extracted motion.

    Args:
        source_short_side: short side of the source videos the model's motion conditions came from. ``None`` (the
            default) is the condition's own short side: no resize, one undiluted vector per 16-px block of ``H x W``,
            what models trained on clips at their condition size (the demo model) expect. The released weights were
            trained on WebVid clips (``RELEASE_SOURCE_SHORT_SIDE`` = 336 px at 256 px conditions): pass that value
            for them.
    """
    if source_short_side is not None and (
        isinstance(source_short_side, bool) or not isinstance(source_short_side, int) or source_short_side < 2
    ):
        raise ValueError(f"source_short_side must be an int >= 2 or None, got {source_short_side!r}")
    trajectories = strokes_to_trajectories(strokes, num_frames, width=width, height=height, tolerance=tolerance)
    radii = np.array([stroke.radius for stroke in strokes], dtype=np.float64)
    if source_short_side is None or source_short_side == min(height, width):
        field = torch.from_numpy(render_motion_field(trajectories, radii, height, width))
    else:
        source_height, source_width, scale = source_geometry(height, width, source_short_side)
        # condition pixel centres -> source pixel centres of the visible (cropped) part
        factors = np.array([source_width / width, source_height / height])
        source_trajectories = (trajectories + 0.5) * factors - 0.5
        source_field = render_motion_field(source_trajectories, radii * scale, source_height, source_width)
        field = mv_transforms(torch.from_numpy(source_field).transpose(0, 1), height, width).transpose(0, 1)
    return field.to(dtype).unsqueeze(0).contiguous()
