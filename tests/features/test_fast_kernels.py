"""The compiled pieces of the fast extractor, each against the librosa or scipy function it
replaces: exact where the original is exact (medians, onset envelope, tempo, tuning,
roll-off), within float rounding elsewhere."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.ndimage as ndi
import soundfile as sf

from genrevae.features.audio import (
    _ROLL_PERCENT,
    _estimate_tuning,
    _front_numpy,
    _inverse_wss,
    _median_filter,
    _onset_strength,
    _overlap_add,
    _piptrack_band,
    _rms_zcr,
    _setup,
    _spectral_shape,
    _stft,
    _tempo,
)

SR = 22050


@pytest.fixture(scope="module")
def clip(shared_data) -> np.ndarray:
    """Three seconds of a real GTZAN recording (float32)."""
    y, sr = sf.read(shared_data / "gtzan_sample" / "jazz" / "jazz.00000.wav", dtype="float32")
    assert sr == SR
    return np.ascontiguousarray(y[5 * SR : 8 * SR])


@pytest.mark.parametrize(("shape", "levels"), [
    ((2, 130, 97), None),  # continuous values
    ((2, 70, 40), 4),      # many ties
    ((3, 7, 70), None),    # axis shorter than the window: reflections of reflections
    ((1, 31, 65), 2),
])
def test_median_filter_equals_scipy_reflect(rng, shape, levels):
    """Bit-identical to scipy.ndimage.median_filter(size=31 along axis 1, mode='reflect')."""
    x = rng.random(shape).astype(np.float32)
    if levels:
        x = np.round(x * levels).astype(np.float32)
    out = np.empty_like(x)
    _median_filter(x, 31, out)
    np.testing.assert_array_equal(out, ndi.median_filter(x, size=(1, 31, 1), mode="reflect"))


def test_median_filter_on_strided_views(rng):
    """Along the last axis through transposed views (how the percussive filter runs)."""
    x = rng.random((260, 300)).astype(np.float32)
    out = np.empty_like(x)
    _median_filter(x.T[None], 31, out.T[None])
    np.testing.assert_array_equal(out, ndi.median_filter(x, size=(1, 31), mode="reflect"))


def test_stft_is_librosas(clip):
    """(B, T, F) complex64 equal to librosa.stft(pad_mode='reflect'), transposed."""
    st = _setup(SR, 2048, 512, 128)
    ours = _stft(clip[None], st)[0]
    ref = librosa.stft(y=clip, n_fft=2048, hop_length=512, pad_mode="reflect")
    np.testing.assert_allclose(ours.T, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_harmonic_percussive_signals_match_librosa(clip):
    """Mean and variance of the harmonic and percussive signals (median filters, masks,
    inverse STFT, percussive = y - harmonic) equal librosa.effects.hpss's."""
    front = _front_numpy(clip[None], _setup(SR, 2048, 512, 128))
    harm, perc = librosa.effects.hpss(y=clip, pad_mode="reflect")
    for got, ref in ((front.harmonic[0], harm), (front.percussive[0], perc)):
        assert abs(got[0] - np.mean(ref)) < 1e-7
        assert got[1] == pytest.approx(np.var(ref), rel=1e-5)


def test_overlap_add_inverts_the_stft(clip):
    """Our synthesis of an unmodified STFT gives back the signal, like librosa.istft."""
    st = _setup(SR, 2048, 512, 128)
    stft = _stft(clip[None], st)
    frames = np.fft.irfft(stft, n=2048, axis=-1).astype(np.float32)
    out = np.empty((1, len(clip)), dtype=np.float32)
    _overlap_add(frames, st.window32, 512, _inverse_wss(2048, 512, len(clip)), out)
    np.testing.assert_allclose(out[0], clip, atol=1e-6)
    ref = librosa.istft(stft_matrix=stft[0].T, hop_length=512, n_fft=2048, length=len(clip))
    np.testing.assert_allclose(out[0], ref, atol=1e-6)


def test_spectral_shape_equals_librosa(clip):
    """Centroid, bandwidth and roll-off per frame match librosa's on |STFT|; the roll-off
    (a threshold on a float32 running sum) exactly."""
    st = _setup(SR, 2048, 512, 128)
    mag = np.abs(_stft(clip[None], st))
    out = np.empty((3, 1, mag.shape[1]))
    _spectral_shape(mag, st.freqs, _ROLL_PERCENT, out)
    S = mag[0].T
    np.testing.assert_allclose(out[0, 0], librosa.feature.spectral_centroid(S=S, sr=SR)[0],
                               rtol=1e-5)
    np.testing.assert_allclose(out[1, 0], librosa.feature.spectral_bandwidth(S=S, sr=SR)[0],
                               rtol=1e-5)
    np.testing.assert_array_equal(out[2, 0], librosa.feature.spectral_rolloff(S=S, sr=SR)[0])


def test_tuning_equals_librosa_estimate(clip, rng):
    """Piptrack on its band, then librosa's threshold and histogram: the same tuning as
    librosa.estimate_tuning on the power spectrogram, on music and on noise."""
    st = _setup(SR, 2048, 512, 128)
    for y in (clip, rng.standard_normal(SR).astype(np.float32) * 0.1):
        power = np.abs(_stft(y[None], st)) ** 2
        lo, hi = st.band
        pitch = np.empty((1, power.shape[1], hi - lo), dtype=np.float32)
        mags = np.empty_like(pitch)
        _piptrack_band(power, lo, hi, SR, 2048, 0.1, pitch, mags)
        ref_pitch, ref_mags = librosa.piptrack(S=power[0].T, sr=SR)
        np.testing.assert_array_equal(pitch[0].T, ref_pitch[lo:hi])
        np.testing.assert_array_equal(mags[0].T, ref_mags[lo:hi])
        assert _estimate_tuning(pitch[0], mags[0]) == librosa.estimate_tuning(S=power[0].T, sr=SR)


def test_rms_and_zero_crossings_equal_librosa(clip, rng):
    """Reflect-padded RMS and edge-padded zero-crossing rate, including exact zeros and
    values inside the 1e-10 threshold."""
    noise = rng.standard_normal(SR).astype(np.float32)
    noise[::7] = 0.0
    noise[3::11] = 5e-11
    for y in (clip, noise):
        out = np.empty((2, 1, 1 + len(y) // 512))
        _rms_zcr(y[None], 2048, 512, out)
        np.testing.assert_allclose(out[0, 0], librosa.feature.rms(y=y, pad_mode="reflect")[0],
                                   rtol=1e-5)
        np.testing.assert_array_equal(out[1, 0], librosa.feature.zero_crossing_rate(y=y)[0])


def test_onset_and_tempo_equal_librosa(rng):
    """Median-aggregated onset envelope (bit for bit) and the tempo estimate (same BPM)
    on random and smooth log-mel spectrograms."""
    for trial in range(40):
        log_mel = (rng.random((2, 128, 130)) * 80 - 80).astype(np.float32)
        if trial % 2:
            log_mel = np.cumsum(log_mel, axis=2) / np.float32(10)
        onset = _onset_strength(log_mel, n_fft=2048, hop=512)
        tempo = _tempo(onset, sr=SR, hop=512)
        for b in range(2):
            ref = librosa.onset.onset_strength(S=log_mel[b], sr=SR, aggregate=np.median)
            np.testing.assert_array_equal(onset[b], ref)
            assert tempo[b] == librosa.feature.tempo(onset_envelope=ref, sr=SR)[0]
