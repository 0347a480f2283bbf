"""The headline: the few numbers that answer "is this run better?".

The full evaluation table has hundreds of entries (every representation, algorithm, scope
and index). Comparing runs needs a dozen, under short names that stay the same from run to
run, so they can be columns of `dvc exp show`, of the MLflow runs table and of
`genrevae compare`:

- ``nmi``, ``ari``: K-Means on the model's latent space against the target label, on the
  test split, scored per track: a track's cluster is the most common cluster among its
  segments (with one segment a track this is the segment score).
- ``nmi_base``, ``ari_base``: the same for the better of the baselines (PCA of the input
  to the latent size, the raw input), each metric taking its own better baseline, so a
  margin is never measured against the weaker one.
- ``nmi_gain``: ``nmi - nmi_base``; positive when the latent beats both baselines.
- ``probe``, ``probe_gain``: the linear probe's track accuracy on the test split, and its
  margin over the better baseline's.
- ``nmi_lang``: NMI of the same track clusters against language, i.e. how much the clusters
  follow something besides genre (None with fewer than two languages among test tracks).
- ``sil``: silhouette of the latent K-Means clusters on the test segments (higher is
  tighter).
- ``active``: latent dimensions in use (their posterior means vary across test inputs).
- ``recon``: the model's reconstruction error on the test split.
- ``epoch``: the training epoch whose weights were kept (the best validation loss).

The names are short because `dvc exp show` gives each its own column: with them the table
of a `-S` experiment fits a 160-column terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

BASELINES = ("pca", "raw")
ALGORITHM = "kmeans"
# Order of the columns wherever the headline is shown.
KEYS = ("nmi", "nmi_base", "nmi_gain", "ari", "ari_base", "probe", "probe_gain", "nmi_lang",
        "sil", "active", "recon", "epoch")
# What each key means, in a few words (the README's "Compare runs" table says the same).
# Decimals kept: differences below 0.001 are noise on any corpus we have, and short numbers
# keep the columns of `dvc exp show` narrow.
DIGITS = 3
DESCRIPTIONS = {
    "nmi": "K-Means NMI vs target, test tracks",
    "nmi_base": "same, better baseline",
    "nmi_gain": "nmi - nmi_base",
    "ari": "K-Means ARI vs target, test tracks",
    "ari_base": "same, better baseline",
    "probe": "linear probe track accuracy",
    "probe_gain": "probe - better baseline's",
    "nmi_lang": "NMI of the clusters vs language",
    "sil": "latent K-Means silhouette",
    "active": "active latent units",
    "recon": "test reconstruction error",
    "epoch": "epoch kept (best validation)",
}


def track_clusters(labels: np.ndarray, tracks: np.ndarray) -> pd.Series:
    """Each track's cluster: the most common label among its segments (the smallest label
    on a tie, so the result does not depend on row order). Indexed by track, sorted."""
    frame = pd.DataFrame({"track": np.asarray(tracks), "label": np.asarray(labels)})
    counts = frame.groupby(["track", "label"], sort=True).size().rename("n").reset_index()
    counts = counts.sort_values(["track", "n", "label"], ascending=[True, False, True])
    return counts.drop_duplicates("track").set_index("track")["label"].sort_index()


def _first_per_track(values: np.ndarray, tracks: np.ndarray, index: pd.Index) -> np.ndarray:
    return pd.Series(np.asarray(values), index=np.asarray(tracks)).groupby(level=0).first() \
        .loc[index].to_numpy()


def track_scores(labels: np.ndarray, tracks: np.ndarray, target: np.ndarray,
                 language: np.ndarray) -> dict[str, float | None]:
    """NMI and ARI of the per-track clusters against the target, and NMI against language."""
    clusters = track_clusters(labels, tracks)
    truth = _first_per_track(target, tracks, clusters.index)
    lang = _first_per_track(language, tracks, clusters.index)
    pred = clusters.to_numpy()
    return {
        "nmi": float(skm.normalized_mutual_info_score(truth, pred)),
        "ari": float(skm.adjusted_rand_score(truth, pred)),
        "nmi_lang": (float(skm.normalized_mutual_info_score(lang, pred))
                     if len(set(lang)) > 1 else None),
    }


def _gain(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or not np.isfinite(value) or not np.isfinite(base):
        return None
    return value - base


def _best(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return max(finite) if finite else None


def headline(
    assignments: pd.DataFrame,
    segments: pd.DataFrame,
    *,
    target: str,
    results: Mapping[str, Any],
    diagnostics: Mapping[str, Any],
    best_epoch: int,
) -> dict[str, float | int | None]:
    """The headline of one run, keys in :data:`KEYS` order, rounded to :data:`DIGITS`.

    ``assignments`` and ``segments`` are aligned row for row (``segments`` has ``split``,
    ``track_id``, the ``target`` column and ``language``); ``results`` is the evaluation
    table (for the probe and the silhouette), ``diagnostics`` the model's.
    """
    test = segments["split"].to_numpy() == "test"
    if not test.any():
        raise ValueError("the headline needs test segments; the split has none")
    seg = segments[test]
    scores = {}
    for rep in ("latent", *BASELINES):
        column = f"{rep}.{ALGORITHM}"
        if column in assignments:
            scores[rep] = track_scores(assignments[column].to_numpy()[test],
                                       seg["track_id"].to_numpy(), seg[target].to_numpy(),
                                       seg["language"].to_numpy())
    latent = scores["latent"]
    probe_base = _best([results[b]["probe"]["track_accuracy"] for b in BASELINES if b in results])
    out: dict[str, float | int | None] = {
        "nmi": latent["nmi"],
        "nmi_base": _best([scores[b]["nmi"] for b in BASELINES if b in scores]),
        "ari": latent["ari"],
        "ari_base": _best([scores[b]["ari"] for b in BASELINES if b in scores]),
        "probe": results["latent"]["probe"]["track_accuracy"],
        "nmi_lang": latent["nmi_lang"],
        "sil": results["latent"][ALGORITHM]["test"]["silhouette"],
        "active": int(diagnostics["active_units"]),
        "recon": float(diagnostics["recon_mse"]),
        "epoch": int(best_epoch),
    }
    out["nmi_gain"] = _gain(out["nmi"], out["nmi_base"])
    out["probe_gain"] = _gain(out["probe"], probe_base)
    return {key: _rounded(out[key]) for key in KEYS}


def _rounded(value: float | int | None) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return round(float(value), DIGITS) if np.isfinite(value) else None
