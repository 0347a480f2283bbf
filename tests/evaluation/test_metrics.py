"""Clustering indices, the evaluation report over representations and scopes, and baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA

from genrevae.evaluation.baselines import BASELINES, pca_baseline, representations
from genrevae.evaluation.clustering import NOISE
from genrevae.evaluation.metrics import (
    clustering_report,
    external_indices,
    has_lyrics_leakage,
    internal_indices,
    matched_accuracy,
    purity,
)
from genrevae.evaluation.report import SCOPES, evaluate_assignments, summary_table

INDEX_KEYS = ("silhouette", "davies_bouldin", "calinski_harabasz")
EXTERNAL_KEYS = ("ari", "nmi", "ami", "matched_accuracy", "purity")


def blobs(n: int = 90, centers: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_blobs(n_samples=n, centers=centers, n_features=4, cluster_std=1.0,
                      random_state=seed)
    return x, y


# ---------------------------------------------------------------- internal_indices


def test_internal_indices_match_sklearn() -> None:
    """Without noise the indices are sklearn's, with n_clusters and noise_fraction 0."""
    x, y = blobs()
    out = internal_indices(x, y)
    assert out["n_clusters"] == 3
    assert out["noise_fraction"] == 0.0
    assert out["silhouette"] == pytest.approx(skm.silhouette_score(x, y))
    assert out["davies_bouldin"] == pytest.approx(skm.davies_bouldin_score(x, y))
    assert out["calinski_harabasz"] == pytest.approx(skm.calinski_harabasz_score(x, y))


@pytest.mark.parametrize("n_noise", [1, 10, 45])
def test_internal_indices_exclude_noise(n_noise: int, rng: np.random.Generator) -> None:
    """Far-away points labelled -1 leave the indices unchanged and raise noise_fraction."""
    x, y = blobs()
    base = internal_indices(x, y)
    far = rng.normal(loc=1000.0, scale=50.0, size=(n_noise, x.shape[1]))
    order = rng.permutation(len(x) + n_noise)  # noise interleaved, not just appended
    xs = np.vstack([x, far])[order]
    ls = np.concatenate([y, np.full(n_noise, NOISE)])[order]
    out = internal_indices(xs, ls)
    for key in INDEX_KEYS:
        assert out[key] == pytest.approx(base[key], rel=1e-12), key
    assert out["n_clusters"] == base["n_clusters"]
    assert out["noise_fraction"] == pytest.approx(n_noise / (len(x) + n_noise))


def test_noise_as_a_cluster_would_change_indices(rng: np.random.Generator) -> None:
    """Sanity check of the above: labelling the far points 99 instead of -1 does change them."""
    x, y = blobs()
    far = rng.normal(loc=1000.0, scale=50.0, size=(10, x.shape[1]))
    out = internal_indices(np.vstack([x, far]), np.concatenate([y, np.full(10, 99)]))
    assert out["n_clusters"] == 4
    assert out["noise_fraction"] == 0.0
    assert out["silhouette"] != pytest.approx(internal_indices(x, y)["silhouette"])


@pytest.mark.parametrize(
    "labels",
    [np.zeros(90, dtype=int), np.full(90, NOISE), np.r_[np.zeros(60, dtype=int), np.full(30, -1)]],
    ids=["one-cluster", "all-noise", "one-cluster-plus-noise"],
)
def test_internal_indices_none_below_two_clusters(labels: np.ndarray) -> None:
    """Fewer than two non-noise clusters: every index is None."""
    x, _ = blobs()
    out = internal_indices(x, labels)
    assert out["n_clusters"] == len(set(labels.tolist()) - {NOISE})
    assert out["noise_fraction"] == pytest.approx(np.mean(labels == NOISE))
    for key in INDEX_KEYS:
        assert out[key] is None


def test_internal_indices_none_when_every_point_is_its_own_cluster() -> None:
    """As many clusters as points (silhouette undefined): indices None, no error."""
    x, _ = blobs(n=6)
    out = internal_indices(x, np.arange(6))
    assert out["n_clusters"] == 6
    assert all(out[key] is None for key in INDEX_KEYS)


def test_internal_indices_empty() -> None:
    """No points: zero clusters, zero noise, no indices."""
    out = internal_indices(np.zeros((0, 2)), np.zeros(0, dtype=int))
    assert out["n_clusters"] == 0 and out["noise_fraction"] == 0.0
    assert all(out[key] is None for key in INDEX_KEYS)


def test_silhouette_subsample_is_seeded() -> None:
    """Above max_silhouette points the silhouette is subsampled: repeatable per seed, close."""
    x, y = blobs(n=400)
    full = internal_indices(x, y)["silhouette"]
    a = internal_indices(x, y, seed=1, max_silhouette=100)["silhouette"]
    b = internal_indices(x, y, seed=1, max_silhouette=100)["silhouette"]
    c = internal_indices(x, y, seed=2, max_silhouette=100)["silhouette"]
    assert a == b
    assert a != c
    assert a == pytest.approx(full, abs=0.1)


# ---------------------------------------------------------------- external_indices


def test_external_perfect_and_permuted() -> None:
    """Perfect labels, and the same partition under other label names, score 1 on every
    external index (ARI, NMI, AMI, matched accuracy, purity)."""
    truth = np.array(["rock", "rock", "jazz", "jazz", "pop", "pop", "pop"])
    perfect = np.array([0, 0, 1, 1, 2, 2, 2])
    permuted = np.array([7, 7, -1, -1, 3, 3, 3])
    for labels in (perfect, permuted):
        out = external_indices(labels, truth)
        assert out == {"ari": pytest.approx(1.0), "nmi": pytest.approx(1.0),
                       "ami": pytest.approx(1.0), "matched_accuracy": pytest.approx(1.0),
                       "purity": pytest.approx(1.0)}


def test_external_noise_is_a_group_of_its_own() -> None:
    """Declaring points noise is not free: mixed-truth noise lowers every external index."""
    truth = np.repeat([0, 1, 2], 10)
    labels = truth.copy()
    labels[[0, 10, 20]] = NOISE
    out = external_indices(labels, truth)
    assert out["ari"] < 1.0 and out["nmi"] < 1.0
    # The noise group is matched to nothing (3 classes, 4 groups) and is 1/3 pure.
    assert out["matched_accuracy"] == pytest.approx(27 / 30)
    assert out["purity"] == pytest.approx(28 / 30)


def test_external_random_labels_near_zero(rng: np.random.Generator) -> None:
    """Labels independent of the truth give ARI and AMI about 0."""
    truth = np.repeat(np.arange(4), 250)
    out = external_indices(rng.integers(0, 4, size=1000), truth)
    assert abs(out["ari"]) < 0.02 and abs(out["ami"]) < 0.02
    assert 0.0 <= out["nmi"] < 0.02


def test_clustering_report_keys_and_values() -> None:
    """The report has the internal keys plus every external index per named truth, with
    matching values."""
    x, y = blobs()
    language = np.arange(len(y)) % 2
    report = clustering_report(x, y, {"genre": y, "language": language})
    assert set(report) == {"n_clusters", "noise_fraction", *INDEX_KEYS,
                           *(f"{k}_{t}" for k in EXTERNAL_KEYS for t in ("genre", "language"))}
    for key in EXTERNAL_KEYS:
        assert report[f"{key}_genre"] == pytest.approx(1.0), key
    expected = external_indices(y, language)
    for key in EXTERNAL_KEYS:
        assert report[f"{key}_language"] == pytest.approx(expected[key]), key
    assert report["silhouette"] == pytest.approx(internal_indices(x, y)["silhouette"])


# ---------------------------------------------------------------- report


@pytest.fixture
def table(rng: np.random.Generator):
    """An assignments frame (3 labelled columns), two representations, truths and splits.

    The test rows hold only clusters 0 and 1 of ``latent.kmeans`` while all rows hold 0, 1, 2,
    so a scope mix-up shows in ``n_clusters``.
    """
    n = 60
    split = np.array(["train"] * 30 + ["val"] * 10 + ["test"] * 20)
    genre = np.tile(np.repeat([0, 1, 2], 5), 4)
    latent = rng.normal(size=(n, 3)) + 5.0 * genre[:, None]
    pca = rng.normal(size=(n, 3))
    kmeans = genre.copy()
    kmeans[40:] = genre[40:] % 2
    dbscan = genre.copy()
    dbscan[::7] = NOISE
    frame = pd.DataFrame({
        "track_id": np.repeat(np.arange(12), 5),
        "segment_index": np.tile(np.arange(5), 12),
        "split": split,
        "latent.kmeans": kmeans,
        "latent.dbscan": dbscan,
        "pca.kmeans": rng.integers(0, 3, size=n),
    })
    reps = {"latent": latent, "pca": pca}
    truths = {"genre": genre, "language": np.arange(n) % 2}
    return frame, reps, truths, split


def test_evaluate_assignments_structure(table) -> None:
    """{rep: {algo: {'test', 'all'}}} for exactly the rep.algo columns."""
    frame, reps, truths, split = table
    out = evaluate_assignments(frame, reps, truths, split, seed=0)
    assert set(out) == {"latent", "pca"}
    assert set(out["latent"]) == {"kmeans", "dbscan"}
    assert set(out["pca"]) == {"kmeans"}
    for algos in out.values():
        for scopes in algos.values():
            assert set(scopes) == set(SCOPES) == {"test", "all"}
            for report in scopes.values():
                assert {"ari_genre", "nmi_genre", "ari_language", "nmi_language"} <= set(report)


@pytest.mark.parametrize("column", ["latent.kmeans", "latent.dbscan", "pca.kmeans"])
def test_evaluate_assignments_scopes_match_direct_computation(table, column: str) -> None:
    """Scope 'test' equals the report on test rows only; 'all' the report on every row."""
    frame, reps, truths, split = table
    out = evaluate_assignments(frame, reps, truths, split, seed=3)
    rep, algo = column.split(".")
    labels = frame[column].to_numpy()
    test = split == "test"
    expected_test = clustering_report(reps[rep][test], labels[test],
                                      {k: v[test] for k, v in truths.items()}, seed=3)
    expected_all = clustering_report(reps[rep], labels, truths, seed=3)
    assert out[rep][algo]["test"] == pytest.approx(expected_test)
    assert out[rep][algo]["all"] == pytest.approx(expected_all)


def test_evaluate_assignments_test_scope_uses_only_test_rows(table) -> None:
    """The test scope sees 2 clusters (test rows) where all data has 3; changing a
    non-test label leaves the test scope alone."""
    frame, reps, truths, split = table
    out = evaluate_assignments(frame, reps, truths, split, seed=0)
    assert out["latent"]["kmeans"]["test"]["n_clusters"] == 2
    assert out["latent"]["kmeans"]["all"]["n_clusters"] == 3
    changed = frame.copy()
    changed.loc[: 39, "latent.kmeans"] = 0
    again = evaluate_assignments(changed, reps, truths, split, seed=0)
    assert again["latent"]["kmeans"]["test"] == out["latent"]["kmeans"]["test"]
    assert again["latent"]["kmeans"]["all"] != out["latent"]["kmeans"]["all"]


def test_evaluate_assignments_without_test_rows(table) -> None:
    """No test rows: only the 'all' scope is reported."""
    frame, reps, truths, split = table
    no_test = np.where(split == "test", "val", split)
    out = evaluate_assignments(frame, reps, truths, no_test, seed=0)
    assert all(set(scopes) == {"all"} for algos in out.values() for scopes in algos.values())


@pytest.mark.parametrize("scope", ["test", "all"])
def test_summary_table(table, scope: str) -> None:
    """One row per representation x level x algorithm, carrying that scope's values; the
    probe is no clustering and gets no row."""
    frame, reps, truths, split = table
    results = evaluate_assignments(frame, reps, truths, split, seed=0)
    results["latent"]["probe"] = {"track_accuracy": 0.5}
    results["latent"]["track"] = {"mean": {scope: {"n_clusters": 7, "nmi_genre": 0.25}},
                                  "majority": {"other": {"n_clusters": 9}}}
    summary = summary_table(results, scope=scope)
    assert len(summary) == 4
    assert {"representation", "level", "algorithm", "ari_genre", "silhouette"} <= \
        set(summary.columns)
    row = summary[(summary.representation == "latent") & (summary.algorithm == "kmeans")]
    assert row["level"].item() == "segment"
    assert row["n_clusters"].item() == results["latent"]["kmeans"][scope]["n_clusters"]
    track = summary[summary.level == "track"]
    assert track["algorithm"].tolist() == ["kmeans:mean"] and track["n_clusters"].item() == 7


def test_summary_table_skips_missing_scope(table) -> None:
    """A scope that was not computed gives an empty table."""
    frame, reps, truths, split = table
    results = evaluate_assignments(frame, reps, truths, np.full(len(split), "train"), seed=0)
    assert len(summary_table(results, scope="test")) == 0
    assert len(summary_table(results, scope="all")) == 3


# ---------------------------------------------------------------- baselines


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_pca_baseline_dimension_and_fit_on_train(dim: int, rng: np.random.Generator) -> None:
    """The projection has ``dim`` columns and equals PCA fit on the train rows only."""
    x = rng.normal(size=(50, 8)) @ rng.normal(size=(8, 8))
    is_train = np.arange(50) < 30
    out = pca_baseline(x, is_train, dim=dim, seed=0)
    assert out.shape == (50, dim) and out.dtype == np.float32
    expected = PCA(n_components=dim, random_state=0).fit(x[is_train]).transform(x)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_pca_baseline_ignores_test_rows(rng: np.random.Generator) -> None:
    """Changing non-train rows changes no train row's projection; changing a train row does."""
    x = rng.normal(size=(40, 6)) * np.arange(1, 7)
    is_train = rng.random(40) < 0.6
    base = pca_baseline(x, is_train, dim=3, seed=0)
    moved = x.copy()
    moved[~is_train] = rng.normal(scale=100.0, size=((~is_train).sum(), 6))
    np.testing.assert_array_equal(pca_baseline(moved, is_train, dim=3, seed=0)[is_train],
                                  base[is_train])
    moved_train = x.copy()
    moved_train[np.flatnonzero(is_train)[0]] += 50.0
    assert not np.allclose(pca_baseline(moved_train, is_train, dim=3, seed=0)[is_train],
                           base[is_train])


@pytest.mark.parametrize(("n_train", "n_features", "expected"), [(3, 10, 3), (20, 2, 2)])
def test_pca_baseline_caps_dimension(n_train: int, n_features: int, expected: int,
                                     rng: np.random.Generator) -> None:
    """dim above the train rows or the features is capped, not an error."""
    x = rng.normal(size=(n_train + 5, n_features))
    is_train = np.arange(len(x)) < n_train
    assert pca_baseline(x, is_train, dim=8, seed=0).shape == (len(x), expected)


def test_pca_white_has_unit_train_variance_and_is_fit_on_train(rng: np.random.Generator) -> None:
    """Whitened PCA equals sklearn's PCA(whiten=True) fit on the train rows: unit variance
    per component on train rows; moving the test rows changes neither the projection of the
    train rows nor the map applied to the test rows."""
    x = rng.normal(size=(60, 6)) * np.arange(1, 7) + 3.0
    is_train = np.arange(60) % 4 != 0
    out = pca_baseline(x, is_train, dim=3, seed=0, whiten=True)
    assert out.shape == (60, 3) and out.dtype == np.float32
    expected = PCA(n_components=3, whiten=True, random_state=0).fit(x[is_train]).transform(x)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[is_train].var(axis=0, ddof=1), 1.0, rtol=1e-4)
    moved = x.copy()
    moved[~is_train] = rng.normal(scale=100.0, size=((~is_train).sum(), 6))
    again = pca_baseline(moved, is_train, dim=3, seed=0, whiten=True)
    np.testing.assert_array_equal(again[is_train], out[is_train])
    fit = PCA(n_components=3, whiten=True, random_state=0).fit(x[is_train])
    np.testing.assert_allclose(again[~is_train], fit.transform(moved[~is_train]), rtol=1e-4,
                               atol=1e-3)


def test_pca_white_drops_directions_without_train_variance(rng: np.random.Generator) -> None:
    """Input of rank 2 asked for 4 whitened components: the two without variance would be
    divided by ~0; they are dropped and the rest stay finite and of unit variance."""
    x = rng.normal(size=(40, 2)) @ rng.normal(size=(2, 10))
    is_train = np.arange(40) < 30
    out = pca_baseline(x, is_train, dim=4, seed=0, whiten=True)
    assert out.shape == (40, 2) and np.isfinite(out).all()
    np.testing.assert_allclose(out[is_train].var(axis=0, ddof=1), 1.0, rtol=1e-4)


def test_pca_white_of_constant_train_rows_stays_finite() -> None:
    """No train variance at all: nothing to whiten, the plain projection is returned."""
    x = np.ones((10, 5))
    x[8:] = 3.0
    is_train = np.arange(10) < 7
    with np.errstate(all="ignore"):  # sklearn divides by the zero total variance
        out = pca_baseline(x, is_train, dim=3, seed=0, whiten=True)
        plain = pca_baseline(x, is_train, dim=3, seed=0)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, plain)


def test_representations(rng: np.random.Generator) -> None:
    """Keys latent, pca, pca_white, raw (the baselines in BASELINES order); same rows; both
    PCAs have the latent's dimension; latent and raw as given."""
    latent = rng.normal(size=(30, 4)).astype(np.float32)
    features = rng.normal(size=(30, 12)).astype(np.float32)
    is_train = np.arange(30) % 3 != 0
    reps = representations(latent, features, is_train, seed=0)
    assert tuple(reps) == ("latent", *BASELINES) == ("latent", "pca", "pca_white", "raw")
    assert {len(v) for v in reps.values()} == {30}
    assert reps["pca"].shape == reps["pca_white"].shape == (30, 4)
    np.testing.assert_array_equal(reps["latent"], latent)
    np.testing.assert_array_equal(reps["raw"], features)
    np.testing.assert_array_equal(reps["pca"], pca_baseline(features, is_train, dim=4, seed=0))
    np.testing.assert_array_equal(reps["pca_white"], pca_baseline(features, is_train, dim=4,
                                                                  seed=0, whiten=True))


# ---------------------------------------------------------------- matched accuracy, purity


@pytest.mark.parametrize(
    ("truth", "labels", "matched", "pure"),
    [
        # 2 clusters vs 3 classes: the third class cannot be matched.
        (list("aaabbbccc"), [0, 0, 0, 0, 0, 0, 1, 1, 1], 6 / 9, 6 / 9),
        # Both clusters are mostly 'a': purity counts 'a' twice, matching only once.
        (list("aaaabb"), [0, 0, 1, 1, 0, 1], 3 / 6, 4 / 6),
        # One cluster per point: perfectly pure, but only 2 clusters can be matched.
        (list("aabb"), [0, 1, 2, 3], 2 / 4, 1.0),
        # Greedy (largest cell first: 0 -> 'a', then 1 -> 'b') would score 3/7; the best
        # one-to-one match (0 -> 'b', 1 -> 'a') scores 4/7.
        (list("aaabbaa"), [0, 0, 0, 0, 0, 1, 1], 4 / 7, 5 / 7),
        (list("aabbbc"), [0, 0, 0, 1, 1, 2], 5 / 6, 5 / 6),
        # Everything in one cluster: the majority class share.
        (list("aabbbb"), [5, 5, 5, 5, 5, 5], 4 / 6, 4 / 6),
    ],
)
def test_matched_accuracy_and_purity_hand_cases(truth, labels, matched, pure) -> None:
    """Hand-computed values; unmatched clusters count as wrong in matched accuracy."""
    truth, labels = np.array(truth), np.array(labels)
    assert matched_accuracy(labels, truth) == pytest.approx(matched)
    assert purity(labels, truth) == pytest.approx(pure)
    assert matched_accuracy(labels, truth) <= purity(labels, truth) + 1e-12
    renamed = np.array([f"c{v}" for v in labels])  # cluster names do not matter
    assert matched_accuracy(renamed, truth) == pytest.approx(matched)
    assert purity(renamed, truth) == pytest.approx(pure)


def test_matched_accuracy_is_symmetric_purity_is_not(rng: np.random.Generator) -> None:
    """Swapping clusters and classes keeps matched accuracy; purity rewards over-splitting."""
    truth = rng.integers(0, 3, size=200)
    labels = rng.integers(0, 7, size=200)
    assert matched_accuracy(labels, truth) == pytest.approx(matched_accuracy(truth, labels))
    assert purity(labels, truth) > purity(truth, labels)


@pytest.mark.parametrize(
    ("has", "labels", "nmi", "rule", "majority"),
    [
        ([1, 1, 1, 0, 0, 0], list("eeebbb"), 1.0, 1.0, 0.5),  # lyrics only for 'e'
        ([1, 0, 1, 0, 1, 0], list("eebbee"), None, 4 / 6, 4 / 6),  # uninformative
        ([1, 1, 1, 0, 0, 0], list("eeeebb"), None, 5 / 6, 4 / 6),  # partly informative
    ],
)
def test_has_lyrics_leakage(has, labels, nmi, rule, majority) -> None:
    """Rule accuracy (best has-lyrics -> label rule) against the majority baseline."""
    out = has_lyrics_leakage(np.array(has, dtype=bool), np.array(labels))
    assert out["rule_accuracy"] == pytest.approx(rule)
    assert out["majority_accuracy"] == pytest.approx(majority)
    assert out["rule_accuracy"] >= out["majority_accuracy"]
    if nmi is not None:
        assert out["nmi"] == pytest.approx(nmi)
    assert 0.0 <= out["nmi"] <= 1.0 + 1e-12
