"""The probe's slow cases (seconds each: fits to scikit-learn's optimum, a probe wider than
its rows, a track vote on a fine grid); the quick ones, whose helpers these use, are in
tests/evaluation/test_probe.py."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from genrevae.evaluation import probe as probe_module
from genrevae.evaluation.probe import MAX_ITER, fit_orthogonal, linear_probe
from tests.evaluation.test_probe import corpus, orthogonal_columns


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
