"""Per-segment audio features: column names in the Kaggle GTZAN order, shapes, values equal
to plain librosa calls on the waveform, and batches. The torch path is tested in
test_frontend_torch.py, cutting files into segments in test_workers.py and extracting a
corpus in tests/slow/features/test_extraction.py."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from genrevae.data.synthetic import generate_track
from genrevae.features.audio import (
    batch_features,
    handcrafted_columns,
    n_frames,
    segment_features,
)
from genrevae.features.kernels.reference import naive_features
from tests.conftest import shared_or_generated

SR = 22050


def _synthetic(genre: str = "rock", index: int = 0, seconds: float = 2.0) -> np.ndarray:
    return generate_track(genre, index, languages=("english",),
                          duration=seconds, sr=SR, instrumental_fraction=0.2, seed=3).audio


def test_handcrafted_columns_length_and_order():
    """57 distinct names: 8 spectral (mean, var) pairs, tempo, then 20 MFCC pairs."""
    cols = handcrafted_columns()
    assert len(cols) == 57
    assert len(set(cols)) == 57
    assert cols[:4] == ["chroma_stft_mean", "chroma_stft_var", "rms_mean", "rms_var"]
    assert cols[16] == "tempo"
    assert cols[-2:] == ["mfcc20_mean", "mfcc20_var"]


@pytest.mark.parametrize("n_mfcc", [1, 13, 20, 40])
def test_handcrafted_columns_follow_n_mfcc(n_mfcc):
    """The MFCC block has one (mean, var) pair per coefficient."""
    cols = handcrafted_columns(n_mfcc)
    assert len(cols) == 17 + 2 * n_mfcc
    assert cols[-1] == f"mfcc{n_mfcc}_var"


def test_handcrafted_columns_match_kaggle_header(shared_data):
    """The names equal the Kaggle table's feature columns (all but filename, length, label)."""
    with (shared_data / "gtzan_features_30_sec.csv").open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[:2] == ["filename", "length"]
    assert header[-1] == "label"
    assert handcrafted_columns() == header[2:-1]


@pytest.mark.parametrize(("n_samples", "hop", "n_mels", "n_mfcc"), [
    (22050, 512, 128, 20),
    (11025, 256, 64, 13),
    (16000, 512, 40, 10),
])
def test_segment_features_shapes(n_samples, hop, n_mels, n_mfcc):
    """log-mel is (n_mels, 1 + n // hop) float32 within an 80-dB range; features are finite."""
    y = _synthetic("disco", 0, 1.0)[:n_samples]
    log_mel, feats = segment_features(y, sr=SR, n_fft=2048, hop_length=hop, n_mels=n_mels,
                                      n_mfcc=n_mfcc)
    assert log_mel.shape == (n_mels, 1 + n_samples // hop) == (n_mels, n_frames(n_samples, hop))
    assert log_mel.dtype == np.float32
    assert float(log_mel.max() - log_mel.min()) <= 80.0 + 1e-3
    assert feats.shape == (len(handcrafted_columns(n_mfcc)),)
    assert np.all(np.isfinite(feats))


def _naive_reference(y: np.ndarray, sr: int) -> np.ndarray:
    """One librosa call per feature on the waveform (genrevae.features.kernels.reference)."""
    return naive_features(y, sr)[1]


def _assert_matches_reference(y: np.ndarray) -> None:
    _, feats = segment_features(y, sr=SR, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20)
    reference = _naive_reference(y, SR)
    cols = handcrafted_columns()
    # Harmonic/percussive means are ~0, so relative error is meaningless there.
    atol = np.array([1e-6 if c in ("harmony_mean", "perceptr_mean") else 0.0 for c in cols])
    bad = [(c, f, r) for c, f, r, a in zip(cols, feats, reference, atol, strict=True)
           if abs(f - r) > a + 1e-4 * abs(r)]
    assert not bad, bad


def test_segment_features_equal_naive_librosa_on_generated_track():
    """On a 2-s synthetic track every feature equals the direct librosa computation."""
    _assert_matches_reference(_synthetic("rock", 4, 2.0))


def test_segment_features_equal_naive_librosa_on_real_gtzan():
    """On the first 3 s of a real GTZAN WAV (generated music without ../shared/data) every
    feature equals librosa's direct value."""
    y = shared_or_generated("blues/blues.00000.wav")
    _assert_matches_reference(np.ascontiguousarray(y[: 3 * SR]))


def test_batch_features_equal_naive_librosa_on_real_segments():
    """Four consecutive 3-s segments of a real WAV (generated music without ../shared/data),
    computed as one batch: every segment's features equal the naive recipe on that segment
    alone."""
    y = shared_or_generated("metal/metal.00000.wav")
    segments = y[: 4 * 3 * SR].reshape(4, 3 * SR)
    _, feats = batch_features(segments, sr=SR, n_fft=2048, hop_length=512, n_mels=128,
                              n_mfcc=20)
    cols = handcrafted_columns()
    for seg, ours in zip(segments, feats, strict=True):
        ref = _naive_reference(seg, SR)
        bad = [(c, f, r) for c, f, r in zip(cols, ours, ref, strict=True)
               if abs(f - r) > (1e-6 if c in ("harmony_mean", "perceptr_mean") else 0)
               + 1e-4 * abs(r)]
        assert not bad, bad


def test_batch_features_do_not_depend_on_the_batch():
    """A segment's log-mel and features are bit-identical alone and inside a batch."""
    y = _synthetic("reggae", 2, 3.0).reshape(3, SR)
    kw = dict(sr=SR, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20)
    mel_all, feats_all = batch_features(y, **kw)
    for i in range(3):
        mel, feats = batch_features(y[i : i + 1], **kw)
        np.testing.assert_array_equal(mel[0], mel_all[i])
        np.testing.assert_array_equal(feats[0], feats_all[i])
