"""The linear probe: fit on the train split only, scored on the test split per segment and
per track (mean-probability vote, one verdict per track)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from genrevae.evaluation import probe as probe_module
from genrevae.evaluation.probe import MAX_ITER, ProbeInput, fit_orthogonal, linear_probe, span_basis

METRICS = {"segment_accuracy", "segment_macro_f1", "track_accuracy", "track_macro_f1"}


def corpus(rng: np.random.Generator, *, classes=("jazz", "metal", "pop"), tracks_per_class=6,
           segments=3, spread=0.3):
    """Separable segments: class k sits around 4 * e_k; tracks 0-3 of each class are train,
    4 val, 5 test. Returns (z, labels, split, track_ids)."""
    z, labels, split, tracks = [], [], [], []
    for k, name in enumerate(classes):
        for t in range(tracks_per_class):
            part = "train" if t < tracks_per_class - 2 else ("val" if t == tracks_per_class - 2
                                                             else "test")
            for _ in range(segments):
                centre = np.zeros(len(classes))
                centre[k] = 4.0
                z.append(centre + spread * rng.normal(size=len(classes)))
                labels.append(name)
                split.append(part)
                tracks.append(f"{name}.{t:02d}")
    return np.array(z), np.array(labels), np.array(split), np.array(tracks)


@pytest.mark.parametrize("segments", [1, 3])
def test_separable_data_scores_one(rng: np.random.Generator, segments: int) -> None:
    """Perfectly separable classes: accuracy and macro-F1 are 1 at segment and track level;
    the confusion matrix counts each test track once, on the diagonal."""
    z, labels, split, tracks = corpus(rng, segments=segments)
    result = linear_probe(z, labels, split, tracks, seed=0)
    assert set(result.metrics) == METRICS
    assert all(v == pytest.approx(1.0) for v in result.metrics.values())
    assert result.classes == ["jazz", "metal", "pop"]
    np.testing.assert_array_equal(result.confusion, np.eye(3, dtype=int))


def test_track_vote_uses_mean_probability(rng: np.random.Generator) -> None:
    """A test track with two segments barely on the wrong side and one far on the right
    side: majority vote would get it wrong, the mean probability gets it right."""
    z, labels, split, tracks = corpus(rng, classes=("a", "b"), segments=3, spread=1.5)
    z = z[:, :1] - z[:, 1:]  # 1-D: a on the right, b on the left, overlapping
    model = linear_probe(z, labels, split, tracks, seed=0).model
    # Points at chosen probabilities; the fit depends on the train rows only, kept below.
    grid = np.linspace(-10, 10, 4001)[:, None]
    p_a = model.predict_proba(grid)[:, list(model.classes_).index("a")]
    weak_b = grid[np.argmin(np.abs(p_a - 0.55))]  # slightly 'a'
    strong_b = grid[np.argmin(np.abs(p_a - 0.01))]  # clearly 'b'
    test_z = np.vstack([weak_b, weak_b, strong_b])
    train = split != "test"
    z2 = np.vstack([z[train], test_z])
    labels2 = np.concatenate([labels[train], ["b", "b", "b"]])
    split2 = np.concatenate([split[train], ["test"] * 3])
    tracks2 = np.concatenate([tracks[train], ["new"] * 3])
    result = linear_probe(z2, labels2, split2, tracks2, seed=0)
    proba = result.model.predict_proba(test_z)
    votes = result.model.classes_[proba.argmax(axis=1)]
    assert list(votes).count("a") == 2  # the majority vote says 'a'
    assert proba.mean(axis=0)[list(result.model.classes_).index("b")] > 0.5
    assert result.metrics["segment_accuracy"] == pytest.approx(1 / 3)
    assert result.metrics["track_accuracy"] == 1.0
    assert result.confusion.sum() == 1


def test_each_track_is_judged_once(rng: np.random.Generator) -> None:
    """One long test track right and one one-segment track wrong: segment accuracy is
    dominated by the long track, track accuracy is 1/2, and the confusion counts 2 tracks."""
    z, labels, split, tracks = corpus(rng, classes=("a", "b"), segments=2)
    train = split == "train"
    long_a = np.tile([4.0, 0.0], (10, 1))
    wrong = np.array([[0.0, 4.0]])  # looks like 'b', labelled 'a'
    z2 = np.vstack([z[train], long_a, wrong])
    labels2 = np.concatenate([labels[train], ["a"] * 11])
    split2 = np.concatenate([split[train], ["test"] * 11])
    tracks2 = np.concatenate([tracks[train], ["long"] * 10, ["short"]])
    result = linear_probe(z2, labels2, split2, tracks2, seed=0)
    assert result.metrics["segment_accuracy"] == pytest.approx(10 / 11)
    assert result.metrics["track_accuracy"] == pytest.approx(0.5)
    assert result.confusion.sum() == 2
    np.testing.assert_array_equal(result.confusion, [[1, 1], [0, 0]])


def test_classes_come_from_the_train_split(rng: np.random.Generator) -> None:
    """A label seen only in val or test is not a class; its test tracks count as wrong."""
    z, labels, split, tracks = corpus(rng)
    labels = labels.copy()
    labels[(split == "val") & (labels == "pop")] = "val-only"
    labels[(split == "test") & (labels == "pop")] = "test-only"
    result = linear_probe(z, labels, split, tracks, seed=0)
    assert result.classes == ["jazz", "metal", "pop"]
    assert list(result.model.classes_) == ["jazz", "metal", "pop"]
    assert result.metrics["track_accuracy"] == pytest.approx(2 / 3)
    assert result.confusion.shape == (3, 3)


def test_only_train_rows_fit_the_probe(rng: np.random.Generator) -> None:
    """Moving val and test rows leaves the fitted probe unchanged; moving a train row does not."""
    z, labels, split, tracks = corpus(rng)
    base = linear_probe(z, labels, split, tracks, seed=0).model[-1].coef_
    moved = z.copy()
    moved[split != "train"] += rng.normal(scale=5.0, size=moved[split != "train"].shape)
    np.testing.assert_array_equal(linear_probe(moved, labels, split, tracks, seed=0).model[-1].coef_,
                                  base)
    moved_train = z.copy()
    moved_train[np.flatnonzero(split == "train")[0]] += 3.0
    assert not np.allclose(linear_probe(moved_train, labels, split, tracks, seed=0).model[-1].coef_,
                           base)


@pytest.mark.parametrize("case", ["one-class", "no-test"])
def test_degenerate_splits_give_nan(rng: np.random.Generator, case: str) -> None:
    """Fewer than two train classes, or no test rows: NaN metrics and no model."""
    z, labels, split, tracks = corpus(rng)
    if case == "one-class":
        labels = np.where(split == "train", "jazz", labels)
    else:
        split = np.where(split == "test", "val", split)
    result = linear_probe(z, labels, split, tracks, seed=0)
    assert set(result.metrics) == METRICS
    assert all(math.isnan(v) for v in result.metrics.values())
    assert result.model is None


def test_wider_than_its_rows_the_probe_is_the_full_width_one(rng: np.random.Generator) -> None:
    """With more columns than train rows (a flattened log-mel) the probe is fit in the span
    of its standardised train rows; it is the same L2-penalised regression: the same C,
    weights and probabilities as scikit-learn's pipeline fit on every column."""
    z, labels, split, tracks = corpus(rng, tracks_per_class=10, segments=3, spread=2.0)
    # 400 columns for 72 train rows: the class signal in 3 of them, the rest noise.
    z = np.hstack([z, rng.normal(size=(len(z), 397))]).astype(np.float32)
    train = split == "train"
    c = probe_module._choose_c(z[train], labels[train], tracks[train], 0)

    def full_width(tol: float, x: np.ndarray = z):
        model = make_pipeline(StandardScaler(), LogisticRegression(
            max_iter=20000, tol=tol, C=c, random_state=0))
        return model.fit(x[train], labels[train])

    # Solved to the end (in float64), the two are one optimum.
    z64 = z.astype(np.float64)
    fold = probe_module.ProbeInput(z64[train])
    assert fold.coords.shape == (72, 71)  # centred: one direction fewer than rows
    exact = LogisticRegression(max_iter=20000, tol=1e-10, C=c, random_state=0)
    exact.fit(fold.coords, labels[train])
    np.testing.assert_allclose(exact.coef_ @ fold.basis.T,
                               full_width(1e-10, z64).steps[1][1].coef_, atol=1e-6)
    # At the default tolerance, the probe stops where scikit-learn's does, within it.
    ours = linear_probe(z, labels, split, tracks, seed=0)
    logreg = ours.model.steps[1][1]
    assert logreg.coef_.shape == (3, 400) and logreg.n_features_in_ == 400
    theirs = full_width(1e-4)
    optimum = full_width(1e-10, z64).predict_proba(z64)
    ours_off = np.abs(ours.model.predict_proba(z) - optimum).max()
    theirs_off = np.abs(theirs.predict_proba(z) - optimum).max()
    assert ours_off < 0.02 and ours_off <= theirs_off
    test = split == "test"
    assert ours.metrics["segment_accuracy"] == np.mean(theirs.predict(z[test]) == labels[test])


def test_span_basis_is_orthonormal_and_spans_the_rows(rng: np.random.Generator) -> None:
    x = rng.normal(size=(20, 300))
    x[5] = x[3] + x[4]  # rank 19
    basis = span_basis(x)
    assert basis.shape == (300, 19)
    np.testing.assert_allclose(basis.T @ basis, np.eye(19), atol=1e-9)
    np.testing.assert_allclose(x @ basis @ basis.T, x, atol=1e-9)
    assert span_basis(x[:, :15]) is None  # no wider than its rows: used as is


def orthogonal_columns(rng: np.random.Generator, n: int, labels: np.ndarray) -> np.ndarray:
    """Rows of a standardised, wider-than-tall input in its span basis: centred, orthogonal
    columns whose norms run over three orders of magnitude, shifted by class."""
    codes = np.unique(labels, return_inverse=True)[1]
    wide = rng.normal(size=(n, 300)) * np.logspace(0, 3, 300) + codes[:, None] * 0.8
    return ProbeInput(wide).coords


@pytest.mark.parametrize("classes", [("a", "b"), ("a", "b", "c", "d")])
def test_fit_orthogonal_reaches_scikit_learns_optimum(rng: np.random.Generator,
                                                      classes: tuple[str, ...]) -> None:
    """Binary and multinomial: solved tightly, the preconditioned fit and scikit-learn's are
    one model (probabilities, weights, intercepts where they are identified)."""
    labels = np.array([classes[i % len(classes)] for i in range(60)], dtype=object)
    x = orthogonal_columns(rng, 60, labels)
    np.testing.assert_allclose(x.T @ x, np.diag(np.diag(x.T @ x)), atol=1e-6 * np.abs(x).max() ** 2)
    for c in (0.01, 1.0):
        ours = fit_orthogonal(x, labels, c, gtol=1e-10, max_iter=50000)
        theirs = LogisticRegression(C=c, tol=1e-12, max_iter=100000).fit(x, labels)
        assert list(ours.classes_) == list(theirs.classes_)
        assert ours.coef_.shape == theirs.coef_.shape
        np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), atol=1e-6)
        np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-5)
        if len(classes) == 2:
            np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-5)


def test_fit_orthogonal_at_its_default_is_nearer_the_optimum(rng: np.random.Generator) -> None:
    """At the default tolerances, the preconditioned fit ends nearer the common optimum than
    scikit-learn's lbfgs at small and large C (how much faster it gets there is
    benchmarks/probe.py's to measure)."""
    labels = np.array([("a", "b", "c")[i % 3] for i in range(90)], dtype=object)
    x = orthogonal_columns(rng, 90, labels)
    for c in (0.01, 10.0):
        optimum = fit_orthogonal(x, labels, c, gtol=1e-11, max_iter=100000).predict_proba(x)
        ours = fit_orthogonal(x, labels, c)
        theirs = LogisticRegression(C=c, max_iter=MAX_ITER).fit(x, labels)
        assert (np.abs(ours.predict_proba(x) - optimum).max()
                <= np.abs(theirs.predict_proba(x) - optimum).max() + 1e-9)


def test_fit_orthogonal_refuses_one_class(rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match="two classes"):
        fit_orthogonal(rng.normal(size=(5, 8)), np.array(["a"] * 5), 1.0)


def test_test_tracks_of_labels_unseen_in_train_score_zero(rng: np.random.Generator) -> None:
    """Test tracks whose label the train split never had (a small split, e.g. one language's
    tracks) are simply wrong: no crash for a confusion matrix without a row for them."""
    z, labels, split, tracks = corpus(rng)
    labels = np.where(split == "test", "folk", labels)
    result = linear_probe(z, labels, split, tracks, seed=0)
    assert result.metrics["track_accuracy"] == 0.0
    assert result.confusion.shape == (3, 3) and not result.confusion.any()
