"""Lyrics embeddings per track: TF-IDF + truncated SVD, or a packaged sentence encoder.

Everything is fit on the *train* tracks that have lyrics and then applied to all tracks.
Tracks without lyrics get a row of NaN and ``has_lyrics = False``: missing lyrics are
marked, never silently zero-filled.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from genrevae.config import LyricsConfig
from genrevae.errors import ConfigError, DataError
from genrevae.io import has_lyrics

log = logging.getLogger(__name__)


def _reduce(fit_on: np.ndarray, transform: np.ndarray, dim: int, seed: int, *, sparse: bool):
    """Fit a ``dim``-component reducer on ``fit_on`` and apply it to ``transform``.

    The number of components is capped by the train data's rank; the output is padded
    with zero columns up to ``dim`` so downstream shapes never depend on the corpus.
    """
    n_comp = min(dim, fit_on.shape[0] - 1, fit_on.shape[1] - 1)
    if n_comp < 1:
        raise DataError(f"too few train tracks with lyrics ({fit_on.shape[0]}) to embed lyrics")
    if n_comp < dim:
        log.warning("lyrics: only %d components can be fit (asked for %d); padding with zeros",
                    n_comp, dim)
    if sparse:
        reducer = TruncatedSVD(n_components=n_comp, random_state=seed)
    else:
        reducer = PCA(n_components=n_comp, random_state=seed)
    reducer.fit(fit_on)
    out = np.zeros((transform.shape[0], dim), dtype=np.float32)
    out[:, :n_comp] = reducer.transform(transform)
    return out


def tfidf_vectorizer(cfg: LyricsConfig) -> TfidfVectorizer:
    """Word n-grams (``analyzer=word``) or character n-grams inside word boundaries
    (``analyzer=char``, for scripts such as Bengali where English tokenisation is wrong)."""
    analyzer = "word" if cfg.analyzer == "word" else "char_wb"
    return TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=(cfg.ngram_min, cfg.ngram_max),
        max_features=cfg.max_features or None,
        min_df=cfg.min_df,
        sublinear_tf=True,
        # \w+ keeps Bengali vowel signs inside words (the default pattern splits them off).
        token_pattern=r"(?u)[\w\u0980-\u09FF]+" if analyzer == "word" else None,
    )


def _sentence_encode(texts: list[str], model_package: str) -> np.ndarray:
    """Encode with a sentence-transformers model shipped as an installed package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import importlib

    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ConfigError(
            "lyrics.backend: 'sentence' needs the optional extra: "
            "pip install -c constraints.txt -e '.[sentence]'"
        ) from exc
    module_name = model_package.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"lyrics.model: package {model_package!r} is not installed") from exc
    # Packaged models expose their folder as get_model_path() or MODEL_DIR, else ./model.
    if hasattr(module, "get_model_path"):
        model_dir = module.get_model_path()
    else:
        model_dir = getattr(module, "MODEL_DIR", Path(module.__file__).parent / "model")
    model = SentenceTransformer(str(model_dir), device="cpu")
    return np.asarray(model.encode(texts, batch_size=32, show_progress_bar=True), dtype=np.float32)


def embed_lyrics(
    lyrics: Sequence[str | None], is_train: Sequence[bool], cfg: LyricsConfig, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Embed each track's lyrics.

    Parameters
    ----------
    lyrics : sequence of str or None, shape (n_tracks,)
    is_train : sequence of bool, shape (n_tracks,)
        Only train tracks with lyrics are used to fit the vectoriser and reducer.

    Returns
    -------
    embedding : np.ndarray [shape=(n_tracks, cfg.dim), dtype=float32]
        NaN rows where a track has no lyrics.
    has_lyrics : np.ndarray [shape=(n_tracks,), dtype=bool]
    """
    has = np.array([has_lyrics(t) for t in lyrics], dtype=bool)
    train = has & np.asarray(is_train, dtype=bool)
    out = np.full((len(has), cfg.dim), np.nan, dtype=np.float32)
    if not train.any():
        log.warning("lyrics: no train track has lyrics; every track is marked as without lyrics")
        return out, np.zeros_like(has)
    texts = [str(t) for t, h in zip(lyrics, has, strict=True) if h]
    train_rows = train[has]
    if cfg.backend == "tfidf":
        vec = tfidf_vectorizer(cfg)
        vec.fit([t for t, r in zip(texts, train_rows, strict=True) if r])
        x = vec.transform(texts)
        log.info("lyrics: TF-IDF vocabulary of %d %s n-grams", len(vec.vocabulary_), cfg.analyzer)
        out[has] = _reduce(x[train_rows], x, cfg.dim, seed, sparse=True)
    else:
        x = _sentence_encode(texts, cfg.model or "")
        out[has] = _reduce(x[train_rows], x, cfg.dim, seed, sparse=False)
    return out, has
