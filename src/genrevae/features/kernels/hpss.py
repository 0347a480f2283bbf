"""Harmonic/percussive separation (librosa.decompose.hpss, power 2, margin 1): the two
median filters of the magnitude, the soft mask and the inverse STFT.

librosa filters with ``scipy.ndimage.median_filter``, a generic rank filter, which made
HPSS the dominant cost of the whole feature set (benchmarks/README.md). :func:`median_filter`
is an exact sliding median instead (same 'reflect' edges, so bit-identical output) that
keeps each window sorted, for 64 lanes at a time, and moves it on by one element with a
few vector operations per element and step. The masks multiply the same STFT, and the
percussive signal is ``y`` minus the harmonic one (the masks sum to 1 and the STFT is
invertible: one inverse STFT, not two).
"""

from __future__ import annotations

import functools

import librosa
import numpy as np
from numba import njit

from genrevae.features.kernels.spectral import n_frames

# HPSS median filter length (librosa.decompose.hpss default), in frames and in bins.
HPSS_KERNEL = 31
# Lanes per pass of the median filter: each lane's sorted window stays in cache, and the
# inner loops vectorise across lanes (64 is the fastest of 32, 64 and 128, benchmarks/README.md).
_LANES = 64


@njit(cache=True, nogil=True, inline="always")
def _reflect(j: int, n: int) -> int:
    """Index ``j`` folded into ``[0, n)`` the way scipy.ndimage's 'reflect' mode pads
    (d c b a | a b c d | d c b a), for any ``j``."""
    j = j % (2 * n)
    if j >= n:
        j = 2 * n - 1 - j
    return j


@njit(cache=True, nogil=True, error_model="numpy")
def median_filter(x, k, out):  # pragma: no cover - compiled
    """Sliding median of odd length ``k`` along axis 1 of ``x`` (any strides), with
    scipy.ndimage 'reflect' edges: ``out[b, t, l] = median(x[b, t-k//2 : t+k//2+1, l])``.

    Exact (the output is an element of the window, ties included), so it equals
    ``scipy.ndimage.median_filter(x, size=(1, k, 1), mode='reflect')`` bit for bit, for
    values that are not NaN. Lanes (axis 2) are processed 64 at a time, each keeping its
    window sorted. A step removes the element that leaves and inserts the one that enters
    in one branch-free pass: with ``L`` the sorted window without the leaving value ``o``
    (``L[j] = s[j]`` while ``s[j] < o``, else ``s[j + 1]``; ``+inf`` past the end), the new
    window is ``s'[j] = min(max(L[j - 1], new), L[j])`` (``L[-1] = -inf``), and the median
    is ``s'[k // 2]``.
    """
    nb, n, width = x.shape
    h = k // 2
    lanes = _LANES
    one = np.float32(1)
    zero = np.float32(0)
    inf = np.float32(np.inf)
    vals = np.empty((k, lanes), dtype=np.float32)
    rank = np.empty(lanes, dtype=np.float32)
    srt = np.empty((k + 1, lanes), dtype=np.float32)  # row k: the +inf past the end
    prev = np.empty(lanes, dtype=np.float32)
    old = np.empty(lanes, dtype=np.float32)
    new = np.empty(lanes, dtype=np.float32)
    for b in range(nb):
        for l0 in range(0, width, lanes):
            m = min(lanes, width - l0)
            for j in range(k):
                src = _reflect(j - h, n)
                for lane in range(lanes):
                    vals[j, lane] = x[b, src, l0 + lane] if lane < m else zero
            # The first window: each element goes to its rank (by value, then position).
            # Ranks are counted in float32: numba widens int32 arithmetic to int64, which
            # would halve the SIMD width.
            for j in range(k):
                vj = vals[j]
                for lane in range(lanes):
                    rank[lane] = 0
                for i in range(k):
                    vi = vals[i]
                    if i < j:
                        for lane in range(lanes):
                            rank[lane] += one if vi[lane] <= vj[lane] else zero
                    else:
                        for lane in range(lanes):
                            rank[lane] += one if vi[lane] < vj[lane] else zero
                for lane in range(lanes):
                    srt[int(rank[lane]), lane] = vj[lane]
            for lane in range(lanes):
                srt[k, lane] = inf
            for lane in range(m):
                out[b, 0, l0 + lane] = srt[h, lane]
            for t in range(1, n):
                leaving = _reflect(t - 1 - h, n)
                entering = _reflect(t + h, n)
                for lane in range(lanes):
                    old[lane] = x[b, leaving, l0 + lane] if lane < m else zero
                    new[lane] = x[b, entering, l0 + lane] if lane < m else zero
                    prev[lane] = -inf
                for j in range(k):
                    sj = srt[j]
                    after = srt[j + 1]
                    for lane in range(lanes):
                        v = sj[lane]
                        kept = v if v < old[lane] else after[lane]  # L[j]
                        p = prev[lane]  # L[j - 1]
                        nv = new[lane]
                        low = p if p > nv else nv
                        sj[lane] = low if low < kept else kept
                        prev[lane] = kept
                for lane in range(m):
                    out[b, t, l0 + lane] = srt[h, lane]
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def harmonic_stft(stft, harm, perc, out):  # pragma: no cover - compiled
    """The harmonic part of librosa.decompose.hpss (power 2, margin 1, hence
    ``split_zeros``): ``out = stft * mask`` with ``mask = (H/Z)**2 / ((H/Z)**2 + (P/Z)**2)``,
    ``Z = max(H, P)``, and 0.5 where ``Z`` is below float32 tiny; float32 arithmetic in
    librosa.util.softmask's order.

    ``stft``, ``out``: (2N,) float32 views of complex64 (real, imaginary interleaved);
    ``harm``, ``perc``: (N,) float32 medians.
    """
    tiny = np.float32(np.finfo(np.float32).tiny)
    one = np.float32(1)
    half = np.float32(0.5)
    for i in range(harm.shape[0]):
        hv = harm[i]
        pv = perc[i]
        z = max(hv, pv)
        ok = z >= tiny
        zs = z if ok else one
        a = hv / zs
        a = a * a
        c = pv / zs
        c = c * c
        mask = a / (a + c) if ok else half
        out[2 * i] = stft[2 * i] * mask
        out[2 * i + 1] = stft[2 * i + 1] * mask
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def overlap_add(frames, window, hop, inv_wss, out):  # pragma: no cover - compiled
    """Inverse-STFT synthesis of centred frames: ``frames`` (B, T, n_fft) float32 from
    irfft, ``window`` (n_fft,) float32, ``inv_wss`` (n,) the reciprocal window sum-square
    at each output sample; ``out`` (B, n) float32 receives the trimmed, normalised signal."""
    nb, nt, nfft = frames.shape
    n = out.shape[1]
    pad = nfft // 2
    for b in range(nb):
        ob = out[b]
        ob[:] = 0
        for t in range(nt):
            base = t * hop - pad
            j0 = max(0, -base)
            j1 = min(nfft, n - base)
            seg = ob[base + j0 : base + j1]
            fr = frames[b, t, j0:j1]
            w = window[j0:j1]
            for j in range(j1 - j0):
                seg[j] += fr[j] * w[j]
        for i in range(n):
            ob[i] *= inv_wss[i]
    return out


@functools.lru_cache(maxsize=8)
def inverse_wss(n_fft: int, hop: int, n: int) -> np.ndarray:
    """(n,) float32 reciprocal of the Hann window sum-square that librosa.istft divides a
    centred signal of ``n`` samples by (1 where that sum is below float32 tiny)."""
    frames = n_frames(n, hop)
    win_sq = librosa.filters.get_window("hann", n_fft, fftbins=True) ** 2
    wss = np.zeros(n_fft + hop * (frames - 1))
    for t in range(frames):
        wss[t * hop : t * hop + n_fft] += win_sq
    wss = wss[n_fft // 2 : n_fft // 2 + n].astype(np.float32)
    ok = wss > np.finfo(np.float32).tiny
    return np.where(ok, np.float32(1) / np.where(ok, wss, np.float32(1)), np.float32(1))
