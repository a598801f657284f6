"""Frechet distance against closed forms for Gaussians, and the streaming feature statistics against numpy."""

import numpy as np
import pytest

from videocomposer.metrics import FeatureStatistics, frechet_distance


def rotation(dim, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q


@pytest.mark.parametrize(
    "a,b",
    [
        ([4.0, 1.0, 0.25, 2.0, 9.0], [1.0, 1.0, 1.0, 3.0, 0.5]),  # full rank
        ([4.0, 0.0, 0.0, 2.0, 9.0], [1.0, 1.0, 0.0, 0.0, 0.5]),  # rank-deficient, different null spaces
        ([4.0, 1e-12, 1e-14, 2.0, 9.0], [1e-13, 1.0, 1e-12, 3.0, 0.5]),  # nearly singular
    ],
)
def test_commuting_covariances_match_the_closed_form(a, b):
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T: tr((S1 S2)^1/2) = sum sqrt(a_i b_i)
    q = rotation(5, 1)
    a, b = np.array(a), np.array(b)
    mu1, mu2 = np.arange(5.0), np.arange(5.0)[::-1] * 0.5
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    got = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("singular", [False, True])
def test_non_commuting_2x2_matches_the_closed_form(singular):
    # for 2x2 PSD matrices: tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))
    s1 = np.array([[2.0, 0.7], [0.7, 1.0]])
    s2 = np.array([[1.0, -0.4], [-0.4, 3.0]]) if not singular else np.outer([1.0, 2.0], [1.0, 2.0])
    mu1, mu2 = np.array([1.0, -1.0]), np.array([0.5, 2.0])
    cross = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(max(np.linalg.det(s1) * np.linalg.det(s2), 0.0)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_rank_one_covariances_in_high_dimension():
    # S1 = u u^T, S2 = v v^T: S1 S2 has the single eigenvalue (u.v)^2, so tr sqrt = |u.v|
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=64), rng.normal(size=64)
    mu = rng.normal(size=64)
    expected = u @ u + v @ v - 2 * abs(u @ v)
    assert frechet_distance(mu, np.outer(u, u), mu, np.outer(v, v)) == pytest.approx(expected, rel=1e-6)


def test_symmetric_and_zero_for_identical_sets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 16)) @ rng.normal(size=(16, 16))
    y = rng.normal(size=(30, 16)) + 2.0  # 30 samples of 16-d: full rank; 10 samples below: singular
    stats = []
    for features in (x, y, x[:10]):
        s = FeatureStatistics()
        s.update(features)
        stats.append(s.mean_and_covariance())
    d12 = frechet_distance(*stats[0], *stats[1])
    assert d12 > 1.0
    assert frechet_distance(*stats[1], *stats[0]) == pytest.approx(d12, rel=1e-9)
    assert frechet_distance(*stats[2], *stats[0]) == pytest.approx(frechet_distance(*stats[0], *stats[2]), rel=1e-9)
    scale = np.trace(stats[0][1])
    assert frechet_distance(*stats[0], *stats[0]) <= 1e-9 * scale
    assert frechet_distance(*stats[2], *stats[2]) <= 1e-9 * scale


def test_feature_statistics_stream_matches_numpy_with_a_large_offset():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(101, 6)) + 1e6
    stats = FeatureStatistics()
    for start in range(0, 101, 17):
        stats.update(features[start : start + 17])
    mean, cov = stats.mean_and_covariance()
    assert stats.count == 101
    np.testing.assert_allclose(mean, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(features - 1e6, rowvar=False), rtol=1e-7, atol=1e-9)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="feature dimensions differ"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="sigma1: a covariance must be symmetric"):
        frechet_distance(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="expected shapes"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    stats = FeatureStatistics()
    with pytest.raises(ValueError, match="at least 2 feature vectors"):
        stats.mean_and_covariance()
    stats.update(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="dimension 3 differs from the earlier 4"):
        stats.update(np.zeros((2, 3)))
