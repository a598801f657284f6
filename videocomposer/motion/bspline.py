"""Quadratic B-splines for hand-drawn motion.

Two flavours, both quadratic (degree 2, hence C1: position and velocity are continuous everywhere):

* StyleSV's *uniform* spline (`uniform_quadratic_weights`, `evaluate_uniform`): control points one time unit apart,
  blended with the closed-form uniform quadratic basis. It approximates its control points and in general does not pass
  through them (at an integer time it sits half way between two of them).
* A *clamped* spline on the open uniform knot vector ``[0, 0, 0, 1/m, ..., (m-1)/m, 1, 1, 1]``
  (`clamped_knots`, `clamped_basis`, `evaluate_clamped`). Its first and last basis functions are 1 at the ends, so the
  curve starts exactly at the first control point and ends exactly at the last; on every span at least two knots away
  from the ends the basis is StyleSV's uniform basis.

Strokes are turned into curves with `fit_clamped_to_tolerance` (penalised least squares, a "P-spline", as smooth as a
pixel tolerance allows) and sampled at F frames with `arc_length_parameters` (constant speed along the path) or at
uniform parameter steps (speed as drawn).
"""

import numpy as np

DEGREE = 2


def uniform_quadratic_weights(u: np.ndarray) -> np.ndarray:
    """StyleSV's uniform quadratic B-spline basis at the fractional position ``u`` in [0, 1] -> ``(..., 3)``.

    w0 = (1 - u)^2 / 2,  w1 = (1 + 2u - 2u^2) / 2,  w2 = u^2 / 2;   w0 + w1 + w2 = 1.
    """
    u = np.asarray(u, dtype=np.float64)
    return np.stack([(1.0 - u) ** 2 / 2.0, (1.0 + 2.0 * u - 2.0 * u**2) / 2.0, u**2 / 2.0], axis=-1)


def evaluate_uniform(control_points: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Evaluate StyleSV's uniform quadratic B-spline at continuous ``times`` -> ``(T, D)``.

    With control points c_0..c_{N-1} one time unit apart and t in [0, N-2]:
    k = floor(t), u = t - k,  c(t) = w0(u) c_k + w1(u) c_{k+1} + w2(u) c_{k+2}.
    (t = N-2 is evaluated on the last span with u = 1.)
    """
    control_points = np.asarray(control_points, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if control_points.ndim != 2 or control_points.shape[0] < 3:
        raise ValueError(f"control_points must have shape (N >= 3, D), got {control_points.shape}")
    last = control_points.shape[0] - 2
    if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(times < 0) or np.any(times > last):
        raise ValueError(f"times must be a finite 1-D array in [0, {last}] (N - 2 for N control points)")
    k = np.minimum(np.floor(times).astype(np.int64), last - 1)
    weights = uniform_quadratic_weights(times - k)  # (T, 3)
    neighbours = np.stack([control_points[k], control_points[k + 1], control_points[k + 2]], axis=1)  # (T, 3, D)
    return np.einsum("tj,tjd->td", weights, neighbours)


def clamped_knots(num_control_points: int, degree: int = DEGREE) -> np.ndarray:
    """Open uniform knot vector on [0, 1]: ``degree + 1`` zeros, equally spaced interior knots, ``degree + 1`` ones.

    m = N - degree spans; knots = [0]*(p+1) + [1/m, ..., (m-1)/m] + [1]*(p+1)  (N + p + 1 knots).
    """
    if num_control_points < degree + 1:
        raise ValueError(f"num_control_points must be >= degree + 1 = {degree + 1}, got {num_control_points}")
    num_spans = num_control_points - degree
    interior = np.arange(1, num_spans) / num_spans
    return np.concatenate([np.zeros(degree + 1), interior, np.ones(degree + 1)])


def clamped_basis(params: np.ndarray, num_control_points: int, degree: int = DEGREE) -> np.ndarray:
    """Clamped B-spline basis (collocation) matrix ``(T, N)`` at ``params`` in [0, 1], by Cox-de Boor.

    B_{i,0}(s) = 1 if k_i <= s < k_{i+1} else 0   (the last span is closed, so s = 1 belongs to it)
    B_{i,p}(s) = (s - k_i) / (k_{i+p} - k_i) B_{i,p-1}(s) + (k_{i+p+1} - s) / (k_{i+p+1} - k_{i+1}) B_{i+1,p-1}(s),
    with 0/0 := 0. Each row sums to 1; row(0) = e_0 and row(1) = e_{N-1}.
    """
    params = np.asarray(params, dtype=np.float64)
    if params.ndim != 1 or not np.all(np.isfinite(params)) or np.any(params < 0) or np.any(params > 1):
        raise ValueError("params must be a finite 1-D array in [0, 1]")
    knots = clamped_knots(num_control_points, degree)
    # Index of the span [k_j, k_{j+1}) holding each parameter, restricted to the non-empty spans p .. N-1.
    span = np.clip(np.searchsorted(knots, params, side="right") - 1, degree, num_control_points - 1)
    num_functions = len(knots) - 1
    basis = np.zeros((len(params), num_functions))
    basis[np.arange(len(params)), span] = 1.0
    s = params[:, None]
    for p in range(1, degree + 1):
        left = knots[: num_functions - p]
        left_width = knots[p : num_functions] - left
        right = knots[p + 1 : num_functions + 1]
        right_width = right - knots[1 : num_functions - p + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(left_width > 0, (s - left) / left_width, 0.0)
            b = np.where(right_width > 0, (right - s) / right_width, 0.0)
        basis = a * basis[:, : num_functions - p] + b * basis[:, 1 : num_functions - p + 1]
    return basis


def evaluate_clamped(control_points: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Points of the clamped quadratic B-spline at ``params`` in [0, 1] -> ``(T, D)``: c(s) = sum_i B_i(s) c_i."""
    control_points = np.asarray(control_points, dtype=np.float64)
    if control_points.ndim != 2:
        raise ValueError(f"control_points must have shape (N, D), got {control_points.shape}")
    return clamped_basis(params, control_points.shape[0]) @ control_points


def chord_length_parameters(points: np.ndarray) -> np.ndarray:
    """Parameters in [0, 1] proportional to the cumulative distance along a polyline ``(P, D)``.

    s_0 = 0, s_i = sum_{j<=i} |p_j - p_{j-1}| / L. A polyline of length L = 0 (a point held still) gets equal steps.
    """
    points = np.asarray(points, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    if cumulative[-1] == 0.0:
        return np.linspace(0.0, 1.0, len(points))
    return cumulative / cumulative[-1]


def second_difference_matrix(num_control_points: int) -> np.ndarray:
    """D2 ``(N - 2, N)`` with (D2 c)_i = c_i - 2 c_{i+1} + c_{i+2}."""
    eye = np.eye(num_control_points)
    return eye[:-2] - 2.0 * eye[1:-1] + eye[2:]


def _check_fit_arguments(points: np.ndarray, params: np.ndarray, num_control_points: int | None) -> int:
    if points.ndim != 2 or points.shape[0] < 2:
        raise ValueError(f"points must have shape (P >= 2, D), got {points.shape}")
    if params.shape != (points.shape[0],):
        raise ValueError(f"params must have shape ({points.shape[0]},) to match points, got {params.shape}")
    if params[0] != 0.0 or params[-1] != 1.0 or np.any(np.diff(params) < 0):
        raise ValueError("params must be non-decreasing from 0 to 1")
    n = num_control_points if num_control_points is not None else min(max(points.shape[0], DEGREE + 1), 16)
    if n < DEGREE + 1:
        raise ValueError(f"num_control_points must be >= {DEGREE + 1}, got {n}")
    return n


def _penalised_fit(points: np.ndarray, params: np.ndarray, num_control_points: int):
    """Solver ``smoothing -> control points`` for the end-constrained penalised least squares of `fit_clamped`."""
    n, num_points = num_control_points, points.shape[0]
    basis = clamped_basis(params, n)
    penalty = second_difference_matrix(n)
    # Move the two fixed end control points to the right-hand side; solve the normal equations for the interior ones.
    fixed = np.zeros((n, points.shape[1]))
    fixed[0], fixed[-1] = points[0], points[-1]
    residual = points - basis @ fixed
    b_inner, d_inner = basis[:, 1:-1], penalty[:, 1:-1]
    data_normal, data_rhs = b_inner.T @ b_inner / num_points, b_inner.T @ residual / num_points
    penalty_normal, penalty_rhs = d_inner.T @ d_inner / (n - 2), d_inner.T @ (penalty @ fixed) / (n - 2)

    def solve(smoothing: float) -> np.ndarray:
        lhs = data_normal + smoothing * penalty_normal
        inner, *_ = np.linalg.lstsq(lhs, data_rhs - smoothing * penalty_rhs, rcond=None)
        control_points = fixed.copy()
        control_points[1:-1] = inner
        return control_points

    return solve


def fit_clamped(
    points: np.ndarray, params: np.ndarray, num_control_points: int | None = None, smoothing: float = 1.0
) -> np.ndarray:
    """Control points ``(N, D)`` of a clamped quadratic B-spline through ``points`` ``(P, D)`` at ``params`` ``(P,)``.

    Penalised least squares (P-spline, Eilers & Marx 1996) with the end points held exactly:

        minimise_c  (1/P) sum_i |B(s_i) c - p_i|^2  +  smoothing * |D2 c|^2 / (N - 2)
        subject to  c_0 = p_0,  c_{N-1} = p_{P-1}      (so the curve starts and ends on the stroke's end points)

    Why this and not interpolation: mouse strokes carry jitter, which an interpolating spline (or PCHIP / linear
    resampling) reproduces; the second-difference penalty pulls neighbouring control points towards a straight line,
    removing wiggles whose wavelength is shorter than a few control-point spacings while keeping the overall path. The
    penalty also makes the problem well posed for any P >= 2 (two points give a straight line). Default
    ``num_control_points``: min(max(P, 3), 16), about one per frame of a 16-frame clip (finer wiggles could not show
    at that frame rate); with ``smoothing`` -> 0 and N = P the curve interpolates the points.
    """
    points = np.asarray(points, dtype=np.float64)
    params = np.asarray(params, dtype=np.float64)
    n = _check_fit_arguments(points, params, num_control_points)
    if not smoothing >= 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    return _penalised_fit(points, params, n)(smoothing)


def fit_clamped_to_tolerance(
    points: np.ndarray, params: np.ndarray, tolerance: float = 2.0, num_control_points: int | None = None
) -> np.ndarray:
    """The smoothest `fit_clamped` curve that stays within ``tolerance`` (RMS distance, in the points' units).

    The smoothing weight is the largest lambda in [1e-6, 1e6] with sqrt(mean_i |c(s_i) - p_i|^2) <= tolerance, found by
    bisection on log(lambda) (the residual grows monotonically with lambda). This is the criterion of Dierckx's
    smoothing splines (scipy ``splprep``'s ``s`` = P * tolerance^2): a few deliberate clicks are followed closely,
    while dense jittery mouse samples are smoothed down to about the tolerance. If even the smallest lambda misses the
    tolerance (too few control points), that fit is returned.
    """
    points = np.asarray(points, dtype=np.float64)
    params = np.asarray(params, dtype=np.float64)
    n = _check_fit_arguments(points, params, num_control_points)
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    solve = _penalised_fit(points, params, n)
    basis = clamped_basis(params, n)

    def rms(control_points: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.sum((basis @ control_points - points) ** 2, axis=1))))

    low, high = -6.0, 6.0  # log10(lambda)
    if rms(solve(10.0**high)) <= tolerance:
        return solve(10.0**high)
    if rms(solve(10.0**low)) > tolerance:
        return solve(10.0**low)
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if rms(solve(10.0**middle)) <= tolerance else (low, middle)
    return solve(10.0**low)


def arc_length_parameters(control_points: np.ndarray, num_samples: int, samples_per_span: int = 64) -> np.ndarray:
    """``num_samples`` parameters in [0, 1] equally spaced in arc length along a clamped spline (first 0, last 1).

    The length function L(s) = integral_0^s |c'(r)| dr is tabulated on a dense grid (chord sums, ``samples_per_span``
    per knot span) and inverted by linear interpolation: s_f = L^{-1}(f / (F - 1) * L(1)).
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    control_points = np.asarray(control_points, dtype=np.float64)
    grid = np.linspace(0.0, 1.0, (control_points.shape[0] - DEGREE) * samples_per_span + 1)
    length = chord_length_parameters(evaluate_clamped(control_points, grid))  # L(s) / L(1), grid-sampled
    if num_samples == 1:
        return np.zeros(1)
    targets = np.linspace(0.0, 1.0, num_samples)
    # L is non-decreasing; np.interp needs strictly increasing x, so drop flat stretches (the curve standing still).
    keep = np.concatenate([[True], np.diff(length) > 0])
    params = np.interp(targets, length[keep], grid[keep])
    params[0], params[-1] = 0.0, 1.0
    return params
