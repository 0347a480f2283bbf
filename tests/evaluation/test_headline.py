"""The headline: per-track K-Means scores, the better baseline per metric, the margins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from genrevae.evaluation.headline import KEYS, headline, track_clusters, track_scores


def test_track_cluster_is_the_majority_and_ties_go_to_the_smallest_label() -> None:
    labels = np.array([2, 2, 1, 0, 3, 3, 0, 5])
    tracks = np.array(["b", "b", "b", "a", "a", "a", "a", "c"])
    clusters = track_clusters(labels, tracks)
    assert clusters.to_dict() == {"a": 0, "b": 2, "c": 5}  # a: 0 and 3 tie twice each
    shuffled = np.random.default_rng(0).permutation(len(labels))
    assert track_clusters(labels[shuffled], tracks[shuffled]).to_dict() == clusters.to_dict()


def test_track_scores_judge_each_song_once() -> None:
    """Segments of one track count once: a track with many segments weighs no more than a
    track with one, and a segment that strays from its track's majority does not count."""
    tracks = np.array(["t1"] * 5 + ["t2"] + ["t3"] * 3 + ["t4"])
    genre = np.array(["rock"] * 6 + ["jazz"] * 4)
    lang = np.array(["en"] * 5 + ["de"] + ["en"] * 3 + ["de"])
    labels = np.array([0, 0, 0, 0, 1, 0, 1, 1, 0, 1])  # t1's stray segment is outvoted
    scores = track_scores(labels, tracks, genre, lang)
    assert scores["nmi"] == pytest.approx(1.0) and scores["ari"] == pytest.approx(1.0)
    assert scores["nmi_lang"] == pytest.approx(skm.normalized_mutual_info_score(
        ["en", "de", "en", "de"], [0, 0, 1, 1]))
    one_language = track_scores(labels, tracks, genre, np.array(["en"] * 10))
    assert one_language["nmi_lang"] is None


def _run(latent: list[int], pca: list[int], raw: list[int], *, probes=(0.5, 0.75, 0.25)):
    """Four test tracks of two segments and one train track; two genres, two languages."""
    seg = pd.DataFrame({
        "track_id": ["a", "a", "b", "b", "c", "c", "d", "d", "x"],
        "split": ["test"] * 8 + ["train"],
        "genre": ["rock"] * 4 + ["jazz"] * 4 + ["rock"],
        "language": ["en", "en", "de", "de", "en", "en", "de", "de", "en"],
    })
    assignments = pd.DataFrame({"latent.kmeans": [*latent, 0], "pca.kmeans": [*pca, 0],
                                "raw.kmeans": [*raw, 0]})
    results = {rep: {"probe": {"track_accuracy": acc}, "kmeans": {"test": {"silhouette": 0.3}}}
               for rep, acc in zip(("latent", "pca", "raw"), probes, strict=True)}
    return headline(assignments, seg, target="genre", results=results,
                    diagnostics={"active_units": 3, "recon_mse": 0.123456}, best_epoch=7)


def test_headline_keys_order_and_margins_over_the_better_baseline() -> None:
    perfect, by_language = [0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0, 1, 1]
    half = [0, 0, 0, 0, 0, 0, 1, 1]
    head = _run(perfect, by_language, half)
    assert tuple(head) == KEYS
    nmi_half = skm.normalized_mutual_info_score([0, 0, 1, 1], [0, 0, 0, 1])
    assert head["nmi"] == 1.0 and head["ari"] == 1.0
    assert head["nmi_base"] == pytest.approx(nmi_half, abs=1e-3)  # raw beats pca here
    assert head["nmi_gain"] == pytest.approx(1.0 - nmi_half, abs=1e-3)
    assert head["ari_base"] == pytest.approx(skm.adjusted_rand_score([0, 0, 1, 1], [0, 0, 0, 1]),
                                             abs=1e-3)
    assert head["probe"] == 0.5 and head["probe_gain"] == -0.25  # raw's 0.75 is the better
    assert head["nmi_lang"] == 0.0  # genre clusters carry nothing about language here
    assert head["sil"] == 0.3 and head["active"] == 3 and head["epoch"] == 7
    assert head["recon"] == 0.123  # rounded to DIGITS
    flipped = _run(by_language, perfect, half)
    assert flipped["nmi_base"] == 1.0 and flipped["nmi_gain"] == -1.0
    assert flipped["nmi_lang"] == 1.0


def test_missing_probe_scores_leave_margins_empty() -> None:
    head = _run([0] * 8, [0] * 8, [0] * 8, probes=(float("nan"), float("nan"), 0.5))
    assert head["probe"] is None and head["probe_gain"] is None


def test_headline_needs_test_tracks() -> None:
    seg = pd.DataFrame({"track_id": ["a"], "split": ["train"], "genre": ["rock"],
                        "language": ["en"]})
    with pytest.raises(ValueError, match="test segments"):
        headline(pd.DataFrame({"latent.kmeans": [0]}), seg, target="genre", results={},
                 diagnostics={}, best_epoch=1)
