"""The torch front end against the numpy one (the features of features.device=cuda, run
here with torch on the CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from genrevae.data.synthetic import generate_track
from genrevae.features.audio import batch_features, handcrafted_columns
from tests.conftest import shared_or_generated

SR = 22050


def test_torch_path_matches_numpy_path():
    """The torch implementation (run here on the CPU; features.device=cuda runs it on a
    GPU) gives the numpy path's values within 1e-4 relative, on real (or, without
    ../shared/data, music-like) and generated audio."""
    pytest.importorskip("torch")
    real = shared_or_generated("disco/disco.00000.wav")
    generated = generate_track("metal", 1, languages=("english",), duration=1.0, sr=SR,
                               instrumental_fraction=0.2, seed=3).audio
    segments = np.stack([real[SR : 2 * SR], generated])
    kw = dict(sr=SR, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20)
    mel, feats = batch_features(segments, **kw)
    mel_t, feats_t = batch_features(segments, device="torch-cpu", **kw)
    np.testing.assert_allclose(mel_t, mel, rtol=0, atol=1e-3)  # dB
    # Absolute slack where values are ~0: the harmonic/percussive means by construction,
    # an MFCC mean by chance (a sum of float32 dB values, ~1e-5 dB apart between the two).
    atol = np.array([1e-6 if c in ("harmony_mean", "perceptr_mean")
                     else 1e-4 if c.startswith("mfcc") and c.endswith("_mean") else 0.0
                     for c in handcrafted_columns()])
    assert np.all(np.abs(feats_t - feats) <= atol + 1e-4 * np.abs(feats))
