"""The onset envelope and the tempo against librosa, exactly."""

from __future__ import annotations

import librosa
import numpy as np

from genrevae.features.kernels.rhythm import mean_tempogram, onset_strength, tempo

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


def test_mean_tempogram_equals_librosa(rng):
    """One inverse FFT per segment gives librosa's frame-mean tempogram to float64
    rounding: on random and spiky envelopes, on one that is zero but for one frame, and
    on silence (librosa leaves an all-zero frame unscaled, so the mean is zero)."""
    spiky = np.where(rng.random(130) < 0.1, rng.random(130) * 5, 0.0).astype(np.float32)
    one = np.zeros(130, dtype=np.float32)
    one[64] = 3.0
    envs = [rng.random(130).astype(np.float32), spiky, one, np.zeros(130, dtype=np.float32)]
    win = int(librosa.time_to_frames(8.0, sr=SR, hop_length=512))  # tempo's 8-s window
    for env in envs:
        ours = mean_tempogram(env, sr=SR, hop=512)
        ref = librosa.feature.tempogram(onset_envelope=env, sr=SR, hop_length=512,
                                        win_length=win).mean(axis=1)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-13 * max(1.0, np.abs(ref).max()))
    bpm = tempo(np.stack(envs), sr=SR, hop=512)
    assert list(bpm) == [librosa.feature.tempo(onset_envelope=e, sr=SR)[0] for e in envs]
