import numpy as np
import pytest
from scipy.interpolate import BSpline

from videocomposer.motion.bspline import (
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


def _wiggly_anchors(num_points=9, seed=0):
    rng = np.random.default_rng(seed)
    angles = np.linspace(0.0, np.pi, num_points)
    return np.stack([120 + 80 * np.cos(angles), 120 + 60 * np.sin(angles)], axis=1) + rng.normal(0, 8, (num_points, 2))


def _velocity_jumps(curve, params, step=1e-6):
    """|c'(s+) - c'(s-)| / |c'(s)| at each param, from one-sided finite differences."""
    centre = curve(params)
    right = (curve(params + step) - centre) / step
    left = (centre - curve(params - step)) / step
    return np.linalg.norm(right - left, axis=1) / np.linalg.norm(right + left, axis=1) * 2


def _linear_resample(points, num_frames):
    """Piecewise-linear resampling at equal arc length (what DragNUWA / MotionCtrl-style tools do)."""
    params = chord_length_parameters(points)
    targets = np.linspace(0, 1, num_frames)
    return np.stack([np.interp(targets, params, points[:, d]) for d in range(2)], axis=1)


def test_uniform_weights_match_the_cardinal_quadratic_bspline():
    u = np.linspace(0, 1, 11)
    cardinal = BSpline.basis_element(np.arange(4.0), extrapolate=False)  # N(x) on knots 0, 1, 2, 3
    expected = np.stack([cardinal(u + 2), cardinal(u + 1), cardinal(u)], axis=1)
    expected[-1, 0] = 0.0  # basis_element is open at its right end; the limit there is 0
    weights = uniform_quadratic_weights(u)
    np.testing.assert_allclose(weights, expected, atol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


def test_evaluate_uniform_matches_scipy_and_approximates_its_control_points():
    control = _wiggly_anchors(6)
    times = np.linspace(0, 4, 37)
    reference = BSpline(np.arange(len(control) + 3.0) - 2.0, control, 2)(times)
    np.testing.assert_allclose(evaluate_uniform(control, times), reference, atol=1e-9)
    # At an integer time the uniform curve sits half way between two control points, not on one.
    halfway = (control[[1]] + control[[2]]) / 2
    np.testing.assert_allclose(evaluate_uniform(control, np.array([1.0])), halfway, atol=1e-9)


def test_evaluate_uniform_rejects_times_outside_the_control_range():
    with pytest.raises(ValueError, match=r"times must be .* in \[0, 4\]"):
        evaluate_uniform(np.zeros((6, 2)), np.array([4.5]))


@pytest.mark.parametrize("num_control", [3, 4, 8, 13])
def test_clamped_basis_matches_scipy_design_matrix(num_control):
    params = np.linspace(0, 1, 57)
    reference = BSpline.design_matrix(params, clamped_knots(num_control), 2).toarray()
    np.testing.assert_allclose(clamped_basis(params, num_control), reference, atol=1e-12)


def test_clamped_basis_is_stylesv_uniform_basis_away_from_the_ends():
    num_control, u = 8, np.linspace(0, 0.99, 10)
    spans = num_control - 2
    for span in (2, 3):  # spans at least two knots away from both clamped ends
        rows = clamped_basis((span + u) / spans, num_control)
        np.testing.assert_allclose(rows[:, span : span + 3], uniform_quadratic_weights(u), atol=1e-12)
        np.testing.assert_allclose(np.delete(rows, [span, span + 1, span + 2], axis=1), 0.0)


def test_fitted_curve_passes_through_its_end_points():
    anchors = _wiggly_anchors(12)
    control = fit_clamped(anchors, chord_length_parameters(anchors))
    np.testing.assert_allclose(evaluate_clamped(control, np.array([0.0, 1.0])), anchors[[0, -1]], atol=1e-9)


def test_two_anchors_give_the_straight_segment():
    anchors = np.array([[10.0, 20.0], [110.0, 70.0]])
    curve = evaluate_clamped(fit_clamped(anchors, np.array([0.0, 1.0])), np.linspace(0, 1, 9))
    direction = (anchors[1] - anchors[0]) / np.linalg.norm(anchors[1] - anchors[0])
    offsets = curve - anchors[0]
    np.testing.assert_allclose(offsets[:, 0] * direction[1] - offsets[:, 1] * direction[0], 0.0, atol=1e-9)


def test_no_velocity_jump_at_anchors_or_knots_unlike_linear_interpolation():
    anchors = _wiggly_anchors(9)
    params = chord_length_parameters(anchors)
    control = fit_clamped(anchors, params, num_control_points=7, smoothing=0.1)
    inner_knots = np.unique(clamped_knots(7))[1:-1]
    probes = np.concatenate([params[1:-1], inner_knots])

    spline_jumps = _velocity_jumps(lambda s: evaluate_clamped(control, s), probes)
    linear = lambda s: np.stack([np.interp(s, params, anchors[:, d]) for d in range(2)], axis=1)  # noqa: E731
    linear_jumps = _velocity_jumps(linear, params[1:-1])

    assert spline_jumps.max() < 1e-3
    assert linear_jumps.min() > 0.05  # every corner of the polyline is a velocity jump


@pytest.mark.parametrize("num_frames", [1, 2, 7, 16, 33])
def test_arc_length_resampling_to_any_frame_count(num_frames):
    anchors = _wiggly_anchors(10)
    control = fit_clamped(anchors, chord_length_parameters(anchors))
    params = arc_length_parameters(control, num_frames)
    points = evaluate_clamped(control, params)
    assert points.shape == (num_frames, 2)
    np.testing.assert_allclose(points[0], anchors[0], atol=1e-9)
    if num_frames > 1:
        np.testing.assert_allclose(points[-1], anchors[-1], atol=1e-9)
        # Equal arc length between frames: measure on a dense evaluation of the same curve.
        dense = np.linspace(0, 1, 20001)
        length = chord_length_parameters(evaluate_clamped(control, dense))  # arc length / total length
        steps = np.diff(np.interp(params, dense, length))
        np.testing.assert_allclose(steps, 1 / (num_frames - 1), rtol=1e-3)


def test_jittery_stroke_comes_out_smoother_than_linear_resampling():
    rng = np.random.default_rng(1)
    s = np.linspace(0, 1, 80)
    clean = np.stack([20 + 200 * s, 128 + 60 * np.sin(2 * np.pi * s)], axis=1)
    jittery = clean + rng.normal(0, 2.5, clean.shape)
    num_frames = 24

    control = fit_clamped_to_tolerance(jittery, chord_length_parameters(jittery), tolerance=3.0)
    spline = evaluate_clamped(control, arc_length_parameters(control, num_frames))
    linear = _linear_resample(jittery, num_frames)

    def energy(path):
        return float(np.sum(np.diff(path, n=2, axis=0) ** 2))

    assert energy(spline) < 0.5 * energy(linear)
    # ... while keeping the drawn path: no frame strays far from the clean curve.
    distance_to_clean = np.min(np.linalg.norm(spline[:, None] - clean[None], axis=-1), axis=1)
    assert distance_to_clean.max() < 6.0


def test_tolerance_fit_stays_within_tolerance_and_follows_clean_clicks():
    def rms(points, control):
        fitted = evaluate_clamped(control, chord_length_parameters(points))
        return np.sqrt(np.mean(np.sum((fitted - points) ** 2, axis=1)))

    clicks = _wiggly_anchors(8)  # few deliberate points: the curve goes (almost) through them
    assert rms(clicks, fit_clamped_to_tolerance(clicks, chord_length_parameters(clicks), tolerance=0.5)) <= 0.5

    rng = np.random.default_rng(3)
    s = np.linspace(0, 1, 120)
    noisy = np.stack([20 + 200 * s, 100 + 40 * s**2], axis=1) + rng.normal(0, 2.0, (120, 2))
    params = chord_length_parameters(noisy)
    for tolerance in (3.0, 5.0):
        assert tolerance - 0.01 <= rms(noisy, fit_clamped_to_tolerance(noisy, params, tolerance)) <= tolerance
    # A larger tolerance buys a smoother curve (smaller second differences of the control points).
    bending = [np.sum(np.diff(fit_clamped_to_tolerance(noisy, params, t), n=2, axis=0) ** 2) for t in (3.0, 5.0)]
    assert bending[1] < bending[0]
    # Out of reach for 16 control points through 2 px noise: the least smoothed fit comes back.
    np.testing.assert_allclose(
        fit_clamped_to_tolerance(noisy, params, tolerance=1.0), fit_clamped(noisy, params, smoothing=1e-6), atol=1e-9
    )


def test_fit_clamped_rejects_bad_arguments():
    points = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"points must have shape \(P >= 2, D\)"):
        fit_clamped(np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="params must have shape"):
        fit_clamped(points, np.linspace(0, 1, 3))
    with pytest.raises(ValueError, match="params must be non-decreasing from 0 to 1"):
        fit_clamped(points, np.array([0.0, 0.6, 0.4, 1.0]))
    with pytest.raises(ValueError, match="smoothing must be >= 0"):
        fit_clamped(points, np.linspace(0, 1, 4), smoothing=-1.0)
    with pytest.raises(ValueError, match="num_control_points must be >= 3"):
        fit_clamped(points, np.linspace(0, 1, 4), num_control_points=2)
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        fit_clamped_to_tolerance(points, np.linspace(0, 1, 4), tolerance=-1.0)
