"""Rhythm: the onset envelope and the tempo, from the log-mel spectrogram.

The tempo is librosa's beat-tracker estimate, whose onset envelope aggregates mel bands
with the median rather than the mean (the convention of the Kaggle GTZAN table).
:func:`tempo` is librosa's mean tempogram with one inverse FFT per segment in place of
one per frame (same BPM).
"""

from __future__ import annotations

import functools

import librosa
import numpy as np
import scipy.fft


def onset_strength(log_mel: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
    """librosa.onset.onset_strength(S=log_mel, aggregate=np.median, lag=1, center=True)
    of each segment of (B, n_mels, T): (B, T) float32."""
    diff = np.maximum(np.float32(0), log_mel[:, :, 1:] - log_mel[:, :, :-1])
    env = np.median(diff, axis=1)
    pad = 1 + n_fft // (2 * hop)
    return np.pad(env, ((0, 0), (pad, 0)))[:, : log_mel.shape[2]]


@functools.lru_cache(maxsize=8)
def _tempo_setup(sr: int, hop: int) -> tuple[int, np.ndarray, int, np.ndarray, np.ndarray]:
    """librosa.feature.tempo's defaults: 8-s autocorrelation window (frames), its Hann
    window, the FFT length, the log-normal prior around 120 BPM (-inf above 320 BPM) and
    the BPM of each lag."""
    win = int(librosa.time_to_frames(8.0, sr=sr, hop_length=hop))
    window = librosa.filters.get_window("hann", win, fftbins=True)
    n_pad = scipy.fft.next_fast_len(2 * win - 1, real=True)
    bpms = librosa.tempo_frequencies(win, hop_length=hop, sr=sr)
    with np.errstate(divide="ignore"):
        logprior = -0.5 * (np.log2(bpms) - np.log2(120.0)) ** 2
    logprior[: int(np.argmax(bpms < 320.0))] = -np.inf
    return win, window, n_pad, logprior, bpms


def mean_tempogram(env: np.ndarray, *, sr: int, hop: int) -> np.ndarray:
    """The frame mean of librosa.feature.tempogram(onset_envelope=env) for one segment's
    envelope (T,): (win,) float64, one value per lag.

    librosa takes one inverse FFT per frame, scales each frame's autocorrelation by its
    peak and averages. The onset envelope and the window are non-negative, so each
    frame's peak is its lag-0 value, the frame's energy; and the inverse FFT is linear, so
    the mean of the scaled autocorrelations is the inverse FFT of the energy-weighted mean
    of the frames' power spectra: one inverse FFT per segment. It moves the mean by
    float64 rounding only (a few 1e-16 of its peak).
    """
    win, window, n_pad, _, _ = _tempo_setup(sr, hop)
    padded = np.pad(env, (win // 2, win // 2), mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[: len(env)] * window
    spec = scipy.fft.rfft(frames, n=n_pad, axis=-1)
    energy = np.einsum("ij,ij->i", frames, frames)
    # A frame whose peak is below float64 tiny is left unscaled, as librosa's
    # util.normalize leaves it.
    weight = 1.0 / np.where(energy < np.finfo(np.float64).tiny, 1.0, energy)
    mean_power = weight @ (spec.real**2 + spec.imag**2) / len(env)
    return scipy.fft.irfft(mean_power, n=n_pad)[:win]


def tempo(onset: np.ndarray, *, sr: int, hop: int) -> np.ndarray:
    """librosa.feature.tempo(onset_envelope=...) of each row of ``onset`` (B, T): the
    BPM maximising the prior-weighted mean of the normalised windowed autocorrelation
    (:func:`mean_tempogram`). Returns (B,) float64 BPM."""
    _, _, _, logprior, bpms = _tempo_setup(sr, hop)
    out = np.empty(len(onset))
    for b, env in enumerate(onset):
        tg = mean_tempogram(env, sr=sr, hop=hop)
        out[b] = bpms[np.argmax(np.log1p(1e6 * tg) + logprior)]
    return out
