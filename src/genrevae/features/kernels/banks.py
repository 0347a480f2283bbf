"""What every feature family shares for one (sr, n_fft, hop_length, n_mels), built once and
cached: the analysis window, the mel filter bank, the bin frequencies and the band of bins
piptrack keeps for the chroma tuning; and the chroma filter bank, one per tuning."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import librosa
import numpy as np

# Piptrack's band (librosa.core.pitch.piptrack defaults), used for the chroma tuning.
PIP_FMIN, PIP_FMAX = 150.0, 4000.0


@dataclass(frozen=True)
class Setup:
    """Filter banks and windows for one (sr, n_fft, hop_length, n_mels)."""

    sr: int
    n_fft: int
    hop: int
    n_mels: int
    window: np.ndarray  # (n_fft,) float64 periodic Hann, as librosa.stft uses it
    window32: np.ndarray  # (n_fft,) float32
    mel_t: np.ndarray  # (n_fft // 2 + 1, n_mels) float32: librosa.filters.mel, transposed
    freqs: np.ndarray  # (n_fft // 2 + 1,) float64 bin frequencies, Hz
    band: tuple[int, int]  # piptrack's bins [lo, hi)


@functools.lru_cache(maxsize=8)
def setup(sr: int, n_fft: int, hop: int, n_mels: int) -> Setup:
    """The :class:`Setup` of one analysis shape (cached: every batch of a corpus reuses it)."""
    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float64)
    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    fmax = min(PIP_FMAX, float(sr) / 2)
    keep = np.flatnonzero((freqs >= PIP_FMIN) & (freqs < fmax))
    band = (int(keep[0]), int(keep[-1]) + 1) if keep.size else (0, 0)
    return Setup(sr, n_fft, hop, n_mels, window, window.astype(np.float32),
                 np.ascontiguousarray(mel.T, dtype=np.float32), freqs, band)


@functools.lru_cache(maxsize=512)
def chroma_bank(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    """librosa's chroma filter bank for one tuning (12, n_fft // 2 + 1) float32."""
    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12)
