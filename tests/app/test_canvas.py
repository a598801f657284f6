"""The canvas value: checks of what the browser sends, smoothing, stroke removal, sizes."""

import numpy as np
import pytest

from videocomposer.app.canvas import (
    CURVE_SAMPLES,
    canvas_size,
    new_canvas,
    remove_stroke,
    smoothed_canvas,
    stroke_labels,
    strokes_from_canvas,
)
from videocomposer.motion import strokes_to_trajectories


def canvas_with(*strokes: dict, radius: float = 40) -> dict:
    return dict(new_canvas(256, 256, radius), strokes=list(strokes))


LINE = {"points": [[10, 200], [60, 150], [120, 100], [200, 40]], "times": [0.0, 0.5, 0.6, 2.0]}


def test_canvas_size_keeps_the_aspect_ratio():
    assert canvas_size(64, 64) == (256, 256)
    assert canvas_size(32, 64) == (256, 128)  # (width, height)
    with pytest.raises(ValueError, match="height and width must be >= 1"):
        canvas_size(0, 64)


def test_strokes_from_canvas_reads_points_radius_and_optionally_times():
    stroke_set = strokes_from_canvas(canvas_with(LINE))
    assert (stroke_set.width, stroke_set.height) == (256, 256)
    (stroke,) = stroke_set.strokes
    assert stroke.points == [(10.0, 200.0), (60.0, 150.0), (120.0, 100.0), (200.0, 40.0)]
    assert stroke.radius == 40.0 and stroke.times is None  # the canvas radius; constant speed by default
    timed = strokes_from_canvas(canvas_with(dict(LINE, radius=12)), keep_speed=True).strokes[0]
    assert timed.times == LINE["times"] and timed.radius == 12.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("strokes", "expected the canvas's value"),
        (dict(new_canvas(256, 256, 40), width=1), "width and height must be integers > 1"),
        (canvas_with(), "no stroke drawn"),
        (canvas_with({"points": [[5, 5]]}), "stroke 1: too short"),
        (canvas_with({"points": [[5, 5], [5, 5], [5, 5]]}), "stroke 1: too short"),
        (canvas_with(LINE, {"points": [[1, 2], [3]]}), "stroke 2: every point must be an"),
        (canvas_with({"points": [[1, 2], [float("nan"), 3]]}), "stroke 1 x: expected a finite number"),
        (canvas_with({"points": [[1, 2], [3, 4]], "radius": 0}), "stroke 1: radius must be > 0"),
        (canvas_with({"points": [[1, 2], [300, 4]]}), "outside the frame"),
        (canvas_with({"nope": 1}), "stroke 1: expected an object with a 'points' list"),
    ],
)
def test_strokes_from_canvas_rejects_bad_values(value, message):
    with pytest.raises(ValueError, match=message):
        strokes_from_canvas(value)


def test_smoothed_canvas_fills_curves_that_match_the_bspline():
    value = smoothed_canvas(canvas_with(LINE, {"points": [[200, 200], [100, 210]], "radius": 8}), num_frames=8)
    assert [s["radius"] for s in value["strokes"]] == [40, 8]  # the new stroke got the canvas radius
    assert len(value["smooth"]) == 2
    expected = strokes_to_trajectories(strokes_from_canvas(value).strokes, 8)
    for fit, frames in zip(value["smooth"], expected):
        assert len(fit["curve"]) == CURVE_SAMPLES
        np.testing.assert_allclose(fit["frames"], frames, atol=0.01)
    np.testing.assert_allclose(value["smooth"][0]["curve"][0], LINE["points"][0], atol=0.01)  # clamped ends
    np.testing.assert_allclose(value["smooth"][0]["curve"][-1], LINE["points"][-1], atol=0.01)
    assert smoothed_canvas(canvas_with(), 8)["smooth"] == []


def test_remove_stroke_and_labels():
    value = smoothed_canvas(canvas_with(LINE, {"points": [[1, 1], [9, 9]], "radius": 8}), 4)
    assert stroke_labels(value) == ["stroke 1: 4 points, radius 40", "stroke 2: 2 points, radius 8"]
    left = remove_stroke(value, 0)
    assert left["strokes"] == [value["strokes"][1]] and left["smooth"] == []
    assert len(value["strokes"]) == 2  # the input is not changed
    with pytest.raises(ValueError, match="no stroke 3 to clear"):
        remove_stroke(value, 2)
