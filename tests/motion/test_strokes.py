import json

import numpy as np
import pytest

from videocomposer.motion.strokes import (
    DEFAULT_RADIUS,
    Stroke,
    StrokeSet,
    load_strokes,
    save_strokes,
    strokes_to_trajectories,
    validate_strokes,
)


def _line(x0, y0, x1, y1, num_points=11):
    t = np.linspace(0, 1, num_points)
    return [(x0 + (x1 - x0) * v, y0 + (y1 - y0) * v) for v in t]


@pytest.mark.parametrize("num_frames", [1, 2, 7, 16, 33])
def test_trajectories_have_one_position_per_frame_and_hit_the_end_points(num_frames):
    strokes = [Stroke(_line(10, 20, 200, 120)), Stroke([(30, 30), (60, 90), (120, 100), (200, 40)], radius=30)]
    trajectories = strokes_to_trajectories(strokes, num_frames, width=256, height=256)
    assert trajectories.shape == (2, num_frames, 2)
    np.testing.assert_allclose(trajectories[:, 0], [[10, 20], [30, 30]], atol=1e-9)
    if num_frames > 1:
        np.testing.assert_allclose(trajectories[:, -1], [[200, 120], [200, 40]], atol=1e-9)


def test_a_straight_stroke_without_times_moves_at_constant_speed_along_the_line():
    trajectory = strokes_to_trajectories([Stroke(_line(0, 10, 150, 10, num_points=7))], 16)[0]
    np.testing.assert_allclose(trajectory[:, 1], 10.0, atol=1e-9)
    np.testing.assert_allclose(np.diff(trajectory[:, 0]), 10.0, rtol=1e-3)


def test_times_keep_the_speed_the_stroke_was_drawn_with():
    # x = 100 sqrt(t): the pen slows down. Frames at equal time steps must follow it.
    x = np.linspace(0, 100, 21)
    stroke = Stroke([(v, 50.0) for v in x], times=list((x / 100) ** 2))
    trajectory = strokes_to_trajectories([stroke], 9)[0]
    expected = 100 * np.sqrt(np.linspace(0, 1, 9))
    np.testing.assert_allclose(trajectory[:, 0], expected, atol=3.0)
    steps = np.diff(trajectory[:, 0])
    assert steps[0] > 2 * steps[-1]


@pytest.mark.parametrize(
    ("strokes", "message"),
    [
        ([], "strokes must be a non-empty list of Stroke"),
        ([Stroke([(1, 1), (5, 5)]), Stroke([(3, 3)])], r"stroke 1: needs at least 2 points, got 1"),
        ([Stroke([(1, 1), (np.nan, 5)])], r"stroke 0: points must be finite"),
        ([Stroke([(1, 1, 1), (2, 2, 2)])], r"stroke 0: points must be a list of \(x, y\) pairs"),
        ([Stroke([(1, 1), (5, 5)]), Stroke([(10, 10), (70, 5)])], r"stroke 1: point 1 \(70, 5\) is outside the frame"),
        ([Stroke([(1, 1), (5, -2)])], r"stroke 0: point 1 \(5, -2\) is outside the frame"),
        ([Stroke([(1, 1), (5, 5)], radius=0)], r"stroke 0: radius must be a finite number > 0"),
        ([Stroke([(1, 1), (5, 5)], times=[0.0])], r"stroke 0: times must hold one value per point \(2\)"),
        ([Stroke([(1, 1), (5, 5)], times=[1.0, 0.5])], r"stroke 0: times must be finite, non-decreasing"),
        ([Stroke([(1, 1), (5, 5)], times=[1.0, 1.0])], r"stroke 0: times must be finite, non-decreasing"),
    ],
)
def test_bad_strokes_raise_naming_the_stroke_and_the_problem(strokes, message):
    with pytest.raises(ValueError, match=message):
        validate_strokes(strokes, width=64, height=48)


def test_a_non_stroke_is_a_type_error():
    with pytest.raises(TypeError, match="stroke 0: expected a Stroke, got list"):
        validate_strokes([[(1, 1), (2, 2)]])


def test_num_frames_must_be_positive():
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1"):
        strokes_to_trajectories([Stroke([(1, 1), (5, 5)])], 0)


def test_stroke_file_round_trip(tmp_path):
    stroke_set = StrokeSet(
        strokes=[Stroke([(1.5, 2.0), (30.0, 40.0)], radius=12.0), Stroke([(5, 5), (6, 9), (20, 3)], times=[0, 1, 3])],
        width=64,
        height=48,
    )
    path = tmp_path / "strokes.json"
    save_strokes(stroke_set, path)
    loaded = load_strokes(path)
    assert (loaded.width, loaded.height) == (64, 48)
    assert loaded.strokes[0].points == [(1.5, 2.0), (30.0, 40.0)] and loaded.strokes[0].radius == 12.0
    assert loaded.strokes[1].times == [0.0, 1.0, 3.0] and loaded.strokes[1].radius == DEFAULT_RADIUS
    assert [p.name for p in tmp_path.iterdir()] == ["strokes.json"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a valid JSON stroke file"),
        (json.dumps({"strokes": []}), "'width' must be a positive integer"),
        (json.dumps({"width": 64, "height": 48, "strokes": []}), "'strokes' must be a non-empty list"),
        (json.dumps({"width": 64, "height": 48, "strokes": [{"radius": 3}]}), "stroke 0: missing 'points'"),
        (json.dumps({"width": 64, "height": 48, "strokes": [{"points": [[1, 2, 3]]}]}), "stroke 0: 'points' must be"),
        (json.dumps({"width": 64, "height": 48, "strokes": [{"points": [[1, 2], [3, 4]], "colour": 1}]}), "unknown"),
        (json.dumps({"width": 64, "height": 48, "strokes": [{"points": [[1, 2], [99, 4]]}]}), "stroke 0: point 1"),
    ],
)
def test_bad_stroke_files_raise_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        load_strokes(path)
    assert str(path) in str(error.value)


def test_missing_stroke_file():
    with pytest.raises(FileNotFoundError, match="strokes file not found: /nonexistent/strokes.json"):
        load_strokes("/nonexistent/strokes.json")


def test_stroke_set_scaled_to_another_frame_size_maps_the_pixel_range_exactly():
    stroke_set = StrokeSet([Stroke([(0, 0), (511, 255), (100, 50)], radius=20, times=[0, 1, 2])], 512, 256)
    scaled = stroke_set.scaled_to(256, 128)
    assert (scaled.width, scaled.height) == (256, 128)
    np.testing.assert_allclose(scaled.strokes[0].points, [(0, 0), (255, 127), (100 * 255 / 511, 50 * 127 / 255)],
                               atol=1e-9)  # fmt: skip  # float64 px
    assert scaled.strokes[0].radius == pytest.approx(20 * np.sqrt(255 / 511 * 127 / 255))
    assert scaled.strokes[0].times == [0, 1, 2]
    validate_strokes(scaled.strokes, 256, 128)
    with pytest.raises(ValueError, match="width and height must be integers > 1"):
        stroke_set.scaled_to(256.0, 128)
