"""The chroma's tuning: librosa's ``piptrack`` and ``estimate_tuning``, and the chroma
filter bank of each segment's tuning.

librosa runs piptrack over every bin and frame; :func:`piptrack_band` does the same
arithmetic on the 150-4000 Hz band it keeps (same float32/float64 steps, so the same
peaks, magnitudes and tuning histogram, bit for bit). The tuning jumps with the last bit
of the power spectrogram, so both front ends compute it here, from numpy's power.
"""

from __future__ import annotations

import librosa
import numpy as np
from numba import njit

from genrevae.features.kernels.banks import Setup, chroma_bank

# Piptrack's peak threshold (librosa.core.pitch.piptrack default), relative to the frame's
# maximum; its band is in genrevae.features.kernels.banks.
PIP_THRESHOLD = 0.1


@njit(cache=True, nogil=True, error_model="numpy")
def piptrack_band(power, lo, hi, sr, n_fft, threshold, pitch, mags):  # pragma: no cover
    """librosa.piptrack (ref=np.max) on ``power`` (B, T, F) float32, restricted to the
    bins ``lo <= f < hi`` it keeps: ``pitch``, ``mags`` (B, T, hi - lo) float32, zero
    where a bin is not a thresholded local maximum.

    The arithmetic mirrors librosa's: np.gradient and the dskew term in float32, the
    parabolic shift as its numba stencil computes it (float64 from float32 sums), the
    pitch as float64 rounded to float32.
    """
    nb, nt, nf = power.shape
    thr = np.float32(threshold)
    half = np.float32(0.5)
    two = np.float32(2.0)
    scale = np.float64(sr) / n_fft
    for b in range(nb):
        for t in range(nt):
            mx = power[b, t, 0]
            for f in range(1, nf):
                mx = max(mx, power[b, t, f])
            ref = thr * mx
            for f in range(lo, hi):
                x0 = power[b, t, f]
                s0 = x0 if x0 > ref else np.float32(0)
                pitch[b, t, f - lo] = 0
                mags[b, t, f - lo] = 0
                if f == 0:
                    continue  # the first bin is never a local maximum
                xm = power[b, t, f - 1]
                sm = xm if xm > ref else np.float32(0)
                if f == nf - 1:
                    if not s0 > sm:
                        continue
                    shift = np.float32(0)
                    avg = x0 - xm
                else:
                    xp = power[b, t, f + 1]
                    sp = xp if xp > ref else np.float32(0)
                    if not (s0 > sm and s0 >= sp):
                        continue
                    a = np.float64(xp + xm) - 2.0 * np.float64(x0)
                    bb = np.float64(xp - xm) / 2.0
                    shift = np.float32(0) if abs(bb) >= abs(a) else np.float32(-bb / a)
                    avg = (xp - xm) / two
                dskew = half * avg * shift
                pitch[b, t, f - lo] = np.float32((f + np.float64(shift)) * scale)
                mags[b, t, f - lo] = x0 + dskew
    return pitch, mags


def estimate_tuning(pitch: np.ndarray, mags: np.ndarray) -> float:
    """librosa.estimate_tuning from piptrack's output of one segment (any shape)."""
    voiced = pitch > 0
    if not voiced.any():
        return 0.0
    threshold = np.median(mags[voiced])
    freqs = pitch[(mags >= threshold) & voiced]
    if freqs.size == 0:
        return 0.0
    return float(librosa.pitch_tuning(frequencies=freqs, resolution=0.01, bins_per_octave=12))


def chroma_banks(power: np.ndarray, st: Setup) -> np.ndarray:
    """The chroma filter bank of each segment's estimated tuning.

    Parameters
    ----------
    power : np.ndarray [shape=(B, T, n_fft // 2 + 1), dtype=float32]
        Power spectrogram of each segment, frames first.

    Returns
    -------
    np.ndarray [shape=(B, 12, n_fft // 2 + 1), dtype=float32]
    """
    nb, nt, _ = power.shape
    lo, hi = st.band
    pitch = np.empty((nb, nt, hi - lo), dtype=np.float32)
    pmag = np.empty_like(pitch)
    piptrack_band(power, lo, hi, st.sr, st.n_fft, PIP_THRESHOLD, pitch, pmag)
    return np.stack([chroma_bank(st.sr, st.n_fft, estimate_tuning(pitch[b], pmag[b]))
                     for b in range(nb)])
