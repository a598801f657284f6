"""Uploaded files: check them and say clearly what is wrong (corrupt video, an image given as a video, sizes).

Every function raises ``ValueError`` with a message meant for the app's status line; none of them loads a model.
"""

from __future__ import annotations

import base64
import io
import os
import re

import numpy as np
import PIL.Image
import torch

from condition_extractors import load_image, load_video, resize_center_crop

ASPECT_TOLERANCE = 0.02  # relative difference of width / height accepted between a mask and the video


def _is_image(path: str) -> bool:
    """Whether PIL reads ``path`` as a still image (a gif counts as a video)."""
    try:
        with PIL.Image.open(path) as opened:
            return opened.format != "GIF"
    except (OSError, PIL.UnidentifiedImageError):
        return False


def _name(path: str) -> str:
    return os.path.basename(path)


def load_clip(path: str | None, num_frames: int, fps: float) -> torch.Tensor:
    """An uploaded video as uint8 ``(F, 3, H, W)``, sampled at ``fps``; clear errors for every bad upload."""
    if not path:
        raise ValueError("no video uploaded: upload a clip (mp4, mov, webm, mkv or gif) first")
    if not os.path.isfile(path):
        raise ValueError(f"the uploaded video {_name(path)} is gone from the server; upload it again")
    if _is_image(path):
        raise ValueError(f"{_name(path)} is a still image, not a video: upload a clip (mp4, mov, webm, mkv or gif)")
    try:
        frames = load_video(path, num_frames=num_frames, fps=fps)
    except ValueError as error:
        reason = str(error).split(": ", 1)[-1].replace(f"{path!r}", _name(path))
        short = re.search(r"only (\d+) frames", reason)
        if short:
            raise ValueError(
                f"{_name(path)} is too short: it gives {short.group(1)} frames at {fps:g} frames per second, fewer "
                f"than the {num_frames} Frames asked for; lower Frames or upload a longer clip"
            ) from None
        raise ValueError(f"cannot read {_name(path)} as a video: {reason}") from None
    if min(frames.shape[-2:]) < 8:
        raise ValueError(f"{_name(path)} is {frames.shape[-1]}x{frames.shape[-2]} pixels: too small (at least 8x8)")
    return frames


def data_url(image: np.ndarray) -> str:
    """A uint8 ``(H, W, 3)`` image as a PNG ``data:`` URL (the canvas's background)."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def background_image(path: str | None, width: int, height: int, fps: float = 4.0) -> np.ndarray:
    """The canvas background from an upload: an image, or the first frame of a video, resized and centre-cropped
    to ``width`` x ``height`` as the extractors crop videos -> uint8 ``(height, width, 3)``."""
    if not path:
        raise ValueError("no file uploaded for the background")
    if _is_image(path):
        image = load_image(path, height, width, name=_name(path))
    else:
        image = resize_center_crop(load_clip(path, 1, fps), height, width)[0]
    return np.round(image.permute(1, 2, 0).numpy() * 255.0).astype(np.uint8)


def mask_from_editor(editor: dict | None) -> np.ndarray | None:
    """The painted mask of a ``gr.ImageEditor`` value: ``(H, W)`` bool, True where any layer was painted.

    ``None`` when nothing was painted (no layers, or all transparent)."""
    if not editor or not editor.get("layers"):
        return None
    layers = [np.asarray(layer) for layer in editor["layers"] if layer is not None]
    painted = [layer[..., 3] > 0 if layer.ndim == 3 and layer.shape[2] == 4 else layer.any(-1) for layer in layers]
    if not painted:
        return None
    mask = np.logical_or.reduce(painted)
    return mask if mask.any() else None


def mask_from_upload(path: str, frame_height: int, frame_width: int) -> np.ndarray:
    """An uploaded mask image (white = region to generate) -> ``(H, W)`` bool; its aspect ratio must be the video's."""
    try:
        with PIL.Image.open(path) as opened:
            grey = np.asarray(opened.convert("L"))
    except (OSError, PIL.UnidentifiedImageError):
        raise ValueError(f"{_name(path)} is not a readable image: upload the mask as a png or jpg") from None
    height, width = grey.shape
    if abs(width / height - frame_width / frame_height) > ASPECT_TOLERANCE * frame_width / frame_height:
        raise ValueError(
            f"the mask {_name(path)} is {width}x{height} but the video is {frame_width}x{frame_height}: "
            "draw the mask on the video's first frame (same aspect ratio)"
        )
    mask = grey > 127
    if not mask.any():
        raise ValueError(f"the mask {_name(path)} is all black: paint the region to regenerate in white")
    return mask
