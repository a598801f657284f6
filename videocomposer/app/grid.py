"""The app's condition grid: `condition_grid` with the drawn strokes over the motion tile and a colour-wheel legend."""

from __future__ import annotations

import cv2
import numpy as np

from videocomposer.motion import StrokeSet, flow_to_color, strokes_to_trajectories
from videocomposer.visualize import condition_grid

STROKE_COLOUR = (0, 0, 0)
POSITION_COLOUR = (255, 255, 255)


def tile_width(height: int, width: int, tile_height: int) -> int:
    """Width of a ``height`` x ``width`` video in a grid of ``tile_height`` (`condition_grid`'s rule: even width)."""
    return max(2, 2 * round(width * tile_height / height / 2))


def colour_wheel_legend(size: int) -> np.ndarray:
    """uint8 ``(size, size, 3)``: the flow colour of every direction and speed (centre = still, rim = fastest).

    The pixel at offset (dx, dy) from the centre has the colour of motion (dx, dy), as in the motion tile.
    """
    centre = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = np.stack([(xs - centre) / centre, (ys - centre) / centre])
    legend = flow_to_color(flow, max_radius=1.0)
    legend[np.hypot(flow[0], flow[1]) > 1.0] = 0
    return legend


def labelled_legend(size: int) -> np.ndarray:
    """uint8 ``(size, size, 3)``: `colour_wheel_legend` in the middle, on black, with the direction each side of the
    wheel stands for written beside it (up, down, left, right: the colour a region has when it moves that way)."""
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.32 * size / 128, 1
    labels = {name: cv2.getTextSize(name, font, scale, thickness) for name in ("up", "down", "left", "right")}
    text_height = max(height + baseline for (_, height), baseline in labels.values())
    side = max(labels["left"][0][0], labels["right"][0][0]) + 3
    wheel = max(3, min(size - 2 * side, size - 2 * (text_height + 2)))
    legend = np.zeros((size, size, 3), np.uint8)
    top = left = (size - wheel) // 2
    legend[top : top + wheel, left : left + wheel] = colour_wheel_legend(wheel)
    centre = size // 2
    places = {
        "up": (centre - labels["up"][0][0] // 2, top - 3),
        "down": (centre - labels["down"][0][0] // 2, top + wheel + labels["down"][0][1] + 2),
        "left": (left - labels["left"][0][0] - 2, centre + labels["left"][0][1] // 2),
        "right": (left + wheel + 2, centre + labels["right"][0][1] // 2),
    }
    for name, origin in places.items():
        cv2.putText(legend, name, origin, font, scale, POSITION_COLOUR, thickness, cv2.LINE_AA)
    return legend


def stroke_grid(
    frames: object | None,
    conditions: dict,
    strokes: StrokeSet | None = None,
    source: np.ndarray | None = None,
    height: int = 128,
) -> np.ndarray:
    """`condition_grid` (uint8 ``(F, height, W, 3)``) with ``strokes`` drawn over the motion tile and a legend tile.

    Over the motion tile: each stroke's smoothed path (black) and its position at the current frame (white dot with
    a black rim); ``source`` is ``(F, H, W, 3)``. The legend (the flow colour wheel, its directions written beside
    it: `labelled_legend`) is appended on the right when a motion condition is shown. ``frames=None`` gives the
    preview before generating: no generated tile.
    """
    if frames is None:
        first = next(iter(conditions.values()))
        num_frames, frame_height, frame_width = first.shape[2], *first.shape[-2:]
        grid = condition_grid(np.zeros((num_frames, frame_height, frame_width, 3), np.uint8), conditions, source,
                              height)  # fmt: skip
        grid = np.ascontiguousarray(grid[:, :, : grid.shape[2] - tile_width(frame_height, frame_width, height)])
    else:
        grid = condition_grid(frames, conditions, source=source, height=height)
    motion = conditions.get("motion_vectors")
    if motion is None:
        return grid
    num_frames = grid.shape[0]
    motion_height, motion_width = motion.shape[-2:]
    if strokes is not None:
        left = 0 if source is None else tile_width(source.shape[1], source.shape[2], height)
        width = tile_width(motion_height, motion_width, height)
        paths = strokes_to_trajectories(strokes.strokes, num_frames, strokes.width, strokes.height)
        scale = np.array([(width - 1) / (strokes.width - 1), (height - 1) / (strokes.height - 1)])
        thickness = max(1, height // 96)
        for path in paths * scale + [left, 0]:
            polyline = np.round(path).astype(np.int32).reshape(-1, 1, 2)
            for f in range(num_frames):
                cv2.polylines(grid[f], [polyline], False, STROKE_COLOUR, thickness, cv2.LINE_AA)
                point = tuple(int(v) for v in np.round(path[f]))
                cv2.circle(grid[f], point, 2 * thickness + 1, STROKE_COLOUR, cv2.FILLED, cv2.LINE_AA)
                cv2.circle(grid[f], point, 2 * thickness, POSITION_COLOUR, cv2.FILLED, cv2.LINE_AA)
    legend = np.broadcast_to(labelled_legend(height), (num_frames, height, height, 3))
    return np.concatenate([grid, legend], axis=2)
