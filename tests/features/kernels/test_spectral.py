"""The STFT and the frame-wise spectral and waveform features against librosa: the STFT
within float rounding, centroid and bandwidth within 1e-5, roll-off and zero-crossing rate
exactly, RMS within 1e-5."""

from __future__ import annotations

import librosa
import numpy as np

from genrevae.features.kernels.banks import setup
from genrevae.features.kernels.spectral import ROLL_PERCENT, rms_zcr, spectral_shape, stft

SR = 22050


def test_stft_is_librosas(clip):
    """(B, T, F) complex64 equal to librosa.stft(pad_mode='reflect'), transposed."""
    st = setup(SR, 2048, 512, 128)
    ours = stft(clip[None], st)[0]
    ref = librosa.stft(y=clip, n_fft=2048, hop_length=512, pad_mode="reflect")
    np.testing.assert_allclose(ours.T, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_spectral_shape_equals_librosa(clip):
    """Centroid, bandwidth and roll-off per frame match librosa's on |STFT|; the roll-off
    (a threshold on a float32 running sum) exactly."""
    st = setup(SR, 2048, 512, 128)
    mag = np.abs(stft(clip[None], st))
    out = np.empty((3, 1, mag.shape[1]))
    spectral_shape(mag, st.freqs, ROLL_PERCENT, out)
    S = mag[0].T
    np.testing.assert_allclose(out[0, 0], librosa.feature.spectral_centroid(S=S, sr=SR)[0],
                               rtol=1e-5)
    np.testing.assert_allclose(out[1, 0], librosa.feature.spectral_bandwidth(S=S, sr=SR)[0],
                               rtol=1e-5)
    np.testing.assert_array_equal(out[2, 0], librosa.feature.spectral_rolloff(S=S, sr=SR)[0])


def test_rms_and_zero_crossings_equal_librosa(clip, rng):
    """Reflect-padded RMS and edge-padded zero-crossing rate, including exact zeros and
    values inside the 1e-10 threshold."""
    noise = rng.standard_normal(SR).astype(np.float32)
    noise[::7] = 0.0
    noise[3::11] = 5e-11
    for y in (clip, noise):
        out = np.empty((2, 1, 1 + len(y) // 512))
        rms_zcr(y[None], 2048, 512, out)
        np.testing.assert_allclose(out[0, 0], librosa.feature.rms(y=y, pad_mode="reflect")[0],
                                   rtol=1e-5)
        np.testing.assert_array_equal(out[1, 0], librosa.feature.zero_crossing_rate(y=y)[0])
