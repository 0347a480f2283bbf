"""Rhythm: the onset envelope and the tempo, from the log-mel spectrogram.

The tempo is librosa's beat-tracker estimate, whose onset envelope aggregates mel bands
with the median rather than the mean (the convention of the Kaggle GTZAN table).
:func:`tempo` is librosa's tempogram with each frame's autocorrelation along a contiguous
axis (same float64 steps, same BPM).
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


def tempo(onset: np.ndarray, *, sr: int, hop: int) -> np.ndarray:
    """librosa.feature.tempo(onset_envelope=...) of each row of ``onset`` (B, T): the
    BPM maximising the prior-weighted mean of the normalised windowed autocorrelation.
    The same float64 steps as librosa's tempogram, with each frame's FFT along a
    contiguous axis. Returns (B,) float64 BPM."""
    win, window, n_pad, logprior, bpms = _tempo_setup(sr, hop)
    out = np.empty(len(onset))
    for b, env in enumerate(onset):
        padded = np.pad(env, (win // 2, win // 2), mode="linear_ramp", end_values=(0, 0))
        frames = np.lib.stride_tricks.sliding_window_view(padded, win)[: len(env)] * window
        spec = scipy.fft.rfft(frames, n=n_pad, axis=-1)
        ac = scipy.fft.irfft(spec.real**2 + spec.imag**2, n=n_pad, axis=-1)[:, :win]
        peak = np.abs(ac).max(axis=1, keepdims=True)
        tg = (ac / np.where(peak < np.finfo(ac.dtype).tiny, 1.0, peak)).mean(axis=0)
        out[b] = bpms[np.argmax(np.log1p(1e6 * tg) + logprior)]
    return out
