"""Internal and external clustering indices.

DBSCAN noise (label -1) is left out of the internal indices (silhouette, Davies-Bouldin,
Calinski-Harabasz), which would otherwise treat it as one odd cluster; the share of noise
is reported beside them. For the external indices (ARI, NMI) every point counts and noise
forms one group of its own, so a run cannot look better by declaring hard points noise.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from genrevae.errors import ArtifactError
from genrevae.evaluation.clustering import ALGORITHM, NOISE, majority_clusters, track_means

# Track scoring: how a track's cluster was found (genrevae.evaluation.clustering) and
# which tracks are scored.
METHODS = ("mean", "majority")
SCOPES = ("test", "all")


def internal_indices(
    x: np.ndarray, labels: np.ndarray, *, seed: int = 0, max_silhouette: int = 5000
) -> dict[str, float | None]:
    """Silhouette (higher is better), Davies-Bouldin (lower), Calinski-Harabasz (higher),
    the number of clusters and the noise fraction. Indices are None when fewer than two
    non-noise clusters exist. Silhouette is computed on at most ``max_silhouette`` points."""
    labels = np.asarray(labels)
    keep = labels != NOISE
    noise_fraction = float(1.0 - keep.mean()) if len(labels) else 0.0
    xs, ls = np.asarray(x)[keep], labels[keep]
    n_clusters = len(np.unique(ls))
    out: dict[str, float | None] = {
        "n_clusters": n_clusters,
        "noise_fraction": noise_fraction,
        "silhouette": None,
        "davies_bouldin": None,
        "calinski_harabasz": None,
    }
    if 2 <= n_clusters < len(xs):
        sample = min(len(xs), max_silhouette)
        out["silhouette"] = float(skm.silhouette_score(
            xs, ls, sample_size=sample if sample < len(xs) else None, random_state=seed
        ))
        out["davies_bouldin"] = float(skm.davies_bouldin_score(xs, ls))
        out["calinski_harabasz"] = float(skm.calinski_harabasz_score(xs, ls))
    return out


def external_indices(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Adjusted Rand index, normalised and adjusted mutual information, Hungarian-matched
    accuracy and purity against ``truth``. AMI is NMI less what random labels would get on
    the same marginals: near 0 for chance at any size, where NMI of chance grows as the
    points get fewer (see :mod:`genrevae.evaluation.chance`)."""
    return {
        "ari": float(skm.adjusted_rand_score(truth, labels)),
        "nmi": float(skm.normalized_mutual_info_score(truth, labels)),
        "ami": float(skm.adjusted_mutual_info_score(truth, labels)),
        "matched_accuracy": matched_accuracy(labels, truth),
        "purity": purity(labels, truth),
    }


def _contingency(labels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return skm.cluster.contingency_matrix(truth, labels)  # rows truth, columns clusters


def matched_accuracy(labels: np.ndarray, truth: np.ndarray) -> float:
    """Accuracy under the best one-to-one matching of clusters to classes (Hungarian);
    clusters left unmatched count as wrong."""
    from scipy.optimize import linear_sum_assignment

    table = _contingency(labels, truth)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / max(table.sum(), 1))


def purity(labels: np.ndarray, truth: np.ndarray) -> float:
    """Share of points in their cluster's majority class."""
    table = _contingency(labels, truth)
    return float(table.max(axis=0).sum() / max(table.sum(), 1))


def clustering_report(
    x: np.ndarray,
    labels: np.ndarray,
    truths: Mapping[str, np.ndarray],
    *,
    seed: int = 0,
) -> dict[str, float | None]:
    """Internal indices of ``labels`` on ``x`` plus ARI/NMI/AMI against each named truth
    (keys ``ari_<name>``, ``nmi_<name>``, ``ami_<name>``...)."""
    report = internal_indices(x, labels, seed=seed)
    for name, truth in truths.items():
        for key, value in external_indices(labels, truth).items():
            report[f"{key}_{name}"] = value
    return report


def has_lyrics_leakage(has_lyrics: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """How much "has lyrics" alone tells about ``labels`` (one entry per track).

    In public datasets lyrics often exist for one language or source only, so a model fed
    the lyrics block can separate languages without learning anything about music. Returns
    the NMI between the two, the accuracy of the best rule predicting the label from
    has-lyrics alone, and the majority-class accuracy that rule should be compared with.
    """
    has_lyrics = np.asarray(has_lyrics, dtype=bool)
    labels = np.asarray(labels, dtype=object)
    correct = 0
    for value in (False, True):
        sel = labels[has_lyrics == value]
        if len(sel):
            correct += int(np.unique(sel, return_counts=True)[1].max())
    majority = int(np.unique(labels, return_counts=True)[1].max()) if len(labels) else 0
    n = max(len(labels), 1)
    return {
        "nmi": float(skm.normalized_mutual_info_score(labels, has_lyrics)),
        "rule_accuracy": correct / n,
        "majority_accuracy": majority / n,
    }


def track_labels(segments: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """One row per track of ``segments``, indexed by ``track_id`` (sorted): its ``columns``
    (a column named twice is kept once), taken from its first segment, since a track's
    segments share its split and labels."""
    return segments.groupby("track_id", sort=True)[list(dict.fromkeys(columns))].first()


def evaluate_tracks(
    track_assignments: pd.DataFrame,
    assignments: pd.DataFrame,
    reps: Mapping[str, np.ndarray],
    segments: pd.DataFrame,
    truths: tuple[str, ...] = ("genre", "language"),
    *,
    seed: int,
) -> dict[str, dict[str, dict[str, dict[str, float | None]]]]:
    """``{representation: {method: {scope: report}}}``, method in :data:`METHODS`.

    ``assignments``, ``reps`` and ``segments`` (with ``track_id``, ``split`` and the
    ``truths`` columns) are aligned row for row; ``track_assignments`` has one row per
    track of ``segments`` (``track_id`` and ``<rep>.kmeans``). A track's label and split
    are its segments' (splits are by track). Internal indices of both methods are taken on
    the track means, so they say how tight the track clusters are where they are scored;
    ``majority`` is left out for a representation without segment K-Means.
    """
    tracks = track_labels(segments, ("split", *truths))
    order = pd.Index(track_assignments["track_id"])
    if not order.is_unique or set(order) != set(tracks.index):
        raise ArtifactError("the track assignments do not cover the same tracks as the "
                            "segment assignments; rerun the cluster stage (dvc repro cluster)")
    tracks = tracks.loc[order]
    split = tracks["split"].to_numpy()
    out: dict = {}
    for rep, x in reps.items():
        column = f"{rep}.{ALGORITHM}"
        ids, means = track_means(x, segments["track_id"].to_numpy())
        means = pd.DataFrame(means, index=ids).loc[order].to_numpy()
        labels = {}
        if column in track_assignments:
            labels["mean"] = track_assignments[column].to_numpy()
        if column in assignments:
            labels["majority"] = majority_clusters(assignments[column].to_numpy(),
                                                   segments["track_id"].to_numpy()).loc[order]
        for method, pred in labels.items():
            for scope in SCOPES:
                sel = split == "test" if scope == "test" else np.ones(len(split), dtype=bool)
                if not sel.any():
                    continue
                report = clustering_report(
                    means[sel], np.asarray(pred)[sel],
                    {name: tracks[name].to_numpy()[sel] for name in truths}, seed=seed)
                out.setdefault(rep, {}).setdefault(method, {})[scope] = report
    return out
