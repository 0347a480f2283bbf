"""K-Means, Agglomerative and DBSCAN (with the estimated radius) on separable blobs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score

from genrevae.evaluation.clustering import NOISE, cluster, estimate_eps


def blobs(n: int = 240, centers: int = 4, dim: int = 5, seed: int = 0):
    """Well separated Gaussian blobs (centres far apart relative to the spread)."""
    return make_blobs(n_samples=n, centers=centers, n_features=dim, cluster_std=0.5,
                      center_box=(-20.0, 20.0), random_state=seed)


@pytest.mark.parametrize("algorithm", ["kmeans", "agglomerative"])
@pytest.mark.parametrize(("centers", "dim", "seed"), [(3, 2, 0), (4, 5, 1), (6, 8, 2)])
def test_k_based_algorithms_recover_blobs(algorithm: str, centers: int, dim: int,
                                          seed: int) -> None:
    """With the true k, kmeans and agglomerative find the blobs (ARI > 0.95)."""
    x, y = blobs(centers=centers, dim=dim, seed=seed)
    labels = cluster(x, algorithm, k=centers, seed=seed)
    assert labels.shape == (len(x),)
    assert len(np.unique(labels)) == centers
    assert adjusted_rand_score(y, labels) > 0.95


@pytest.mark.parametrize("linkage", ["ward", "average", "complete", "single"])
def test_agglomerative_linkages(linkage: str) -> None:
    """Every supported linkage separates well-separated blobs."""
    x, y = blobs(centers=3, dim=3, seed=4)
    assert adjusted_rand_score(y, cluster(x, "agglomerative", k=3, linkage=linkage)) > 0.95


def test_agglomerative_linkage_is_used() -> None:
    """On two moons only single linkage follows the chains; ward cuts them."""
    x, y = make_moons(200, noise=0.05, random_state=0)
    assert adjusted_rand_score(y, cluster(x, "agglomerative", k=2, linkage="single")) > 0.95
    assert adjusted_rand_score(y, cluster(x, "agglomerative", k=2, linkage="ward")) < 0.8


@pytest.mark.parametrize("scale", [0.01, 1.0, 100.0])
@pytest.mark.parametrize(("centers", "dim", "seed"), [(3, 2, 0), (4, 5, 1)])
def test_dbscan_estimated_eps_recovers_blobs(centers: int, dim: int, seed: int,
                                             scale: float) -> None:
    """DBSCAN with eps=None finds the blobs at any scale, labelling only a few points noise."""
    x, y = blobs(centers=centers, dim=dim, seed=seed)
    labels = cluster(x * scale, "dbscan", k=99, eps=None, min_samples=5)
    noise = labels == NOISE
    assert noise.mean() < 0.1
    assert len(np.unique(labels[~noise])) == centers
    assert adjusted_rand_score(y[~noise], labels[~noise]) > 0.95


def test_dbscan_marks_far_outliers_as_noise(rng: np.random.Generator) -> None:
    """Points far from every blob are labelled NOISE (-1)."""
    x, y = blobs(centers=3, dim=2, seed=0)
    outliers = np.array([[500.0, 500.0], [-500.0, 500.0], [500.0, -500.0], [0.0, 900.0]])
    labels = cluster(np.vstack([x, outliers]), "dbscan", k=3, min_samples=5)
    assert NOISE == -1
    assert np.all(labels[-len(outliers):] == NOISE)
    inliers = labels[: len(x)]
    assert adjusted_rand_score(y[inliers != NOISE], inliers[inliers != NOISE]) > 0.95


def test_dbscan_explicit_eps_is_used() -> None:
    """A tiny explicit eps makes every point noise; a huge one makes one cluster."""
    x, _ = blobs(centers=3, dim=2, seed=0)
    assert np.all(cluster(x, "dbscan", k=3, eps=1e-9, min_samples=5) == NOISE)
    assert np.all(cluster(x, "dbscan", k=3, eps=1e6, min_samples=5) == 0)


def test_dbscan_min_samples_is_used() -> None:
    """Two groups of three points: clusters with min_samples=3, all noise with 4."""
    x = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [9.0, 9.0], [9.1, 9.0], [9.0, 9.1]])
    labels = cluster(x, "dbscan", k=2, eps=0.5, min_samples=3)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.all(cluster(x, "dbscan", k=2, eps=0.5, min_samples=4) == NOISE)


def test_estimate_eps_positive_and_scale_equivariant() -> None:
    """eps > 0 and scaling the data by 10 scales eps by 10 (translation changes nothing)."""
    x, _ = blobs(centers=4, dim=3, seed=5)
    eps = estimate_eps(x, min_samples=5)
    assert eps > 0
    assert estimate_eps(x * 10.0, min_samples=5) == pytest.approx(10.0 * eps, rel=1e-9)
    assert estimate_eps(x + 123.0, min_samples=5) == pytest.approx(eps, rel=1e-6)


def test_estimate_eps_is_the_k_distance_quantile(rng: np.random.Generator) -> None:
    """eps is the quantile of the distance to the min_samples-th other point."""
    x = rng.normal(size=(40, 3))
    d = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
    kth = np.sort(d, axis=1)[:, 4]  # column 0 is the point itself
    for q in (0.5, 0.9):
        expected = np.quantile(kth, q)
        assert estimate_eps(x, min_samples=4, quantile=q) == pytest.approx(expected, rel=1e-9)


def test_estimate_eps_monotone_in_quantile(rng: np.random.Generator) -> None:
    """A higher quantile never gives a smaller radius."""
    x = rng.normal(size=(60, 4))
    values = [estimate_eps(x, min_samples=5, quantile=q) for q in (0.1, 0.5, 0.9, 1.0)]
    assert values == sorted(values)


def test_estimate_eps_degenerate_inputs() -> None:
    """One point gives the fallback 1.0; identical points a tiny positive radius."""
    assert estimate_eps(np.zeros((1, 3)), min_samples=5) == 1.0
    eps = estimate_eps(np.ones((10, 3)), min_samples=3)
    assert 0 < eps <= 1e-6


def test_estimate_eps_caps_min_samples() -> None:
    """min_samples above n - 1 is capped instead of failing."""
    x = np.array([[0.0], [1.0], [3.0]])
    assert estimate_eps(x, min_samples=10, quantile=1.0) == pytest.approx(3.0)


def test_kmeans_deterministic_for_seed() -> None:
    """A fixed seed gives identical K-Means labels on ambiguous, overlapping data."""
    x, _ = make_blobs(n_samples=200, centers=5, n_features=2, cluster_std=3.0, random_state=3)
    a = cluster(x, "kmeans", k=5, n_init=1, seed=11)
    b = cluster(x, "kmeans", k=5, n_init=1, seed=11)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("algorithm", ["kmeans", "agglomerative"])
def test_k_capped_by_n(algorithm: str, rng: np.random.Generator) -> None:
    """Asking for more clusters than points gives one cluster per point, not an error."""
    x = rng.normal(size=(4, 2))
    labels = cluster(x, algorithm, k=10)
    assert sorted(labels.tolist()) == [0, 1, 2, 3]


def test_unknown_algorithm() -> None:
    """An unknown algorithm name is a ValueError naming it."""
    x, _ = blobs(n=20)
    with pytest.raises(ValueError, match="unknown clustering algorithm 'spectral'"):
        cluster(x, "spectral", k=2)


@pytest.mark.parametrize("algorithm", ["kmeans", "agglomerative", "dbscan", "whatever"])
@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_points(algorithm: str, n: int) -> None:
    """Fewer than two points: all-zero labels of length n, whatever the algorithm."""
    labels = cluster(np.ones((n, 3)), algorithm, k=3)
    assert labels.shape == (n,)
    assert np.all(labels == 0)


@pytest.mark.parametrize("algorithm", ["kmeans", "agglomerative", "dbscan"])
def test_accepts_float32_and_lists(algorithm: str) -> None:
    """Inputs are converted: float32 arrays and nested lists give the same labels."""
    x, _ = blobs(n=60, centers=2, dim=2, seed=6)
    a = cluster(x.astype(np.float32), algorithm, k=2)
    b = cluster(x.tolist(), algorithm, k=2)
    assert adjusted_rand_score(a, b) == pytest.approx(1.0)
