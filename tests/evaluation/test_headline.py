"""The headline: K-Means on track means scored per test track, the better baseline per
metric (of PCA, whitened PCA and raw), the margins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from genrevae.evaluation.baselines import BASELINES
from genrevae.evaluation.headline import KEYS, headline, headline_report, track_scores


def test_track_scores_against_target_and_language() -> None:
    genre = np.array(["rock", "rock", "jazz", "jazz"])
    lang = np.array(["en", "de", "en", "de"])
    scores = track_scores(np.array([0, 0, 1, 1]), genre, lang)
    assert scores["nmi"] == pytest.approx(1.0) and scores["ari"] == pytest.approx(1.0)
    assert scores["nmi_lang"] == pytest.approx(0.0)
    assert track_scores(np.array([0, 0, 1, 1]), genre, np.array(["en"] * 4))["nmi_lang"] is None


def _run(latent: list[int], pca: list[int], raw: list[int], white: list[int] | None = None, *,
         probes=(0.5, 0.75, 0.25, 0.25), sil: bool = True):
    """Four test tracks and one train track (last); two genres, two languages. Each list
    holds the four test tracks' K-Means clusters on track means."""
    tracks = pd.DataFrame({
        "split": ["test"] * 4 + ["train"],
        "genre": ["rock", "rock", "jazz", "jazz", "rock"],
        "language": ["en", "de", "en", "de", "en"],
    })
    white = [0, 0, 0, 0] if white is None else white
    assignments = pd.DataFrame({"track_id": list("abcdx"), "latent.kmeans": [*latent, 1],
                                "pca.kmeans": [*pca, 1], "pca_white.kmeans": [*white, 1],
                                "raw.kmeans": [*raw, 1]})
    results = {rep: {"probe": {"track_accuracy": acc}}
               for rep, acc in zip(("latent", *BASELINES), probes, strict=True)}
    if sil:
        results["latent"]["kmeans"] = {"test": {"silhouette": 0.3}}
    return headline(assignments, tracks, target="genre", results=results,
                    diagnostics={"active_units": 3, "recon_mse": 0.123456}, best_epoch=7)


PERFECT, BY_LANGUAGE, HALF = [0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1]


def test_headline_keys_order_and_margins_over_the_better_baseline() -> None:
    head = _run(PERFECT, BY_LANGUAGE, HALF)
    assert tuple(head) == KEYS
    nmi_half = skm.normalized_mutual_info_score([0, 0, 1, 1], [0, 0, 0, 1])
    assert head["nmi"] == 1.0 and head["ari"] == 1.0
    assert head["nmi_base"] == pytest.approx(nmi_half, abs=1e-3)  # raw beats pca here
    assert head["nmi_gain"] == pytest.approx(1.0 - nmi_half, abs=1e-3)
    assert head["ari_base"] == pytest.approx(skm.adjusted_rand_score([0, 0, 1, 1], [0, 0, 0, 1]),
                                             abs=1e-3)
    assert head["probe"] == 0.5 and head["probe_gain"] == -0.25  # pca's 0.75 is the better
    assert head["nmi_lang"] == 0.0  # genre clusters carry nothing about language here
    assert head["sil"] == 0.3 and head["active"] == 3 and head["epoch"] == 7
    assert head["recon"] == 0.123  # rounded to DIGITS
    flipped = _run(BY_LANGUAGE, PERFECT, HALF)
    assert flipped["nmi_base"] == 1.0 and flipped["nmi_gain"] == -1.0
    assert flipped["nmi_lang"] == 1.0


def test_whitened_pca_counts_as_a_baseline() -> None:
    """The better baseline is the best of all three: here whitened PCA, on NMI and probe."""
    head = _run(HALF, BY_LANGUAGE, BY_LANGUAGE, PERFECT, probes=(0.5, 0.25, 0.9, 0.25))
    assert head["nmi_base"] == 1.0 and head["ari_base"] == 1.0
    assert head["nmi_gain"] < 0
    assert head["probe_gain"] == pytest.approx(-0.4)


def test_headline_scores_only_test_tracks() -> None:
    """The train track's cluster does not move the headline."""
    base = _run(PERFECT, BY_LANGUAGE, HALF)
    tracks = pd.DataFrame({"split": ["test"] * 4 + ["train"],
                           "genre": ["rock", "rock", "jazz", "jazz", "rock"],
                           "language": ["en", "de", "en", "de", "en"]})
    moved = pd.DataFrame({"latent.kmeans": [*PERFECT, 0], "pca.kmeans": [*BY_LANGUAGE, 0],
                          "pca_white.kmeans": [0, 0, 0, 0, 0], "raw.kmeans": [*HALF, 0]})
    results = {rep: {"probe": {"track_accuracy": acc}}
               for rep, acc in zip(("latent", *BASELINES), (0.5, 0.75, 0.25, 0.25), strict=True)}
    results["latent"]["kmeans"] = {"test": {"silhouette": 0.3}}
    again = headline(moved, tracks, target="genre", results=results,
                     diagnostics={"active_units": 3, "recon_mse": 0.123456}, best_epoch=7)
    assert again == base


def test_missing_probe_scores_leave_margins_empty() -> None:
    head = _run([0] * 4, [0] * 4, [0] * 4,
                probes=(float("nan"), float("nan"), 0.5, float("nan")))
    assert head["probe"] is None and head["probe_gain"] is None


def test_without_segment_kmeans_the_silhouette_is_empty() -> None:
    """cluster.algorithms may leave K-Means out; the track K-Means runs anyway."""
    head = _run(PERFECT, BY_LANGUAGE, HALF, sil=False)
    assert head["sil"] is None and head["nmi"] == 1.0


def test_headline_needs_test_tracks() -> None:
    tracks = pd.DataFrame({"split": ["train"], "genre": ["rock"], "language": ["en"]})
    with pytest.raises(ValueError, match="test tracks"):
        headline(pd.DataFrame({"latent.kmeans": [0]}), tracks, target="genre", results={},
                 diagnostics={}, best_epoch=1)


def test_headline_chance_corrected_scores_and_sizes() -> None:
    """AMI beside NMI for the latent, its better baseline and language; the test size;
    the chance levels of the latent's clusters; four tracks of two genres flag the run."""
    head = _run(PERFECT, BY_LANGUAGE, HALF)
    genre = [0, 0, 1, 1]
    ami_half = skm.adjusted_mutual_info_score(genre, HALF)
    assert head["ami"] == 1.0 and head["ami_base"] == pytest.approx(ami_half, abs=1e-3)
    assert head["ami_gain"] == pytest.approx(1.0 - ami_half, abs=1e-3)
    assert head["ami_lang"] == pytest.approx(skm.adjusted_mutual_info_score([0, 1, 0, 1],
                                                                            PERFECT), abs=1e-3)
    assert (head["n_test"], head["n_genres"]) == (4, 2)
    # Shuffling rock, rock, jazz, jazz against clusters 0, 0, 1, 1 gives a perfect match
    # in 2 of 6 orders: the 95th percentile is 1, so the perfect latent is at chance.
    assert head["nmi_chance"] == 1.0 and head["ami_chance"] == 1.0 and head["ami_net"] == 0.0
    assert head["small_test"] == 1.0


def _balanced(n_per_genre: int, latent: np.ndarray, base: np.ndarray, **kw):
    n = 2 * n_per_genre
    tracks = pd.DataFrame({"split": ["test"] * n, "genre": ["rock", "jazz"] * n_per_genre,
                           "language": ["en"] * n})
    assignments = pd.DataFrame({"latent.kmeans": latent, "pca.kmeans": base,
                                "pca_white.kmeans": base, "raw.kmeans": base})
    results = {rep: {"probe": {"track_accuracy": 0.5}} for rep in ("latent", *BASELINES)}
    return headline_report(assignments, tracks, target="genre", results=results,
                           diagnostics={"active_units": 3, "recon_mse": 0.1}, best_epoch=1,
                           **kw)


def test_a_clear_margin_on_enough_tracks_is_not_flagged() -> None:
    rng = np.random.default_rng(0)
    head, report = _balanced(20, np.tile([0, 1], 20), rng.integers(0, 2, 40), seed=0,
                             min_test_per_genre=5)
    assert head["small_test"] == 0.0 and report["reasons"] == [] and not report["small_test"]
    assert head["ami_lang"] is None and head["nmi_lang"] is None
    assert head["ami_net"] == pytest.approx(1.0 - report["ami_chance"], abs=1e-3)
    assert report["nmi_spread"] == pytest.approx(report["nmi_chance"]
                                                 - report["nmi_chance_median"])
    # The same run with a threshold above its 20 tracks per genre is flagged for its size.
    head, report = _balanced(20, np.tile([0, 1], 20), rng.integers(0, 2, 40), seed=0,
                             min_test_per_genre=21)
    assert head["small_test"] == 1.0 and len(report["reasons"]) == 1
    assert "40 test tracks for 2 labels" in report["reasons"][0]


def test_a_margin_within_the_chance_spread_is_flagged() -> None:
    """Enough tracks, but the latent and its baseline differ by one track in forty: the
    margin is smaller than NMI moves by chance."""
    latent = np.tile([0, 1], 20)
    latent[:8] = 0  # half the first eight tracks in the wrong cluster
    base = latent.copy()
    base[9] = 1 - base[9]
    head, report = _balanced(20, latent, base, seed=0, min_test_per_genre=5)
    assert head["small_test"] == 1.0 and abs(head["nmi_gain"]) < report["nmi_spread"]
    assert report["reasons"][0].startswith("|nmi_gain|")


def test_headline_chance_is_seeded() -> None:
    rng = np.random.default_rng(1)
    latent, base = rng.integers(0, 2, 40), rng.integers(0, 2, 40)
    first = _balanced(20, latent, base, seed=5, min_test_per_genre=5)
    assert _balanced(20, latent, base, seed=5, min_test_per_genre=5) == first
