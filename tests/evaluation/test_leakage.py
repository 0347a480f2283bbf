"""What the lyrics alone give away: "has lyrics" as a rule, and a probe on the embedding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genrevae.evaluation.leakage import lyrics_leakage, lyrics_probe, lyrics_probe_within


def _tracks(n_per_class: int, classes=("jazz", "metal", "pop")):
    """Tracks per class, every fourth one test, the rest train; ids, labels, split."""
    labels = np.repeat(classes, n_per_class)
    split = np.where(np.arange(len(labels)) % 4 == 0, "test", "train")
    return np.array([f"t{i:03d}" for i in range(len(labels))]), labels, split


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


def _two_languages(n: int, rng: np.random.Generator):
    """``n`` tracks a language; in each, genre goes with language (en mostly rock, de mostly
    pop) and, within it, a second label ``mood`` is random. Every fourth track is test."""
    language = np.repeat(["en", "de"], n)
    genre = np.where(rng.random(2 * n) < 0.8, np.where(language == "en", "rock", "pop"),
                     np.where(language == "en", "pop", "rock"))
    split = np.where(np.arange(2 * n) % 4 == 0, "test", "train")
    return np.array([f"t{i:03d}" for i in range(2 * n)]), language, genre, split


def test_a_language_with_one_train_genre_predicts_it() -> None:
    """'de' holds only pop among its train tracks: its test tracks are predicted pop (no
    probe can be fit), and they still count in the pooled accuracy."""
    ids = np.array([f"t{i}" for i in range(16)])
    language = np.repeat(["en", "de"], 8)
    genre = np.array(["rock", "pop"] * 4 + ["pop"] * 6 + ["rock", "pop"])
    split = np.array((["train"] * 6 + ["test"] * 2) * 2)
    embedding = np.stack([genre == "rock", genre == "pop"], axis=1) * 3.0
    out = lyrics_probe_within(embedding, np.ones(16, dtype=bool), genre, language, split, ids,
                              seed=0)
    # en: both test tracks right; de: 'rock' wrong, 'pop' right.
    assert out["accuracy"] == pytest.approx(3 / 4)
    assert out["majority_accuracy"] == pytest.approx(2 / 4)  # en's tie goes to 'pop'
