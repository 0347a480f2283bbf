"""Track level: each song judged once, however many segments it has.

A track's cluster comes two ways, both scored with the segment table's metrics
(:func:`genrevae.evaluation.metrics.clustering_report`):

- ``mean``: K-Means on the mean of the track's segment rows of a representation (the
  latent means, the PCA or raw rows), centres fit on the train tracks, done by the
  cluster stage (:func:`cluster_tracks`);
- ``majority``: the most common of the track's segment K-Means clusters
  (:func:`majority_clusters`), derived here from the segment assignments.

Only K-Means is run on track means. DBSCAN's ``min_samples`` and radius are set for the
density of segments, not of the few hundred track means, and the headline needs only
K-Means; Agglomerative and DBSCAN stay segment-level.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from genrevae.errors import ArtifactError
from genrevae.evaluation.metrics import clustering_report

ALGORITHM = "kmeans"
METHODS = ("mean", "majority")
SCOPES = ("test", "all")


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


def track_labels(segments: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """One row per track of ``segments``, indexed by ``track_id`` (sorted): its ``columns``
    (a column named twice is kept once), taken from its first segment, since a track's
    segments share its split and labels."""
    return segments.groupby("track_id", sort=True)[list(dict.fromkeys(columns))].first()


def majority_clusters(labels: np.ndarray, tracks: np.ndarray) -> pd.Series:
    """Each track's cluster: the most common label among its segments (the smallest label
    on a tie, so the result does not depend on row order). Indexed by track, sorted."""
    frame = pd.DataFrame({"track": np.asarray(tracks), "label": np.asarray(labels)})
    counts = frame.groupby(["track", "label"], sort=True).size().rename("n").reset_index()
    counts = counts.sort_values(["track", "n", "label"], ascending=[True, False, True])
    return counts.drop_duplicates("track").set_index("track")["label"].sort_index()


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
