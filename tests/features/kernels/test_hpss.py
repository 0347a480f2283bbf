"""Harmonic/percussive separation against librosa and scipy: the sliding median bit for bit
(scipy.ndimage.median_filter, 'reflect' edges), the harmonic and percussive signals, and the
overlap-add synthesis."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.ndimage as ndi

from genrevae.features.kernels.banks import setup
from genrevae.features.kernels.frontend import front_numpy
from genrevae.features.kernels.hpss import inverse_wss, median_filter, overlap_add
from genrevae.features.kernels.spectral import stft

SR = 22050


@pytest.mark.parametrize(("shape", "levels"), [
    ((2, 130, 97), None),  # continuous values
    ((2, 70, 40), 4),      # many ties
    ((3, 7, 70), None),    # axis shorter than the window: reflections of reflections
    ((1, 31, 65), 2),
    ((1, 1, 5), None),     # one frame, fewer lanes than a pass holds
    ((2, 16, 130), 3),     # three passes of lanes, the last one partial
])
def test_median_filter_equals_scipy_reflect(rng, shape, levels):
    """Bit-identical to scipy.ndimage.median_filter(size=31 along axis 1, mode='reflect')."""
    x = rng.random(shape).astype(np.float32)
    if levels:
        x = np.round(x * levels).astype(np.float32)
    out = np.empty_like(x)
    median_filter(x, 31, out)
    np.testing.assert_array_equal(out, ndi.median_filter(x, size=(1, 31, 1), mode="reflect"))


def test_median_filter_on_strided_views(rng):
    """Along the last axis through transposed views (how the percussive filter runs)."""
    x = rng.random((260, 300)).astype(np.float32)
    out = np.empty_like(x)
    median_filter(x.T[None], 31, out.T[None])
    np.testing.assert_array_equal(out, ndi.median_filter(x, size=(1, 31), mode="reflect"))


def test_harmonic_percussive_signals_match_librosa(clip):
    """Mean and variance of the harmonic and percussive signals (median filters, masks,
    inverse STFT, percussive = y - harmonic) equal librosa.effects.hpss's."""
    front = front_numpy(clip[None], setup(SR, 2048, 512, 128))
    harm, perc = librosa.effects.hpss(y=clip, pad_mode="reflect")
    for got, ref in ((front.harmonic[0], harm), (front.percussive[0], perc)):
        assert abs(got[0] - np.mean(ref)) < 1e-7
        assert got[1] == pytest.approx(np.var(ref), rel=1e-5)


def test_overlap_add_inverts_the_stft(clip):
    """Our synthesis of an unmodified STFT gives back the signal, like librosa.istft."""
    st = setup(SR, 2048, 512, 128)
    spec = stft(clip[None], st)
    frames = np.fft.irfft(spec, n=2048, axis=-1).astype(np.float32)
    out = np.empty((1, len(clip)), dtype=np.float32)
    overlap_add(frames, st.window32, 512, inverse_wss(2048, 512, len(clip)), out)
    np.testing.assert_allclose(out[0], clip, atol=1e-6)
    ref = librosa.istft(stft_matrix=spec[0].T, hop_length=512, n_fft=2048, length=len(clip))
    np.testing.assert_allclose(out[0], ref, atol=1e-6)
