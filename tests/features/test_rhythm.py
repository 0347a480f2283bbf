"""The onset envelope and the tempo against librosa, exactly."""

from __future__ import annotations

import librosa
import numpy as np

from genrevae.features.rhythm import onset_strength, tempo

SR = 22050


def test_onset_and_tempo_equal_librosa(rng):
    """Median-aggregated onset envelope (bit for bit) and the tempo estimate (same BPM)
    on random and smooth log-mel spectrograms."""
    for trial in range(40):
        log_mel = (rng.random((2, 128, 130)) * 80 - 80).astype(np.float32)
        if trial % 2:
            log_mel = np.cumsum(log_mel, axis=2) / np.float32(10)
        onset = onset_strength(log_mel, n_fft=2048, hop=512)
        bpm = tempo(onset, sr=SR, hop=512)
        for b in range(2):
            ref = librosa.onset.onset_strength(S=log_mel[b], sr=SR, aggregate=np.median)
            np.testing.assert_array_equal(onset[b], ref)
            assert bpm[b] == librosa.feature.tempo(onset_envelope=ref, sr=SR)[0]
