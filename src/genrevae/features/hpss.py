"""Harmonic/percussive separation (librosa.decompose.hpss, power 2, margin 1): the two
median filters of the magnitude, the soft mask and the inverse STFT.

librosa filters with ``scipy.ndimage.median_filter``, a generic rank filter, which made
HPSS the dominant cost of the whole feature set (benchmarks/README.md). :func:`median_filter`
is an exact sliding median instead (same 'reflect' edges, so bit-identical output) that
keeps the rank of every window element, for 128 lanes at a time, and updates it with a
few vector operations per element and step. The masks multiply the same STFT, and the
percussive signal is ``y`` minus the harmonic one (the masks sum to 1 and the STFT is
invertible: one inverse STFT, not two).
"""

from __future__ import annotations

import functools

import librosa
import numpy as np
from numba import njit

from genrevae.features.spectral import n_frames

# HPSS median filter length (librosa.decompose.hpss default), in frames and in bins.
HPSS_KERNEL = 31
# Lanes per pass of the median filter: the window's values and ranks for this many lanes
# stay in cache, and the inner loops vectorise across them.
_LANES = 128


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
    ``scipy.ndimage.median_filter(x, size=(1, k, 1), mode='reflect')`` bit for bit.
    Lanes (axis 2) are processed 128 at a time: every window element carries its rank
    (ordered by value, then age), updated with two comparisons per step when the oldest
    element leaves and the new one enters; the median is the element of rank ``k//2``.
    """
    nb, n, width = x.shape
    # Ranks are small integers kept in float32: numba widens int32 arithmetic to int64,
    # which would halve the SIMD width; float32 keeps 16 lanes per AVX-512 register.
    h = np.float32(k // 2)
    one = np.float32(1)
    zero = np.float32(0)
    lanes = _LANES
    vals = np.empty((k, lanes), dtype=np.float32)
    ranks = np.empty((k, lanes), dtype=np.float32)
    old = np.empty(lanes, dtype=np.float32)
    new = np.empty(lanes, dtype=np.float32)
    cnt = np.empty(lanes, dtype=np.float32)
    med = np.empty(lanes, dtype=np.float32)
    for b in range(nb):
        for l0 in range(0, width, lanes):
            m = min(lanes, width - l0)
            for j in range(k):
                src = _reflect(j - k // 2, n)
                for lane in range(lanes):
                    vals[j, lane] = x[b, src, l0 + lane] if lane < m else np.float32(0)
            for j in range(k):
                rj = ranks[j]
                vj = vals[j]
                for lane in range(lanes):
                    rj[lane] = 0
                for i in range(k):
                    vi = vals[i]
                    if i < j:
                        for lane in range(lanes):
                            rj[lane] += one if vi[lane] <= vj[lane] else np.float32(0)
                    else:
                        for lane in range(lanes):
                            rj[lane] += one if vi[lane] < vj[lane] else np.float32(0)
            for lane in range(lanes):
                med[lane] = 0
            for j in range(k):
                vj = vals[j]
                rj = ranks[j]
                for lane in range(lanes):
                    med[lane] += vj[lane] if rj[lane] == h else np.float32(0)
            for lane in range(m):
                out[b, 0, l0 + lane] = med[lane]
            for t in range(1, n):
                slot = (t - 1) % k
                src = _reflect(t + k // 2, n)
                for lane in range(lanes):
                    old[lane] = vals[slot, lane]
                    nv = x[b, src, l0 + lane] if lane < m else np.float32(0)
                    new[lane] = nv
                    vals[slot, lane] = nv
                    ranks[slot, lane] = np.float32(-4 * k)  # never h during the update below
                    cnt[lane] = -1
                    med[lane] = 0
                for j in range(k):
                    vj = vals[j]
                    rj = ranks[j]
                    for lane in range(lanes):
                        w = vj[lane]
                        gt = w > new[lane]
                        r = rj[lane] + (one if gt else zero) - (one if w >= old[lane] else zero)
                        rj[lane] = r
                        cnt[lane] += zero if gt else one
                        med[lane] += w if r == h else zero
                for lane in range(lanes):
                    c = cnt[lane]
                    ranks[slot, lane] = c
                    med[lane] += new[lane] if c == h else np.float32(0)
                for lane in range(m):
                    out[b, t, l0 + lane] = med[lane]
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
