"""What the lyrics alone give away: "has lyrics" as a rule, and a probe on the embedding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genrevae.evaluation.leakage import lyrics_leakage, lyrics_probe


def _tracks(n_per_class: int, classes=("jazz", "metal", "pop")):
    """Tracks per class, every fourth one test, the rest train; ids, labels, split."""
    labels = np.repeat(classes, n_per_class)
    split = np.where(np.arange(len(labels)) % 4 == 0, "test", "train")
    return np.array([f"t{i:03d}" for i in range(len(labels))]), labels, split


def test_predictive_lyrics_score_one_and_tracks_without_lyrics_are_left_out(
        rng: np.random.Generator) -> None:
    """The embedding is the genre's one-hot plus a little noise: the probe is perfect on
    the tracks with lyrics; NaN rows (no lyrics) are counted nowhere."""
    ids, genre, split = _tracks(12)
    classes = sorted(set(genre))
    embedding = np.eye(3)[[classes.index(g) for g in genre]] * 3.0
    embedding += rng.normal(scale=0.1, size=embedding.shape)
    has = np.arange(len(ids)) % 6 != 1
    embedding[~has] = np.nan
    language = np.where(np.arange(len(ids)) % 3 == 0, "en", "de")
    out = lyrics_probe(embedding, has, {"genre": genre, "language": language}, split, ids,
                       seed=0)
    assert set(out) == {"genre", "language"}
    g = out["genre"]
    assert g["accuracy"] == 1.0
    assert g["n_test"] == int(((split == "test") & has).sum())
    assert g["n_train"] == int(((split == "train") & has).sum())
    test_genres = genre[(split == "test") & has]
    counts = pd.Series(genre[(split == "train") & has]).value_counts()
    majority = sorted(counts[counts == counts.max()].index)[0]
    assert g["majority_accuracy"] == pytest.approx(np.mean(test_genres == majority))
    assert set(out["language"]) == {"accuracy", "majority_accuracy", "n_train", "n_test"}


def test_constant_lyrics_score_the_majority_class() -> None:
    """An embedding that is the same for every track says nothing: the probe falls back on
    the most common train label, whose accuracy is the majority's."""
    ids, genre, split = _tracks(8, classes=("a", "b"))
    genre = genre.copy()
    genre[[1, 2, 3]] = "b"  # 'b' is the majority among train tracks
    out = lyrics_probe(np.ones((len(ids), 4)), np.ones(len(ids), dtype=bool), {"genre": genre},
                       split, ids, seed=0)["genre"]
    assert out["majority_accuracy"] == pytest.approx(np.mean(genre[split == "test"] == "b"))
    assert out["accuracy"] == pytest.approx(out["majority_accuracy"])


def test_random_lyrics_score_near_the_majority(rng: np.random.Generator) -> None:
    ids, genre, split = _tracks(100, classes=("a", "b"))
    out = lyrics_probe(rng.normal(size=(len(ids), 6)), np.ones(len(ids), dtype=bool),
                       {"genre": genre}, split, ids, seed=0)["genre"]
    assert out["n_test"] == 50
    assert abs(out["accuracy"] - out["majority_accuracy"]) < 0.15


@pytest.mark.parametrize("where", ["train", "test"])
def test_a_target_with_one_class_is_not_probed(where: str, rng: np.random.Generator) -> None:
    """Fewer than two classes among the train (or test) tracks with lyrics: null."""
    ids, genre, split = _tracks(6)
    language = np.where(split == where, "en", np.where(np.arange(len(ids)) % 3, "en", "de"))
    out = lyrics_probe(rng.normal(size=(len(ids), 3)), np.ones(len(ids), dtype=bool),
                       {"genre": genre, "language": language}, split, ids, seed=0)
    assert out["language"] is None and out["genre"] is not None


def test_no_lyrics_at_all_is_not_probed() -> None:
    ids, genre, split = _tracks(4)
    out = lyrics_probe(np.full((len(ids), 3), np.nan), np.zeros(len(ids), dtype=bool),
                       {"genre": genre}, split, ids, seed=0)
    assert out == {"genre": None}


def test_has_lyrics_rule_per_label() -> None:
    """Language follows "has lyrics" exactly here; a label with one value is left out."""
    tracks = pd.DataFrame({"has_lyrics": [True, True, False, False],
                           "language": ["en", "en", "de", "de"], "source": ["x"] * 4})
    out = lyrics_leakage(tracks)
    assert set(out) == {"language"}
    assert out["language"]["rule_accuracy"] == 1.0 and out["language"]["majority_accuracy"] == 0.5
