"""Chance levels of NMI and AMI (labels shuffled against the same clusters), and when a test
split is too small to rank runs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from genrevae.evaluation.chance import (
    Chance,
    permutation_chance,
    permuted_scores,
    small_test_reasons,
)


def _random_clusters(n: int, genres: int, draws: int, seed: int) -> tuple[float, float]:
    """Mean NMI and AMI of clusters drawn at random (as many as genres) against balanced
    genre labels of ``n`` tracks."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % genres
    nmi, ami = [], []
    for _ in range(draws):
        clusters = rng.integers(0, genres, n)
        nmi.append(skm.normalized_mutual_info_score(truth, clusters))
        ami.append(skm.adjusted_mutual_info_score(truth, clusters))
    return float(np.mean(nmi)), float(np.mean(ami))


def test_nmi_of_random_clusters_is_large_on_few_tracks_where_ami_is_near_zero():
    """The toy problem of the issue: 10 genres, clusters that know nothing. On 20 tracks
    their NMI is over 0.5, on 1,000 about 0.02; their AMI is about 0 at both sizes."""
    nmi_small, ami_small = _random_clusters(20, 10, draws=200, seed=0)
    nmi_large, ami_large = _random_clusters(1000, 10, draws=20, seed=1)
    assert nmi_small > 0.5 and nmi_large < 0.03
    assert abs(ami_small) < 0.03 and abs(ami_large) < 0.01


def test_vectorised_scores_are_scikit_learns_for_every_shuffle(rng):
    for n, k, m in [(12, 3, 4), (60, 5, 5), (300, 10, 10), (9, 1, 3), (9, 3, 1), (2, 2, 2)]:
        labels = np.array([f"g{i}" for i in rng.integers(0, k, n)], dtype=object)
        clusters = rng.integers(0, m, n)
        shuffles = np.array([rng.permutation(labels) for _ in range(25)])
        nmi, ami = permuted_scores(shuffles, clusters)
        assert nmi == pytest.approx([skm.normalized_mutual_info_score(s, clusters)
                                     for s in shuffles], abs=1e-12)
        assert ami == pytest.approx([skm.adjusted_mutual_info_score(s, clusters)
                                     for s in shuffles], abs=1e-12)


def _chance(n: int, seed: int = 0) -> Chance:
    rng = np.random.default_rng(100 + n)
    return permutation_chance(np.arange(n) % 10, rng.integers(0, 10, n), seed=seed)


def test_chance_level_falls_with_the_test_size():
    """The 95th percentile of NMI under shuffles is most of the scale on 20 tracks and a
    few hundredths on 1,000; AMI's stays near 0 but is wider on few tracks."""
    small, large = _chance(20), _chance(1000)
    assert small.nmi > 0.6 and large.nmi < 0.04
    assert small.nmi_median < small.nmi and small.nmi_spread > 5 * large.nmi_spread
    assert 0.0 < large.ami < 0.01 < small.ami < 0.3
    assert small.n_permutations == 200


def test_chance_level_is_seeded():
    assert _chance(50, seed=3) == _chance(50, seed=3)
    assert _chance(50, seed=3) != _chance(50, seed=4)


def test_two_test_tracks_are_perfect_by_chance():
    """The 2-track GTZAN copy of the issue: every shuffle matches perfectly, so a perfect
    score there is the chance level itself."""
    chance = permutation_chance(np.array(["jazz", "rock"]), np.array([3, 7]), seed=0)
    assert chance.nmi == chance.ami == chance.nmi_median == 1.0 and chance.nmi_spread == 0.0


def test_small_test_reasons_name_the_size_and_the_margin():
    chance = Chance(nmi=0.5, ami=0.1, nmi_median=0.3, n_permutations=200)
    labels = np.repeat(["a", "b", "c", "d"], 2)  # 8 tracks, 4 genres: 2 per genre
    (size,) = small_test_reasons(labels, min_per_label=5, gain=0.25, chance=chance)
    assert "8 test tracks for 4 labels (2.0 per label" in size
    assert "evaluate.min_test_per_genre=5" in size
    assert small_test_reasons(labels, min_per_label=2, gain=0.25, chance=chance) == []
    (margin,) = small_test_reasons(labels, min_per_label=2, gain=-0.15, chance=chance)
    assert margin.startswith("|nmi_gain| 0.150 is within the chance spread of NMI 0.200")
    assert small_test_reasons(labels, min_per_label=2, gain=None, chance=chance) == []
