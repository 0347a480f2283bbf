"""Lyrics leakage, the slow cases (a probe fit per target and language, seconds each); the
quick ones are in tests/evaluation/test_leakage.py, whose helpers these use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genrevae.evaluation.leakage import lyrics_probe, lyrics_probe_within
from tests.evaluation.test_leakage import _tracks, _two_languages


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



@pytest.mark.parametrize("where", ["train", "test"])
def test_a_target_with_one_class_is_not_probed(where: str, rng: np.random.Generator) -> None:
    """Fewer than two classes among the train (or test) tracks with lyrics: null."""
    ids, genre, split = _tracks(6)
    language = np.where(split == where, "en", np.where(np.arange(len(ids)) % 3, "en", "de"))
    out = lyrics_probe(rng.normal(size=(len(ids), 3)), np.ones(len(ids), dtype=bool),
                       {"genre": genre, "language": language}, split, ids, seed=0)
    assert out["language"] is None and out["genre"] is not None



def test_lyrics_that_only_name_the_language_score_the_languages_majority(
        rng: np.random.Generator) -> None:
    """The embedding is the language's one-hot: across languages it names genre well above
    the overall majority, but inside each language it knows nothing, so its accuracy is
    that of each language's most common genre, which is what ``majority_accuracy`` says."""
    ids, language, genre, split = _two_languages(120, rng)
    embedding = np.stack([language == "en", language == "de"], axis=1) * 3.0
    embedding = embedding + rng.normal(scale=0.01, size=embedding.shape)
    has = np.ones(len(ids), dtype=bool)
    plain = lyrics_probe(embedding, has, {"genre": genre}, split, ids, seed=0)["genre"]
    within = lyrics_probe_within(embedding, has, genre, language, split, ids, seed=0)
    assert plain["accuracy"] > plain["majority_accuracy"] + 0.05
    test = split == "test"
    expected = np.mean(np.where(language[test] == "en", "rock", "pop") == genre[test])
    assert within["majority_accuracy"] == pytest.approx(expected)
    assert within["accuracy"] == pytest.approx(within["majority_accuracy"], abs=0.05)
    assert (within["n_test"], within["n_train"], within["n_groups"]) == (
        int(test.sum()), int((~test).sum()), 2)



def test_lyrics_that_know_the_genre_inside_each_language_score_high(
        rng: np.random.Generator) -> None:
    """The embedding is the genre's one-hot: inside each language it is right every time,
    well above each language's most common genre; tracks without lyrics count nowhere."""
    ids, language, genre, split = _two_languages(120, rng)
    embedding = np.stack([genre == "rock", genre == "pop"], axis=1) * 3.0
    embedding = embedding + rng.normal(scale=0.1, size=embedding.shape)
    has = np.arange(len(ids)) % 5 != 2
    embedding[~has] = np.nan
    within = lyrics_probe_within(embedding, has, genre, language, split, ids, seed=0)
    assert within["accuracy"] == 1.0 and within["majority_accuracy"] < 0.9
    assert within["n_test"] == int(((split == "test") & has).sum())



def test_one_language_is_not_probed_within(rng: np.random.Generator) -> None:
    """With one language (or one with no test tracks) the probe inside it is the plain one."""
    ids, genre, split = _tracks(12)
    out = lyrics_probe_within(rng.normal(size=(len(ids), 3)), np.ones(len(ids), dtype=bool),
                              genre, np.full(len(ids), "en"), split, ids, seed=0)
    assert out is None
    language = np.where(split == "test", "en", np.where(np.arange(len(ids)) % 2, "en", "de"))
    out = lyrics_probe_within(rng.normal(size=(len(ids), 3)), np.ones(len(ids), dtype=bool),
                              genre, language, split, ids, seed=0)
    assert out is None
