"""The evaluation table: every clustering of every representation, on test and on all data,
per segment and (see :mod:`genrevae.evaluation.clustering`) per track."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from genrevae.evaluation.metrics import clustering_report

SCOPES = ("test", "all")
# The key of a representation's track-level section in the table.
TRACK = "track"


def evaluate_assignments(
    assignments: pd.DataFrame,
    reps: Mapping[str, np.ndarray],
    truths: Mapping[str, np.ndarray],
    split: np.ndarray,
    *,
    seed: int,
) -> dict[str, dict[str, dict[str, dict[str, float | None]]]]:
    """``{representation: {algorithm: {scope: report}}}`` for every ``rep.algo`` column.

    ``reps``, ``truths`` and ``split`` are aligned row for row with ``assignments``.
    Scope ``test`` restricts both the points and the labels to test-split segments.
    """
    out: dict = {}
    for column in assignments.columns:
        if "." not in column:
            continue
        rep, algo = column.split(".", 1)
        labels = assignments[column].to_numpy()
        for scope in SCOPES:
            sel = split == "test" if scope == "test" else np.ones(len(split), dtype=bool)
            if not sel.any():
                continue
            report = clustering_report(
                reps[rep][sel], labels[sel], {k: v[sel] for k, v in truths.items()}, seed=seed
            )
            out.setdefault(rep, {}).setdefault(algo, {})[scope] = report
    return out


def summary_table(results: Mapping, scope: str = "test") -> pd.DataFrame:
    """One row per representation x level x algorithm, for logging and the full table.

    Level ``segment`` rows come from ``results[rep][algo][scope]``; level ``track`` rows
    from ``results[rep]["track"][method][scope]``, their algorithm named ``kmeans:<method>``
    (K-Means on track means, or the majority of segment K-Means clusters).
    """
    rows = []
    for rep, sections in results.items():
        for name, scopes in sections.items():
            if name == TRACK:
                for method, by_scope in scopes.items():
                    if scope in by_scope:
                        rows.append({"representation": rep, "level": "track",
                                     "algorithm": f"kmeans:{method}", **by_scope[scope]})
            elif scope in scopes:
                rows.append({"representation": rep, "level": "segment", "algorithm": name,
                             **scopes[scope]})
    return pd.DataFrame(rows)


def embeddings_2d(z: np.ndarray, cfg, *, seed: int):
    """2-D views of (at most ``cfg.max_plot_points``) latent means: t-SNE and a spectral
    embedding of the k-nearest-neighbour graph (Laplacian eigenmaps, the graph view UMAP
    starts from). Yields (method, embedding (m, 2), row indices)."""
    from sklearn.manifold import TSNE, SpectralEmbedding

    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(z), size=min(len(z), cfg.max_plot_points), replace=False))
    sub = z[pick]
    perplexity = min(cfg.tsne_perplexity, max(2.0, (len(pick) - 1) / 3))
    yield "tsne", TSNE(n_components=2, perplexity=perplexity, init="pca",
                       random_state=seed).fit_transform(sub), pick
    neighbours = max(2, min(15, len(pick) - 1))
    yield "spectral", SpectralEmbedding(n_components=2, n_neighbors=neighbours,
                                        random_state=seed).fit_transform(sub), pick


def predictor_payload(probe, z: np.ndarray, assignments: pd.DataFrame, target: str) -> dict:
    """What `genrevae predict` needs beyond the model: the probe (scaler and logistic
    regression) and the K-Means cluster centres in latent space."""
    scaler, logreg = probe.model.steps[0][1], probe.model.steps[1][1]
    labels = assignments["latent.kmeans"].to_numpy() if "latent.kmeans" in assignments else None
    centres = {}
    if labels is not None:
        centres = {str(int(k)): z[labels == k].mean(axis=0).tolist() for k in np.unique(labels)}
    return {
        "target": target,
        "classes": [str(c) for c in logreg.classes_],
        "scaler_mean": scaler.mean_.tolist(),
        "scaler_scale": scaler.scale_.tolist(),
        "coef": logreg.coef_.tolist(),
        "intercept": logreg.intercept_.tolist(),
        "cluster_centres": centres,
    }
