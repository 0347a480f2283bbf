"""The headline: the few numbers that answer "is this run better?".

The full evaluation table has hundreds of entries (every representation, algorithm, level,
scope and index). Comparing runs needs a dozen, under short names that stay the same from
run to run, so they can be columns of `dvc exp show`, of the MLflow runs table and of
`genrevae compare`:

- ``nmi``, ``ari``: against the target label, on the test split, scored per track: K-Means
  on the mean of each track's latent means, centres fit on the train tracks, each test
  track taking the nearest (the cluster stage's track assignments, the ``track.mean``
  method of the table), so a song counts once however many segments it has.
- ``nmi_base``, ``ari_base``: the same for the better of the baselines (PCA of the input
  to the latent size, whitened PCA of the same size, the raw input: each on its own track
  means), each metric taking its own better baseline, so a margin is never measured
  against a weaker one.
- ``nmi_gain``: ``nmi - nmi_base``; positive when the latent beats every baseline.
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

from genrevae.evaluation.baselines import BASELINES
from genrevae.evaluation.tracks import ALGORITHM

# Order of the columns wherever the headline is shown.
KEYS = ("nmi", "nmi_base", "nmi_gain", "ari", "ari_base", "probe", "probe_gain", "nmi_lang",
        "sil", "active", "recon", "epoch")
# What each key means, in a few words (the README's "Compare runs" table says the same).
# Decimals kept: differences below 0.001 are noise on any corpus we have, and short numbers
# keep the columns of `dvc exp show` narrow.
DIGITS = 3
DESCRIPTIONS = {
    "nmi": "K-Means on track means: NMI vs target, test tracks",
    "nmi_base": "same, better baseline (PCA, whitened PCA, raw)",
    "nmi_gain": "nmi - nmi_base",
    "ari": "K-Means on track means: ARI vs target, test tracks",
    "ari_base": "same, better baseline",
    "probe": "linear probe track accuracy",
    "probe_gain": "probe - better baseline's",
    "nmi_lang": "NMI of the track clusters vs language",
    "sil": "latent K-Means silhouette, test segments",
    "active": "active latent units",
    "recon": "test reconstruction error",
    "epoch": "epoch kept (best validation)",
}


def track_scores(labels: np.ndarray, target: np.ndarray,
                 language: np.ndarray) -> dict[str, float | None]:
    """NMI and ARI of the track clusters ``labels`` against the target, and NMI against
    language; one entry per track in each array."""
    labels, target, language = (np.asarray(a) for a in (labels, target, language))
    return {
        "nmi": float(skm.normalized_mutual_info_score(target, labels)),
        "ari": float(skm.adjusted_rand_score(target, labels)),
        "nmi_lang": (float(skm.normalized_mutual_info_score(language, labels))
                     if len(set(language)) > 1 else None),
    }


def _gain(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or not np.isfinite(value) or not np.isfinite(base):
        return None
    return value - base


def _best(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return max(finite) if finite else None


def headline(
    track_assignments: pd.DataFrame,
    tracks: pd.DataFrame,
    *,
    target: str,
    results: Mapping[str, Any],
    diagnostics: Mapping[str, Any],
    best_epoch: int,
) -> dict[str, float | int | None]:
    """The headline of one run, keys in :data:`KEYS` order, rounded to :data:`DIGITS`.

    ``track_assignments`` (one row per track, ``<rep>.kmeans`` columns: K-Means on track
    means) and ``tracks`` (``split``, the ``target`` column and ``language`` of each track)
    are aligned row for row; ``results`` is the evaluation table (for the probe and the
    silhouette), ``diagnostics`` the model's.
    """
    test = tracks["split"].to_numpy() == "test"
    if not test.any():
        raise ValueError("the headline needs test tracks; the split has none")
    scores = {}
    for rep in ("latent", *BASELINES):
        column = f"{rep}.{ALGORITHM}"
        if column in track_assignments:
            scores[rep] = track_scores(track_assignments[column].to_numpy()[test],
                                       tracks[target].to_numpy()[test],
                                       tracks["language"].to_numpy()[test])
    latent = scores["latent"]
    probe_base = _best([results[b]["probe"]["track_accuracy"] for b in BASELINES if b in results])
    segment_km = results["latent"].get(ALGORITHM, {}).get("test", {})
    out: dict[str, float | int | None] = {
        "nmi": latent["nmi"],
        "nmi_base": _best([scores[b]["nmi"] for b in BASELINES if b in scores]),
        "ari": latent["ari"],
        "ari_base": _best([scores[b]["ari"] for b in BASELINES if b in scores]),
        "probe": results["latent"]["probe"]["track_accuracy"],
        "nmi_lang": latent["nmi_lang"],
        # Still segment level, the space the model encodes; the track-level silhouettes are
        # in the table. None when cluster.algorithms leaves K-Means out.
        "sil": segment_km.get("silhouette"),
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
