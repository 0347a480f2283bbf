"""Clustering, segment and track level, on any feature matrix (latent means or baselines).

Segments: K-Means, Agglomerative or DBSCAN (:func:`cluster`). Tracks, each song judged once
however many segments it has, come two ways:

- ``mean``: K-Means on the mean of the track's segment rows of a representation (the
  latent means, the PCA or raw rows), centres fit on the train tracks, done by the
  cluster stage (:func:`cluster_tracks`);
- ``majority``: the most common of the track's segment K-Means clusters
  (:func:`majority_clusters`).

Only K-Means is run on track means. DBSCAN's ``min_samples`` and radius are set for the
density of segments, not of the few hundred track means, and the headline needs only
K-Means; Agglomerative and DBSCAN stay segment-level. Scoring lives in
:mod:`genrevae.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans
from sklearn.neighbors import NearestNeighbors

NOISE = -1
# The track-level algorithm (column ``<rep>.kmeans`` of the track assignments).
ALGORITHM = "kmeans"


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


def track_means(x: np.ndarray, track_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(track ids sorted, shape (n_tracks,); their mean rows, shape (n_tracks, d) float64)
    of ``x`` (n_seg, d) grouped by ``track_ids`` (n_seg,). Row order carries no meaning."""
    ids, inverse = np.unique(np.asarray(track_ids), return_inverse=True)
    sums = np.zeros((len(ids), x.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, np.asarray(x, dtype=np.float64))
    return ids, sums / np.bincount(inverse, minlength=len(ids))[:, None]


def cluster_tracks(
    reps: Mapping[str, np.ndarray], track_ids: np.ndarray, is_train: np.ndarray, *, k: int,
    n_init: int, seed: int,
) -> pd.DataFrame:
    """K-Means (``k`` clusters) on each representation's track means: one row per track,
    sorted by ``track_id``, one ``<rep>.kmeans`` column per representation.

    ``reps`` hold segment rows aligned with ``track_ids`` and ``is_train``. The centres are
    fit on the train tracks only and every track takes its nearest centre, so a test
    track's cluster is what a new song would get (the headline is scored on these); a
    clustering of every track at once would be the transductive variant.
    """
    ids, train_share = track_means(np.asarray(is_train, dtype=float)[:, None], track_ids)
    train = train_share[:, 0] > 0.5  # a track's segments share its split
    out = pd.DataFrame({"track_id": ids})
    for rep, x in reps.items():
        _, means = track_means(x, track_ids)
        fit = means[train] if train.sum() >= 2 else means
        model = KMeans(n_clusters=min(k, len(fit)), n_init=n_init, random_state=seed).fit(fit)
        out[f"{rep}.{ALGORITHM}"] = model.predict(means)
    return out


def majority_clusters(labels: np.ndarray, tracks: np.ndarray) -> pd.Series:
    """Each track's cluster: the most common label among its segments (the smallest label
    on a tie, so the result does not depend on row order). Indexed by track, sorted."""
    frame = pd.DataFrame({"track": np.asarray(tracks), "label": np.asarray(labels)})
    counts = frame.groupby(["track", "label"], sort=True).size().rename("n").reset_index()
    counts = counts.sort_values(["track", "n", "label"], ascending=[True, False, True])
    return counts.drop_duplicates("track").set_index("track")["label"].sort_index()
