"""The drawing canvas's value: strokes drawn in the browser, checked, smoothed and turned into a `StrokeSet`.

The canvas (see `canvas_frontend`) holds one JSON-able dict, sent to Python after every stroke and sent back with
the smoothed curves filled in::

    {"width": 256, "height": 256,              # canvas pixels (the stroke file's coordinate frame)
     "background": "data:image/png;base64,...",  # or "" for a blank canvas
     "radius": 64,                             # canvas pixels, given to the strokes drawn next
     "strokes": [{"points": [[x, y], ...], "times": [t, ...], "radius": 64}, ...],
     "smooth": [{"curve": [[x, y], ...], "frames": [[x, y], ...]}, ...]}   # one per stroke, filled by Python

Everything that comes from the browser is checked here (`strokes_from_canvas`) before it is used.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from videocomposer.motion import Stroke, StrokeSet, strokes_to_trajectories, validate_strokes

CANVAS_LONG_SIDE = 256
CURVE_SAMPLES = 64  # points of the smoothed curve drawn over the canvas


def canvas_size(height: int, width: int, long_side: int = CANVAS_LONG_SIDE) -> tuple[int, int]:
    """(canvas width, canvas height): the video's aspect ratio with the long side ``long_side`` pixels."""
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got {height}, {width}")
    scale = long_side / max(height, width)
    return max(2, round(width * scale)), max(2, round(height * scale))


def new_canvas(width: int, height: int, radius: float, background: str = "") -> dict:
    """An empty canvas value."""
    return {"width": width, "height": height, "background": background, "radius": radius, "strokes": [], "smooth": []}


def _number(value: object, what: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    return float(value)


def strokes_from_canvas(value: object, keep_speed: bool = False) -> StrokeSet:
    """The canvas's strokes as a validated `StrokeSet` (canvas pixels).

    ``keep_speed`` keeps the drawing time stamps (the motion follows the drawing speed); otherwise they are dropped
    and every stroke moves at constant speed along its path. Raises ``ValueError`` naming the stroke and the problem,
    or saying that nothing was drawn.
    """
    if not isinstance(value, dict):
        raise ValueError(f"canvas: expected the canvas's value (a dict), got {type(value).__name__}")
    width = value.get("width")
    height = value.get("height")
    if not all(isinstance(side, int) and not isinstance(side, bool) and side > 1 for side in (width, height)):
        raise ValueError(f"canvas: width and height must be integers > 1, got {width!r}, {height!r}")
    entries = value.get("strokes") or []
    if not isinstance(entries, list):
        raise ValueError("canvas: 'strokes' must be a list")
    if not entries:
        raise ValueError("no stroke drawn: draw at least one stroke on the canvas (press, drag, release)")
    strokes = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("points"), list):
            raise ValueError(f"stroke {index + 1}: expected an object with a 'points' list")
        points = [(_number(p[0], f"stroke {index + 1} x"), _number(p[1], f"stroke {index + 1} y"))
                  for p in entry["points"] if isinstance(p, (list, tuple)) and len(p) == 2]  # fmt: skip
        if len(points) != len(entry["points"]):
            raise ValueError(f"stroke {index + 1}: every point must be an [x, y] pair")
        if len(points) < 2 or np.ptp(np.asarray(points), axis=0).max() == 0:
            raise ValueError(f"stroke {index + 1}: too short, it does not move; drag the mouse while pressing")
        radius = _number(entry.get("radius", value.get("radius")), f"stroke {index + 1} radius")
        if radius <= 0:
            raise ValueError(f"stroke {index + 1}: radius must be > 0, got {radius:g}")
        times = None
        if keep_speed and entry.get("times") is not None:
            times = [_number(t, f"stroke {index + 1} time") for t in entry["times"]]
        strokes.append(Stroke(points=points, radius=radius, times=times))
    validate_strokes(strokes, width, height)  # points inside the canvas, times non-decreasing (0-based indices)
    return StrokeSet(strokes=strokes, width=width, height=height)


def smoothed_canvas(value: dict, num_frames: int, keep_speed: bool = False) -> dict:
    """The canvas value with ``smooth`` filled in: each stroke's B-spline curve and its position at every frame.

    Strokes that have no radius yet get the canvas's current radius. A canvas without strokes gets no curves.
    """
    value = dict(value)
    value["strokes"] = [
        dict(entry, radius=entry.get("radius", value.get("radius"))) for entry in value.get("strokes") or []
    ]
    if not value["strokes"]:
        value["smooth"] = []
        return value
    stroke_set = strokes_from_canvas(value, keep_speed)
    curves = strokes_to_trajectories(stroke_set.strokes, CURVE_SAMPLES, stroke_set.width, stroke_set.height)
    frames = strokes_to_trajectories(stroke_set.strokes, num_frames, stroke_set.width, stroke_set.height)
    value["smooth"] = [
        {"curve": np.round(curve, 2).tolist(), "frames": np.round(positions, 2).tolist()}
        for curve, positions in zip(curves, frames)
    ]
    return value


def remove_stroke(value: dict, index: int) -> dict:
    """The canvas value without stroke ``index`` (0-based) and without stale smoothed curves."""
    strokes = list(value.get("strokes") or [])
    if not 0 <= index < len(strokes):
        raise ValueError(f"stroke: no stroke {index + 1} to clear (the canvas has {len(strokes)})")
    del strokes[index]
    return dict(value, strokes=strokes, smooth=[])


def stroke_labels(value: dict) -> list[str]:
    """One label per stroke for the stroke list: ``"stroke 1: 23 points, radius 64"``."""
    return [
        f"stroke {i + 1}: {len(entry.get('points') or [])} points, radius {entry.get('radius', value.get('radius')):g}"
        for i, entry in enumerate(value.get("strokes") or [])
    ]
