"""Hand-drawn motion: strokes -> B-spline trajectories -> sparse macroblock motion-vector fields; flow colouring."""

from .bspline import (
    arc_length_parameters,
    chord_length_parameters,
    clamped_basis,
    clamped_knots,
    evaluate_clamped,
    evaluate_uniform,
    fit_clamped,
    fit_clamped_to_tolerance,
    uniform_quadratic_weights,
)
from .flow_color import flow_to_color, middlebury_color_wheel
from .render import (
    RELEASE_SOURCE_SHORT_SIDE,
    macroblock_centres,
    render_motion_field,
    source_geometry,
    strokes_to_motion_vectors,
)
from .strokes import Stroke, StrokeSet, load_strokes, save_strokes, strokes_to_trajectories, validate_strokes

__all__ = [
    "RELEASE_SOURCE_SHORT_SIDE",
    "Stroke",
    "StrokeSet",
    "arc_length_parameters",
    "chord_length_parameters",
    "clamped_basis",
    "clamped_knots",
    "evaluate_clamped",
    "evaluate_uniform",
    "fit_clamped",
    "fit_clamped_to_tolerance",
    "flow_to_color",
    "load_strokes",
    "macroblock_centres",
    "middlebury_color_wheel",
    "render_motion_field",
    "save_strokes",
    "source_geometry",
    "strokes_to_motion_vectors",
    "strokes_to_trajectories",
    "uniform_quadratic_weights",
    "validate_strokes",
]
