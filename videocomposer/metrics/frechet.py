"""The Frechet distance between two Gaussians, and a streaming accumulator of feature means and covariances.

One implementation serves FVD and FID. ``tr((S1 S2)^(1/2))`` is the sum of the singular values of ``S1^(1/2)
S2^(1/2)`` (their squares are the eigenvalues of ``S1 S2``), in float64: the square roots come from symmetric
eigen-decompositions whose eigenvalues at round-off level (below ``D * eps * largest``) are set to zero, and the
singular values of the product are accurate to round-off even where they are tiny. No complex parts can appear (the
``scipy.linalg.sqrtm(S1 @ S2)`` pitfall), singular (rank-deficient) covariances, such as those of fewer samples than
feature dimensions, need no added epsilon, and the result is symmetric in its two arguments.
"""

from __future__ import annotations

import numpy as np


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix; round-off-level eigenvalues are taken as zero."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    floor = len(matrix) * np.finfo(np.float64).eps * max(float(eigenvalues.max(initial=0.0)), 0.0)
    return (eigenvectors * np.sqrt(np.where(eigenvalues > floor, eigenvalues, 0.0))) @ eigenvectors.T


def _check(mu: np.ndarray, sigma: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"mu{name}, sigma{name}: expected shapes (D,) and (D, D), got {mu.shape} and {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"mu{name}, sigma{name}: must be finite")
    if not np.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-10 * max(1.0, float(np.abs(sigma).max()))):
        raise ValueError(f"sigma{name}: a covariance must be symmetric")
    return mu, sigma


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``, the squared 2-Wasserstein distance of Gaussians.

    Args:
        mu1, mu2: ``(D,)`` means. sigma1, sigma2: ``(D, D)`` symmetric positive semi-definite covariances.
    Returns:
        The distance as a Python float (>= 0 up to round-off; tiny negative round-off is clipped to 0).
    """
    mu1, sigma1 = _check(mu1, sigma1, "1")
    mu2, sigma2 = _check(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2: feature dimensions differ, {mu1.shape[0]} vs {mu2.shape[0]}")
    cross = np.linalg.svd(_psd_sqrt(sigma1) @ _psd_sqrt(sigma2), compute_uv=False).sum()
    diff = mu1 - mu2
    return max(float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * cross), 0.0)


class FeatureStatistics:
    """Streaming mean and covariance (unbiased, ``N - 1``) of feature vectors, in float64.

    Batches are merged with Chan's parallel update, so large feature means do not cancel catastrophically.
    ``frechet_distance(*a.mean_and_covariance(), *b.mean_and_covariance())`` compares two sets.
    """

    def __init__(self) -> None:
        self.count = 0
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None  # sum of outer products of deviations from the mean

    def update(self, features: np.ndarray) -> None:
        """Add a batch ``(N, D)`` of feature vectors."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] == 0:
            raise ValueError(f"features: expected a non-empty (N, D) batch, got shape {features.shape}")
        if self._mean is not None and features.shape[1] != self._mean.shape[0]:
            raise ValueError(f"features: dimension {features.shape[1]} differs from the earlier {self._mean.shape[0]}")
        if not np.isfinite(features).all():
            raise ValueError("features: must be finite")
        mean = features.mean(axis=0)
        centered = features - mean
        self._combine(features.shape[0], mean, centered.T @ centered)

    def merge(self, other: FeatureStatistics) -> None:
        """Add every feature vector ``other`` has seen (e.g. one video's frames, once the video was read whole)."""
        if other.count:
            if self._mean is not None and other._mean.shape != self._mean.shape:
                raise ValueError(f"other: dimension {other._mean.shape[0]} differs from {self._mean.shape[0]}")
            self._combine(other.count, other._mean, other._scatter)

    def _combine(self, n: int, mean: np.ndarray, scatter: np.ndarray) -> None:
        if self._mean is None:
            self.count, self._mean, self._scatter = n, mean.copy(), scatter.copy()
            return
        total = self.count + n
        delta = mean - self._mean
        self._scatter = self._scatter + scatter + np.outer(delta, delta) * (self.count * n / total)
        self._mean = self._mean + delta * (n / total)
        self.count = total

    def mean_and_covariance(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mu (D,), sigma (D, D))``; needs at least two feature vectors."""
        if self.count < 2:
            raise ValueError(f"FeatureStatistics: a covariance needs at least 2 feature vectors, got {self.count}")
        return self._mean.copy(), self._scatter / (self.count - 1)
