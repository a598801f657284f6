"""See what went in and what came out: a side-by-side grid of the conditions (`condition_grid`), mp4 / gif export."""

import os
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import torch
from diffusers.utils import export_to_video

from condition_extractors.video import frames_to_uint8

from .atomic_files import atomic_path
from .conditions import check_condition_values, condition_inputs, condition_of_input
from .motion.flow_color import flow_to_color
from .motion.render import MACROBLOCK_SIZE

VIDEO_EXTENSIONS = (".mp4", ".gif")


def _single_video(frames: object, name: str) -> np.ndarray:
    """Frames as diffusers returns them -> uint8 ``(F, H, W, 3)``: numpy ``(1, F, H, W, 3)`` (``output_type="np"``),
    torch ``(1, F, 3, H, W)`` (``"pt"``), a list holding a list of PIL images (``"pil"``), or one batch entry of any of
    these; uint8 or float in [0, 1]."""
    batched = isinstance(frames, (np.ndarray, torch.Tensor)) and frames.ndim == 5
    if batched or (isinstance(frames, list) and frames and isinstance(frames[0], list)):
        if len(frames) != 1:
            raise ValueError(f"{name}: expected one video, got a batch of {len(frames)}; index the one to show")
        frames = frames[0]
    return frames_to_uint8(frames, name).permute(0, 2, 3, 1).numpy()


def _condition_array(tensor: object, name: str) -> np.ndarray:
    """A pipeline condition ``(1, C, F, H, W)`` or ``(C, F, H, W)`` (tensor or array) -> float64 ``(C, F, H, W)``."""
    channels = condition_of_input(name).inputs[name]
    if isinstance(tensor, torch.Tensor):
        tensor = tensor.detach().cpu().float().numpy()
    if not isinstance(tensor, np.ndarray):
        raise TypeError(f"conditions[{name!r}]: expected a tensor or numpy array, got {type(tensor).__name__}")
    array = np.asarray(tensor, dtype=np.float64)
    if array.ndim == 5:
        if array.shape[0] != 1:
            raise ValueError(f"conditions[{name!r}]: expected a batch of 1, got {array.shape[0]}")
        array = array[0]
    if array.ndim != 4 or array.shape[0] != channels:
        raise ValueError(f"conditions[{name!r}]: expected shape (1, {channels}, F, H, W), got {tuple(tensor.shape)}")
    check_condition_values({name: array}, where="conditions: ")
    return array


def fill_macroblocks(field: np.ndarray, block_size: int = MACROBLOCK_SIZE) -> np.ndarray:
    """Spread a sparse motion field ``(2, F, H, W)`` over its blocks: each block takes its longest vector.

    Codec (and stroke) motion fields hold one vector per 16x16 block at a single pixel, too small to see; filled
    blocks show the field as the codec meant it.
    """
    _, num_frames, height, width = field.shape
    rows, cols = -(-height // block_size), -(-width // block_size)
    padded = np.zeros((2, num_frames, rows * block_size, cols * block_size))
    padded[:, :, :height, :width] = field
    blocks = padded.reshape(2, num_frames, rows, block_size, cols, block_size).transpose(0, 1, 2, 4, 3, 5)
    blocks = blocks.reshape(2, num_frames, rows, cols, block_size * block_size)
    longest = np.argmax(np.hypot(blocks[0], blocks[1]), axis=-1)  # (F, rows, cols)
    vectors = np.take_along_axis(blocks, longest[None, ..., None], axis=-1)[..., 0]  # (2, F, rows, cols)
    filled = np.repeat(np.repeat(vectors, block_size, axis=2), block_size, axis=3)
    return filled[:, :, :height, :width]


def _condition_frames(
    display: str, array: np.ndarray, mask: np.ndarray | None, motion_block_size: int | None
) -> np.ndarray:
    """One condition ``(C, F, H, W)`` -> uint8 RGB frames ``(F, H, W, 3)``, drawn as its spec's ``display`` says."""
    if display == "flow":
        field = fill_macroblocks(array, motion_block_size) if motion_block_size else array
        largest = float(np.hypot(field[0], field[1]).max())
        # One normalising radius for the whole clip, so a colour means the same speed in every frame.
        return np.stack([flow_to_color(field[:, f], max_radius=largest or 1.0) for f in range(field.shape[1])])
    if display == "colormap":
        # e.g. MiDaS inverse depth / 20 in [0, 10]: scaled by the clip's maximum, near = bright (inferno colour map).
        scaled = np.round(255.0 * array[0] / (array.max() or 1.0)).astype(np.uint8)
        return np.stack([cv2.cvtColor(cv2.applyColorMap(f, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB) for f in scaled])
    if display == "masked" and mask is not None and array.shape[0] > 1:
        array = array * (1.0 - mask)  # the hole shown black, as the model sees it
    rgb = np.repeat(array[:1], 3, axis=0) if array.shape[0] != 3 else array
    return np.round(255.0 * rgb.transpose(1, 2, 3, 0)).astype(np.uint8)


def _resize_tile(frames: np.ndarray, height: int) -> np.ndarray:
    """Resize ``(F, h, w, 3)`` to ``height`` keeping the aspect ratio, width rounded to an even number (for mp4)."""
    _, h, w, _ = frames.shape
    width = max(2, 2 * round(w * height / h / 2))
    if (h, w) == (height, width):
        return frames
    interpolation = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (width, height), interpolation=interpolation) for f in frames])


def _draw_label(tile: np.ndarray, label: str) -> None:
    """Write ``label`` in white on a black band in the tile's top-left corner, in place."""
    scale = max(0.3, tile.shape[0] / 512)
    thickness = 1 if scale < 0.8 else 2
    (text_width, text_height), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(2, text_height // 3)
    cv2.rectangle(tile, (0, 0), (text_width + 2 * pad, text_height + baseline + 2 * pad), (0, 0, 0), cv2.FILLED)
    origin = (pad, pad + text_height)
    cv2.putText(tile, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def condition_grid(
    frames: object,
    conditions: dict[str, object] | None = None,
    source: object | None = None,
    height: int | None = None,
    labels: bool = True,
    motion_block_size: int | None = MACROBLOCK_SIZE,
) -> np.ndarray:
    """Source, conditions and generated frames side by side -> uint8 ``(F, height, total_width, 3)``.

    Args:
        frames: the generated video, as the pipeline returns it (``np`` ``(1, F, H, W, 3)`` / ``(F, H, W, 3)`` float in
            [0, 1], ``pt`` ``(1, F, 3, H, W)``, a list of PIL images, or one batch entry of any of these).
        conditions: pipeline keyword arguments of any condition of the schema (``videocomposer.conditions``),
            ``(1, C, F, H, W)`` tensors or arrays, drawn as the spec's ``display`` says: ``motion_vectors`` as
            Middlebury colour-wheel flow (one radius for the clip, white = still), ``depth`` as an inferno colour map
            scaled by the clip's maximum, ``sketch`` / ``single_sketch`` / ``mask`` in grey (white = 1),
            ``masked_video`` in RGB with the hole black when ``mask`` is given, ``image`` in RGB. A condition with one
            frame is shown on every frame.
        source: the source video (same formats as ``frames``), shown first.
        height: tile height (default: the generated frames' height); every tile keeps its aspect ratio and gets an
            even width.
        labels: write each tile's name in its top-left corner.
        motion_block_size: fill each block of this size with its vector so sparse codec / stroke fields are visible;
            ``None`` shows the field pixel by pixel.

    Tiles, left to right: source, motion, the other conditions in the schema's order, then the generated frames.
    """
    conditions = conditions or {}
    unknown = sorted(set(conditions) - set(condition_inputs()))
    if unknown:
        raise ValueError(f"conditions: unknown names {unknown}; expected some of {list(condition_inputs())}")
    generated = _single_video(frames, "frames")
    num_frames = generated.shape[0]
    height = generated.shape[1] if height is None else height
    if not isinstance(height, int) or height < 2:
        raise ValueError(f"height must be an integer >= 2, got {height!r}")
    if motion_block_size is not None and motion_block_size < 1:
        raise ValueError(f"motion_block_size must be >= 1 or None, got {motion_block_size!r}")

    tiles: list[tuple[str, np.ndarray]] = []
    if source is not None:
        tiles.append(("source", _single_video(source, "source")))
    order = sorted(condition_inputs(), key=lambda key: condition_of_input(key).display != "flow")  # motion first
    arrays = {name: _condition_array(conditions[name], name) for name in order if conditions.get(name) is not None}
    for name, array in arrays.items():
        spec = condition_of_input(name)
        hole = arrays.get(list(spec.inputs)[-1]) if spec.display == "masked" else None  # the mask of a masked video
        if hole is not None and hole.shape[1:] != array.shape[1:]:
            raise ValueError(f"conditions: {list(spec.inputs)} must share frame count and size")
        tiles.append((name.replace("_", " "), _condition_frames(spec.display, array, hole, motion_block_size)))
    tiles.append(("generated", generated))

    rendered = []
    for label, video in tiles:
        if video.shape[0] not in (1, num_frames):
            raise ValueError(f"{label}: has {video.shape[0]} frames, the generated video {num_frames}")
        video = _resize_tile(np.broadcast_to(video, (num_frames, *video.shape[1:])), height).copy()
        if labels:
            for tile in video:
                _draw_label(tile, label)
        rendered.append(video)
    return np.concatenate(rendered, axis=2)


def save_video(frames: object, path: str | os.PathLike, fps: float = 8) -> Path:
    """Write frames to ``path`` (``.mp4`` or ``.gif``, by extension) through `atomic_files.atomic_path` (atomic, the
    umask's permissions, a missing folder refused); returns the path.

    ``frames``: uint8 or float-in-[0, 1] ``(F, H, W, 3)`` (e.g. `condition_grid`'s output), a list of PIL images, or
    any format `condition_grid` takes. mp4 goes through ``diffusers.utils.export_to_video`` (imageio-ffmpeg, H.264; an
    odd width or height is scaled up to even); gif through PIL, which merges consecutive identical frames into one.
    """
    path = Path(path)
    extension = path.suffix.lower()
    if extension not in VIDEO_EXTENSIONS:
        raise ValueError(f"path must end in one of {VIDEO_EXTENSIONS}, got {str(path)!r}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    images = [PIL.Image.fromarray(frame) for frame in _single_video(frames, "frames")]

    with atomic_path(path) as temporary:
        if extension == ".mp4":
            export_to_video(images, str(temporary), fps=fps, macro_block_size=2)
        else:
            duration = round(1000 / fps)
            images[0].save(temporary, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    return path
