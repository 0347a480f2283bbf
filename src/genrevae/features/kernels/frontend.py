"""The numpy front end: every per-frame feature of a batch of segments, on the CPU.

One STFT per segment feeds every family: the magnitude gives the spectral shape
(:mod:`~genrevae.features.kernels.spectral`) and the two HPSS median filters
(:mod:`~genrevae.features.kernels.hpss`); the power gives the mel spectrogram and the chroma, whose
tuning is estimated from the same power (:mod:`~genrevae.features.kernels.chroma`); the masked
complex STFT gives the harmonic signal. :class:`Front` is what a front end hands to the
reduction (:mod:`genrevae.features.audio`); :mod:`~genrevae.features.kernels.frontend_torch` is the
same on a torch device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from genrevae.features.kernels.banks import Setup
from genrevae.features.kernels.chroma import chroma_banks
from genrevae.features.kernels.hpss import (
    HPSS_KERNEL,
    harmonic_stft,
    inverse_wss,
    median_filter,
    overlap_add,
)
from genrevae.features.kernels.spectral import ROLL_PERCENT, power_to_db, rms_zcr, spectral_shape, stft


@dataclass
class Front:
    """Per-frame features of a batch of B segments of T frames (the heavy part)."""

    log_mel: np.ndarray  # (B, n_mels, T) float32, dB
    chroma: np.ndarray  # (B, 12, T) float32
    rms: np.ndarray  # (B, T)
    centroid: np.ndarray  # (B, T) Hz
    bandwidth: np.ndarray  # (B, T) Hz
    rolloff: np.ndarray  # (B, T) Hz
    zcr: np.ndarray  # (B, T)
    harmonic: np.ndarray  # (B, 2): mean and variance of the harmonic signal
    percussive: np.ndarray  # (B, 2): mean and variance of the percussive signal


def mean_var(x: np.ndarray) -> np.ndarray:
    """(B, 2) mean and variance over all but the first axis, in float64."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return np.stack([flat.mean(axis=1), flat.var(axis=1)], axis=1)


def front_numpy(y: np.ndarray, st: Setup) -> Front:
    """Per-frame features of segments ``y`` (B, n) float32 on the CPU (numpy + numba)."""
    nb, n = y.shape
    spec = stft(y, st)  # (B, T, F)
    _, nt, nf = spec.shape
    mag = np.abs(spec)
    power = mag * mag

    # Matrix products and FFTs run one segment at a time, so a segment's values do not
    # depend on the batch it is computed in (BLAS and FFT blocking follow the shapes).
    mel = np.stack([p @ st.mel_t for p in power])  # (B, T, n_mels)
    log_mel = np.ascontiguousarray(power_to_db(mel.transpose(0, 2, 1)))

    banks = chroma_banks(power, st)
    raw = np.stack([bank @ p.T for bank, p in zip(banks, power, strict=True)])  # (B, 12, T)
    peak = raw.max(axis=1, keepdims=True)
    chroma = raw / np.where(peak < np.finfo(np.float32).tiny, np.float32(1), peak)

    shape = np.empty((3, nb, nt))
    spectral_shape(mag, st.freqs, ROLL_PERCENT, shape)
    wave = np.empty((2, nb, nt))
    rms_zcr(y, st.n_fft, st.hop, wave)

    harm = np.empty_like(mag)
    median_filter(mag, HPSS_KERNEL, harm)
    perc = np.empty_like(mag)
    # Along frequency, with all the batch's frames as lanes: (1, F, B*T) strided views.
    median_filter(mag.reshape(nb * nt, nf).T[None], HPSS_KERNEL,
                  perc.reshape(nb * nt, nf).T[None])
    masked = np.empty_like(spec)
    harmonic_stft(spec.view(np.float32).reshape(-1), harm.reshape(-1), perc.reshape(-1),
                  masked.view(np.float32).reshape(-1))
    del harm, perc, spec
    frames = np.stack([scipy.fft.irfft(m, n=st.n_fft, axis=-1) for m in masked])
    y_harm = np.empty_like(y)
    overlap_add(frames, st.window32, st.hop, inverse_wss(st.n_fft, st.hop, n), y_harm)
    # The two soft masks sum to 1 and the STFT is perfectly invertible, so librosa's
    # istft(stft * mask_perc) is y - y_harm up to float32 rounding (~1e-7 relative).
    y_perc = y - y_harm

    return Front(log_mel=log_mel, chroma=chroma, rms=wave[0], centroid=shape[0],
                 bandwidth=shape[1], rolloff=shape[2], zcr=wave[1],
                 harmonic=mean_var(y_harm), percussive=mean_var(y_perc))
