"""Hand-drawn strokes: the `Stroke` record, its validation, JSON files, and smooth per-frame trajectories.

JSON stroke file (pixel coordinates on a ``width`` x ``height`` canvas, x to the right, y down)::

    {
      "width": 256, "height": 256,
      "strokes": [
        {"points": [[40, 200], [90, 150], [160, 120]], "radius": 24},
        {"points": [[200, 40], [200, 90]], "radius": 16, "times": [0.0, 0.8]}
      ]
    }

``radius`` (pixels, optional, default 16) is the size of the region that moves with the stroke; ``times`` (optional,
one per point, non-decreasing, any unit such as mouse-event seconds) keeps the speed at which the stroke was drawn.
Every stroke spans the whole clip: its first point is the position at frame 0 and its last point at frame F-1.
"""

import json
import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic_files import atomic_write_text
from .bspline import arc_length_parameters, chord_length_parameters, evaluate_clamped, fit_clamped_to_tolerance

DEFAULT_RADIUS = 16.0
DEFAULT_TOLERANCE = 2.0  # pixels RMS: about the jitter of a hand-held mouse


@dataclass
class Stroke:
    """One hand-drawn stroke.

    Args:
        points: ``[(x, y), ...]`` in pixels, at least 2, in drawing order.
        radius: radius in pixels of the region around the stroke's position that moves with it.
        times: optional time stamps, one per point, non-decreasing; without them the motion has constant speed.
    """

    points: list[tuple[float, float]]
    radius: float = DEFAULT_RADIUS
    times: list[float] | None = None


@dataclass
class StrokeSet:
    """Strokes with the size of the canvas they were drawn on (what a stroke JSON file holds)."""

    strokes: list[Stroke]
    width: int
    height: int

    def scaled_to(self, width: int, height: int) -> "StrokeSet":
        """The strokes on a ``width`` x ``height`` frame (e.g. the video's, when the canvas had another size).

        x' = x (width - 1) / (self.width - 1), likewise y, so the canvas's pixel range maps onto the frame's exactly;
        radii scale by the geometric mean of the two factors; times are kept.
        """
        if not (isinstance(width, int) and isinstance(height, int) and width > 1 and height > 1):
            raise ValueError(f"width and height must be integers > 1, got {width!r}, {height!r}")
        sx = (width - 1) / max(self.width - 1, 1)
        sy = (height - 1) / max(self.height - 1, 1)
        strokes = [
            Stroke([(x * sx, y * sy) for x, y in s.points], radius=s.radius * math.sqrt(sx * sy), times=s.times)
            for s in self.strokes
        ]
        return StrokeSet(strokes=strokes, width=width, height=height)


def validate_strokes(strokes: list[Stroke], width: int | None = None, height: int | None = None) -> None:
    """Raise ``ValueError`` (``TypeError`` for a wrong type) naming the stroke index and the problem.

    Checks: at least one stroke; each has >= 2 finite ``(x, y)`` points, a finite ``radius > 0``, and ``times`` (if
    given) with one finite, non-decreasing value per point spanning a positive duration; with ``width`` and ``height``,
    every point lies in the frame, 0 <= x <= width - 1 and 0 <= y <= height - 1.
    """
    if not isinstance(strokes, (list, tuple)) or len(strokes) == 0:
        raise ValueError("strokes must be a non-empty list of Stroke")
    for index, stroke in enumerate(strokes):
        if not isinstance(stroke, Stroke):
            raise TypeError(f"stroke {index}: expected a Stroke, got {type(stroke).__name__}")
        try:
            points = np.asarray(stroke.points, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"stroke {index}: points must be a list of (x, y) pairs ({error})") from None
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"stroke {index}: points must be a list of (x, y) pairs, got shape {points.shape}")
        if points.shape[0] < 2:
            raise ValueError(f"stroke {index}: needs at least 2 points, got {points.shape[0]}")
        if not np.all(np.isfinite(points)):
            raise ValueError(f"stroke {index}: points must be finite (found NaN or inf)")
        radius = stroke.radius
        is_number = isinstance(radius, numbers.Real) and not isinstance(radius, bool)
        if not (is_number and math.isfinite(radius) and radius > 0):
            raise ValueError(f"stroke {index}: radius must be a finite number > 0, got {stroke.radius!r}")
        if stroke.times is not None:
            times = np.asarray(stroke.times, dtype=np.float64)
            if times.shape != (points.shape[0],):
                raise ValueError(
                    f"stroke {index}: times must hold one value per point ({points.shape[0]}), got shape {times.shape}"
                )
            if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0) or times[-1] <= times[0]:
                raise ValueError(f"stroke {index}: times must be finite, non-decreasing and end after they start")
        if width is not None and height is not None:
            x, y = points[:, 0], points[:, 1]
            outside = np.flatnonzero((x < 0) | (x > width - 1) | (y < 0) | (y > height - 1))
            if outside.size:
                px, py = points[outside[0]]
                raise ValueError(
                    f"stroke {index}: point {outside[0]} ({px:g}, {py:g}) is outside the frame "
                    f"(x in [0, {width - 1}], y in [0, {height - 1}])"
                )


def stroke_trajectory(stroke: Stroke, num_frames: int, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """Smooth positions ``(F, 2)`` of one (validated) stroke at ``num_frames`` frames.

    A clamped quadratic B-spline is fitted to the points, as smooth as it can be while staying within ``tolerance``
    pixels (RMS) of them (`fit_clamped_to_tolerance`; first and last point hit exactly), with the points parametrised
    by their time stamps if given, else by chord length. Frames are then taken at equal time steps
    (speed as drawn) or at equal arc-length steps (constant speed).
    """
    points = np.asarray(stroke.points, dtype=np.float64)
    if stroke.times is not None:
        times = np.asarray(stroke.times, dtype=np.float64)
        params = (times - times[0]) / (times[-1] - times[0])
    else:
        params = chord_length_parameters(points)
    control_points = fit_clamped_to_tolerance(points, params, tolerance)
    if stroke.times is not None:
        frame_params = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.zeros(1)
    else:
        frame_params = arc_length_parameters(control_points, num_frames)
    return evaluate_clamped(control_points, frame_params)


def strokes_to_trajectories(
    strokes: list[Stroke],
    num_frames: int,
    width: int | None = None,
    height: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> np.ndarray:
    """Smooth trajectories ``(S, F, 2)`` (x, y in pixels) of ``strokes`` resampled to ``num_frames`` frames.

    ``width`` / ``height`` (optional) check that every point is in the frame; see `stroke_trajectory` for the fit.
    """
    if not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise ValueError(f"num_frames must be an integer >= 1, got {num_frames!r}")
    validate_strokes(strokes, width, height)
    return np.stack([stroke_trajectory(stroke, int(num_frames), tolerance) for stroke in strokes])


def _parse_stroke(entry: object, where: str) -> Stroke:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be an object with 'points', got {type(entry).__name__}")
    unknown = set(entry) - {"points", "radius", "times"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (expected 'points', 'radius', 'times')")
    if "points" not in entry:
        raise ValueError(f"{where}: missing 'points' (a list of [x, y] pairs)")
    points = entry["points"]
    if not isinstance(points, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p) for p in points
    ):
        raise ValueError(f"{where}: 'points' must be a list of [x, y] number pairs")
    radius = entry.get("radius", DEFAULT_RADIUS)
    times = entry.get("times")
    if times is not None and not (isinstance(times, list) and all(isinstance(t, (int, float)) for t in times)):
        raise ValueError(f"{where}: 'times' must be a list of numbers")
    return Stroke(points=[(float(x), float(y)) for x, y in points], radius=radius, times=times)


def load_strokes(path: str | os.PathLike) -> StrokeSet:
    """Read and validate a stroke JSON file (format in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"strokes file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a valid JSON stroke file ({error})") from None
    if not isinstance(data, dict) or "strokes" not in data:
        raise ValueError(f"{path}: expected an object with 'strokes', 'width' and 'height'")
    for key in ("width", "height"):
        if not isinstance(data.get(key), int) or isinstance(data.get(key), bool) or data[key] < 1:
            raise ValueError(f"{path}: '{key}' must be a positive integer, got {data.get(key)!r}")
    if not isinstance(data["strokes"], list) or not data["strokes"]:
        raise ValueError(f"{path}: 'strokes' must be a non-empty list")
    strokes = [_parse_stroke(entry, f"{path}: stroke {i}") for i, entry in enumerate(data["strokes"])]
    try:
        validate_strokes(strokes, data["width"], data["height"])
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error}") from None
    return StrokeSet(strokes=strokes, width=data["width"], height=data["height"])


def save_strokes(stroke_set: StrokeSet, path: str | os.PathLike) -> None:
    """Write a stroke JSON file (validated first), atomically, with the umask's permissions."""
    validate_strokes(stroke_set.strokes, stroke_set.width, stroke_set.height)
    data = {
        "width": stroke_set.width,
        "height": stroke_set.height,
        "strokes": [
            {"points": [[float(x), float(y)] for x, y in s.points], "radius": float(s.radius)}
            | ({"times": [float(t) for t in s.times]} if s.times is not None else {})
            for s in stroke_set.strokes
        ],
    }
    atomic_write_text(path, json.dumps(data, indent=2))
