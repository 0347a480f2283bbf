"""K-Means, Agglomerative and DBSCAN on any feature matrix (latent means or baselines)."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans
from sklearn.neighbors import NearestNeighbors

NOISE = -1


def estimate_eps(x: np.ndarray, *, min_samples: int, quantile: float = 0.9) -> float:
    """A DBSCAN radius from the k-distance curve: the ``quantile`` of each point's distance
    to its ``min_samples``-th neighbour (about 1 - quantile of points end up as noise
    candidates). Scale-free, so it works for latents and raw features alike."""
    k = min(min_samples, len(x) - 1)
    if k < 1:
        return 1.0
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    eps = float(np.quantile(dist[:, -1], quantile))
    return eps if eps > 0 else 1e-6


def cluster(
    x: np.ndarray,
    algorithm: str,
    *,
    k: int,
    linkage: str = "ward",
    n_init: int = 10,
    eps: float | None = None,
    min_samples: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Cluster labels, shape (n,), int; DBSCAN marks noise with ``NOISE`` (-1).

    ``k`` is ignored by DBSCAN; ``eps=None`` estimates it with :func:`estimate_eps`.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return np.zeros(len(x), dtype=int)
    k = min(k, len(x))
    if algorithm == "kmeans":
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)
    if algorithm == "agglomerative":
        return AgglomerativeClustering(n_clusters=k, linkage=linkage).fit_predict(x)
    if algorithm == "dbscan":
        if eps is None:
            eps = estimate_eps(x, min_samples=min_samples)
        return DBSCAN(eps=eps, min_samples=min_samples).fit_predict(x)
    raise ValueError(f"unknown clustering algorithm {algorithm!r}")
