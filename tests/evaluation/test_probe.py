"""The linear probe: fit on the train split only, scored on the test split per segment and
per track (mean-probability vote, one verdict per track)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genrevae.evaluation.probe import ProbeInput, fit_orthogonal, linear_probe, span_basis

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
