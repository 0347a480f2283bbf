"""The STFT and the features read from it or from the waveform frame by frame: the dB
scale, spectral centroid, bandwidth and roll-off, RMS and the zero-crossing rate.

Frames are centred with *reflect* padding, the default of the librosa releases the Kaggle
GTZAN table was made with (0.10 switched to zero padding). Each kernel reproduces the
librosa function it replaces, in librosa's float32/float64 steps
(tests/features/test_spectral.py).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numba import njit

from genrevae.features.kernels.banks import Setup

PAD_MODE = "reflect"
# librosa.feature.spectral_rolloff's default share of the frame's energy.
ROLL_PERCENT = 0.85
# librosa.feature.zero_crossing_rate's default: smaller magnitudes count as zero.
_ZC_THRESHOLD = 1e-10


def n_frames(n_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT over ``n_samples`` samples."""
    return 1 + n_samples // hop_length


def stft(y: np.ndarray, st: Setup) -> np.ndarray:
    """librosa.stft(y, n_fft, hop, pad_mode='reflect') of (B, n) float32 as (B, T, F)
    complex64 (frames first): float64 FFT of float64-windowed frames, rounded."""
    pad = st.n_fft // 2
    padded = np.pad(y, ((0, 0), (pad, pad)), mode=PAD_MODE)
    frames = np.lib.stride_tricks.sliding_window_view(padded, st.n_fft, axis=-1)[:, :: st.hop]
    out = np.empty((*frames.shape[:2], st.n_fft // 2 + 1), dtype=np.complex64)
    for b in range(len(y)):
        out[b] = scipy.fft.rfft(frames[b] * st.window, axis=-1)
    return out


def power_to_db(mel: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """librosa.power_to_db(ref=1.0, amin=1e-10, top_db) of each segment of (B, n_mels, T)
    (the top_db floor is per segment, as one call per segment sets it)."""
    log_mel = 10.0 * np.log10(np.maximum(np.float32(1e-10), mel))
    floor = log_mel.max(axis=(1, 2), keepdims=True) - np.float32(top_db)
    return np.maximum(log_mel, floor)


@njit(cache=True, nogil=True, error_model="numpy")
def spectral_shape(mag, freqs, roll, out):  # pragma: no cover - compiled
    """Per-frame spectral centroid, bandwidth (p=2) and roll-off of ``mag`` (B, T, F).

    ``out`` (3, B, T) float64. Centroid and bandwidth are the float64 moments of the
    L1-normalised frame (a frame summing below float32 tiny is left unnormalised, as
    librosa.util.normalize does); the roll-off is the first bin whose float32 running sum
    reaches ``roll`` x the float32 total, summed in librosa's (np.cumsum) order.
    """
    nb, nt, nf = mag.shape
    tiny = np.finfo(np.float32).tiny
    rollf = np.float32(roll)
    for b in range(nb):
        for t in range(nt):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            tot = np.float32(0)
            for f in range(nf):
                v = mag[b, t, f]
                fv = freqs[f]
                vd = np.float64(v)
                s0 += vd
                s1 += vd * fv
                s2 += vd * fv * fv
                tot += v
            norm = s0 if s0 >= tiny else 1.0
            c = s1 / norm
            var = (s2 - 2.0 * c * s1 + c * c * s0) / norm
            out[0, b, t] = c
            out[1, b, t] = np.sqrt(max(var, 0.0))
            thr = rollf * tot
            acc = np.float32(0)
            k = nf - 1
            for f in range(nf):
                acc += mag[b, t, f]
                if acc >= thr:
                    k = f
                    break
            out[2, b, t] = freqs[k]
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def rms_zcr(y, frame, hop, out):  # pragma: no cover - compiled
    """Per-frame RMS and zero-crossing rate of ``y`` (B, n) float32, as librosa computes
    them for centred frames: RMS over reflect-padded frames (``pad_mode='reflect'``), the
    zero-crossing rate over edge-padded ones (threshold 1e-10 in float32, zero counted as
    positive, the first sample of a frame never a crossing). ``out`` (2, B, 1 + n // hop)
    float64. Both come from running sums over the padded signal (float64 squares, integer
    crossing counts), so each sample is visited once rather than once per frame.
    """
    nb, n = y.shape
    nt = out.shape[2]
    pad = frame // 2
    total = n + 2 * pad
    thr = np.float32(_ZC_THRESHOLD)
    sq = np.empty(total + 1)
    zc = np.empty(total + 1, dtype=np.int64)
    for b in range(nb):
        sq[0] = 0.0
        zc[0] = 0
        zc[1] = 0
        prev = False
        for k in range(total):
            i = k - pad
            r = -i if i < 0 else i  # numpy 'reflect' (no edge repeat) for RMS
            if r >= n:
                r = 2 * n - 2 - r
            v = np.float64(y[b, r])
            sq[k + 1] = sq[k] + v * v
            x = y[b, min(max(i, 0), n - 1)]  # 'edge' padding for the crossings
            neg = np.signbit(x) and not (-thr <= x <= thr)
            if k > 0:
                zc[k + 1] = zc[k] + (neg != prev)
            prev = neg
        for t in range(nt):
            s = t * hop
            out[0, b, t] = np.sqrt(max(sq[s + frame] - sq[s], 0.0) / frame)
            out[1, b, t] = (zc[s + frame] - zc[s + 1]) / frame
    return out
