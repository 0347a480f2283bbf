"""The chroma's tuning against librosa: piptrack on its band and the tuning estimate, bit
for bit."""

from __future__ import annotations

import librosa
import numpy as np

from genrevae.features.kernels.banks import setup
from genrevae.features.kernels.chroma import estimate_tuning, piptrack_band
from genrevae.features.kernels.spectral import stft

SR = 22050


def test_tuning_equals_librosa_estimate(clip, rng):
    """Piptrack on its band, then librosa's threshold and histogram: the same tuning as
    librosa.estimate_tuning on the power spectrogram, on music and on noise."""
    st = setup(SR, 2048, 512, 128)
    for y in (clip, rng.standard_normal(SR).astype(np.float32) * 0.1):
        power = np.abs(stft(y[None], st)) ** 2
        lo, hi = st.band
        pitch = np.empty((1, power.shape[1], hi - lo), dtype=np.float32)
        mags = np.empty_like(pitch)
        piptrack_band(power, lo, hi, SR, 2048, 0.1, pitch, mags)
        ref_pitch, ref_mags = librosa.piptrack(S=power[0].T, sr=SR)
        np.testing.assert_array_equal(pitch[0].T, ref_pitch[lo:hi])
        np.testing.assert_array_equal(mags[0].T, ref_mags[lo:hi])
        assert estimate_tuning(pitch[0], mags[0]) == librosa.estimate_tuning(S=power[0].T, sr=SR)
