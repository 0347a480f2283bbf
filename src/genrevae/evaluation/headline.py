"""The headline: the few numbers that answer "is this run better?".

The full evaluation table has hundreds of entries (every representation, algorithm, level,
scope and index). Comparing runs needs a dozen, under short names that stay the same from
run to run, so they can be columns of `dvc exp show`, of the MLflow runs table and of
`genrevae compare`:

- ``ami``, ``nmi``, ``ari``: against the target label, on the test split, scored per track:
  K-Means on the mean of each track's latent means, centres fit on the train tracks, each
  test track taking the nearest (the cluster stage's track assignments, the ``track.mean``
  method of the table), so a song counts once however many segments it has. AMI and ARI
  are corrected for chance (near 0 for random clusters at any test size) and so compare
  across data sets; NMI of chance grows as the test set shrinks, so compare it only between
  runs on the same test split (docs/evaluation.md).
- ``ami_base``, ``nmi_base``, ``ari_base``: the same for the better of the baselines (PCA of
  the input to the latent size, whitened PCA of the same size, the raw input: each on its
  own track means), each metric taking its own better baseline, so a margin is never
  measured against a weaker one.
- ``ami_gain``, ``nmi_gain``: ``ami - ami_base``, ``nmi - nmi_base``; positive when the
  latent beats every baseline.
- ``ami_net``: ``ami - ami_chance``; at or below 0 the clusters agree with the target no
  better than shuffled labels do in 1 of 20 shuffles. The one column to sort runs by: a
  2-track test set scores ``ami`` 1.0 but ``ami_net`` 0.
- ``probe``, ``probe_gain``: the linear probe's track accuracy on the test split, and its
  margin over the better baseline's.
- ``ami_lang``, ``nmi_lang``: AMI and NMI of the same track clusters against language, i.e.
  how much the clusters follow something besides genre (None with fewer than two languages
  among test tracks).
- ``sil``: silhouette of the latent K-Means clusters on the test segments (higher is
  tighter).
- ``active``: latent dimensions in use (their posterior means vary across test inputs).
- ``recon``: the model's reconstruction error on the test split.
- ``epoch``: the training epoch whose weights were kept (the best validation loss).
- ``n_test``, ``n_genres``: test tracks, and distinct target labels among them.
- ``ami_chance``, ``nmi_chance``: the 95th percentile of AMI and NMI of the latent's track
  clusters against the test labels shuffled (200 shuffles drawn from ``seed``; see
  :mod:`genrevae.evaluation.chance`).
- ``small_test``: 1.0 when the test split cannot rank runs: fewer than
  ``evaluate.min_test_per_genre`` test tracks per label on average, or ``|nmi_gain|``
  within the chance spread of NMI (its 95th percentile minus its median under shuffles);
  else 0.0.

The names are short because `dvc exp show` gives each its own column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from genrevae.evaluation.baselines import BASELINES
from genrevae.evaluation.chance import permutation_chance, small_test_reasons
from genrevae.evaluation.clustering import ALGORITHM

# Order of the columns wherever the headline is shown: the chance-corrected scores first.
KEYS = ("ami", "ami_base", "ami_gain", "ami_net", "nmi", "nmi_base", "nmi_gain", "ari",
        "ari_base", "probe", "probe_gain", "ami_lang", "nmi_lang", "sil", "active", "recon",
        "epoch", "n_test", "n_genres", "ami_chance", "nmi_chance", "small_test")
# What evaluate.min_test_per_genre is when a caller gives none (conf/config.yaml sets it).
MIN_TEST_PER_GENRE = 5
# What each key means, in a few words (docs/evaluation.md says the same).
# Decimals kept: differences below 0.001 are noise on any corpus we have, and short numbers
# keep the columns of `dvc exp show` narrow.
DIGITS = 3
DESCRIPTIONS = {
    "ami": "K-Means on track means: AMI vs target, test tracks",
    "ami_base": "same, better baseline (PCA, whitened PCA, raw)",
    "ami_gain": "ami - ami_base",
    "ami_net": "ami - ami_chance (sort runs by this)",
    "nmi": "K-Means on track means: NMI vs target, test tracks",
    "nmi_base": "same, better baseline (PCA, whitened PCA, raw)",
    "nmi_gain": "nmi - nmi_base",
    "ari": "K-Means on track means: ARI vs target, test tracks",
    "ari_base": "same, better baseline",
    "probe": "linear probe track accuracy",
    "probe_gain": "probe - better baseline's",
    "ami_lang": "AMI of the track clusters vs language",
    "nmi_lang": "NMI of the track clusters vs language",
    "sil": "latent K-Means silhouette, test segments",
    "active": "active latent units",
    "recon": "test reconstruction error",
    "epoch": "epoch kept (best validation)",
    "n_test": "test tracks",
    "n_genres": "target labels among the test tracks",
    "ami_chance": "95th percentile of AMI, labels shuffled",
    "nmi_chance": "95th percentile of NMI, labels shuffled",
    "small_test": "1: the test split cannot rank runs",
}


def track_scores(labels: np.ndarray, target: np.ndarray,
                 language: np.ndarray) -> dict[str, float | None]:
    """NMI, AMI and ARI of the track clusters ``labels`` against the target, and NMI and
    AMI against language; one entry per track in each array."""
    labels, target, language = (np.asarray(a) for a in (labels, target, language))
    several = len(set(language)) > 1
    return {
        "nmi": float(skm.normalized_mutual_info_score(target, labels)),
        "ami": float(skm.adjusted_mutual_info_score(target, labels)),
        "ari": float(skm.adjusted_rand_score(target, labels)),
        "nmi_lang": (float(skm.normalized_mutual_info_score(language, labels))
                     if several else None),
        "ami_lang": float(skm.adjusted_mutual_info_score(language, labels)) if several else None,
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
    seed: int = 0,
    min_test_per_genre: int = MIN_TEST_PER_GENRE,
) -> dict[str, float | int | None]:
    """The headline of one run; see :func:`headline_report`."""
    return headline_report(track_assignments, tracks, target=target, results=results,
                           diagnostics=diagnostics, best_epoch=best_epoch, seed=seed,
                           min_test_per_genre=min_test_per_genre)[0]


def headline_report(
    track_assignments: pd.DataFrame,
    tracks: pd.DataFrame,
    *,
    target: str,
    results: Mapping[str, Any],
    diagnostics: Mapping[str, Any],
    best_epoch: int,
    seed: int,
    min_test_per_genre: int,
) -> tuple[dict[str, float | int | None], dict[str, Any]]:
    """The headline of one run, keys in :data:`KEYS` order, rounded to :data:`DIGITS`, and
    what its test split can say (the ``chance`` section of the evaluation table: sizes,
    chance levels, the spread, ``small_test`` and its reasons in words).

    ``track_assignments`` (one row per track, ``<rep>.kmeans`` columns: K-Means on track
    means) and ``tracks`` (``split``, the ``target`` column and ``language`` of each track)
    are aligned row for row; ``results`` is the evaluation table (for the probe and the
    silhouette), ``diagnostics`` the model's; ``seed`` draws the label shuffles.
    """
    test = tracks["split"].to_numpy() == "test"
    if not test.any():
        raise ValueError("the headline needs test tracks; the split has none")
    labels = tracks[target].to_numpy()[test]
    scores = {}
    for rep in ("latent", *BASELINES):
        column = f"{rep}.{ALGORITHM}"
        if column in track_assignments:
            scores[rep] = track_scores(track_assignments[column].to_numpy()[test], labels,
                                       tracks["language"].to_numpy()[test])
    latent = scores["latent"]
    probe_base = _best([results[b]["probe"]["track_accuracy"] for b in BASELINES if b in results])
    segment_km = results["latent"].get(ALGORITHM, {}).get("test", {})
    chance = permutation_chance(labels, track_assignments[f"latent.{ALGORITHM}"].to_numpy()[test],
                                seed=seed)
    out: dict[str, float | int | None] = {
        "probe": results["latent"]["probe"]["track_accuracy"],
        "ami_lang": latent["ami_lang"],
        "nmi_lang": latent["nmi_lang"],
        # Still segment level, the space the model encodes; the track-level silhouettes are
        # in the table. None when cluster.algorithms leaves K-Means out.
        "sil": segment_km.get("silhouette"),
        "active": int(diagnostics["active_units"]),
        "recon": float(diagnostics["recon_mse"]),
        "epoch": int(best_epoch),
        "n_test": int(test.sum()),
        "n_genres": len(np.unique(labels)),
        "ami_chance": chance.ami,
        "nmi_chance": chance.nmi,
    }
    for metric in ("ami", "nmi", "ari"):
        out[metric] = latent[metric]
        out[f"{metric}_base"] = _best([scores[b][metric] for b in BASELINES if b in scores])
    out["ami_gain"] = _gain(out["ami"], out["ami_base"])
    out["nmi_gain"] = _gain(out["nmi"], out["nmi_base"])
    out["ami_net"] = _gain(out["ami"], out["ami_chance"])
    out["probe_gain"] = _gain(out["probe"], probe_base)
    reasons = small_test_reasons(labels, min_per_label=min_test_per_genre,
                                 gain=out["nmi_gain"], chance=chance)
    out["small_test"] = 1.0 if reasons else 0.0
    head = {key: _rounded(out[key]) for key in KEYS}
    report = {"n_test": out["n_test"], "n_genres": out["n_genres"],
              "min_test_per_genre": min_test_per_genre, "n_permutations": chance.n_permutations,
              "nmi_chance": chance.nmi, "nmi_chance_median": chance.nmi_median,
              "nmi_spread": chance.nmi_spread, "ami_chance": chance.ami,
              "small_test": bool(reasons), "reasons": reasons}
    return head, report


def _rounded(value: float | int | None) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return round(float(value), DIGITS) if np.isfinite(value) else None
