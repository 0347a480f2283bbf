"""Audio features per segment: the log-mel spectrogram and the Kaggle GTZAN handcrafted set.

Everything spectral comes from one STFT per segment, and the segments of a track are
computed as one batch: the magnitude gives the spectral centroid, bandwidth and roll-off
and the two HPSS median filters; the power gives the mel spectrogram (hence the log-mel,
the MFCCs and the onset envelope the tempo is estimated from) and the chroma, whose
tuning is estimated from the same power spectrogram; the complex STFT, masked, gives the
harmonic and percussive signals. Only RMS and the zero-crossing rate, which are defined
on the waveform, read ``y``. Column names follow the Kaggle ``features_30_sec.csv`` /
``features_3_sec.csv`` tables.

Two conventions reproduce that table (within 1% on the real GTZAN clips, see
tests/features/test_kaggle_compat.py): frames are centred with *reflect* padding, the
default of the librosa releases the table was made with (0.10 switched to zero padding),
and the tempo is the beat tracker's estimate, whose onset envelope aggregates mel bands
with the median rather than the mean.

The values equal those of one librosa call per feature (the "naive recipe", see
tests/features/test_audio_features.py) within 1e-4 relative (measured: < 3e-5), at about
a twentieth of its cost (benchmarks/extract.py):

* HPSS: librosa filters with ``scipy.ndimage.median_filter``, a generic rank filter that
  costs ~90 ms per 3-s segment. :func:`_median_filter` is an exact sliding median (same
  'reflect' edges, so bit-identical output) that keeps the rank of every window element,
  for 128 lanes at a time, and updates it with a few vector operations per element and
  step. The masks multiply the same STFT, and the percussive signal is ``y`` minus the
  harmonic one (the masks sum to 1 and the STFT is invertible: one inverse STFT, not two).
* Tuning (chroma): librosa's ``piptrack`` over every bin and frame is replaced by the
  same arithmetic on the 150-4000 Hz band it keeps (same float32/float64 steps, so the
  same peaks, magnitudes and tuning histogram, bit for bit).
* Tempo: librosa's tempogram with each frame's autocorrelation along a contiguous axis
  (same float64 steps, same BPM); RMS and zero-crossing rate from running sums.
* Filter banks, windows and the chroma bank per tuning are built once and cached; the
  segments of a track go through each kernel together.

The STFT itself is librosa's: a float64 FFT of the float64-windowed float32 frames,
rounded to complex64. With ``device='cuda'`` the heavy part runs in torch on the GPU
(:func:`_front_torch`), with the same values within rounding.

:class:`genrevae.features.extraction.CorpusExtraction` runs this over a corpus: across
processes (or on the GPU), into preallocated memory-mapped arrays, resumable after a kill.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.fft
from numba import njit

from genrevae.errors import ConfigError

PAD_MODE = "reflect"
# HPSS median filter length (librosa.decompose.hpss default), in frames and in bins.
HPSS_KERNEL = 31
# Piptrack's band (librosa.core.pitch.piptrack defaults), used for the chroma tuning.
_PIP_FMIN, _PIP_FMAX, _PIP_THRESHOLD = 150.0, 4000.0, 0.1
_ROLL_PERCENT = 0.85
_ZC_THRESHOLD = 1e-10
_LANES = 128

_SPECTRAL = (
    "chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
    "zero_crossing_rate", "harmony", "perceptr",
)


def handcrafted_columns(n_mfcc: int = 20) -> list[str]:
    """Names of the handcrafted features, in the Kaggle GTZAN table's order."""
    cols = [f"{name}_{stat}" for name in _SPECTRAL for stat in ("mean", "var")]
    cols.append("tempo")
    cols += [f"mfcc{i}_{stat}" for i in range(1, n_mfcc + 1) for stat in ("mean", "var")]
    return cols


def n_frames(n_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT over ``n_samples`` samples."""
    return 1 + n_samples // hop_length


# --------------------------------------------------------------------------- kernels


@njit(cache=True, nogil=True, inline="always")
def _reflect(j: int, n: int) -> int:
    """Index ``j`` folded into ``[0, n)`` the way scipy.ndimage's 'reflect' mode pads
    (d c b a | a b c d | d c b a), for any ``j``."""
    j = j % (2 * n)
    if j >= n:
        j = 2 * n - 1 - j
    return j


@njit(cache=True, nogil=True, error_model="numpy")
def _median_filter(x, k, out):  # pragma: no cover - compiled
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
def _harmonic_stft(stft, harm, perc, out):  # pragma: no cover - compiled
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
def _spectral_shape(mag, freqs, roll, out):  # pragma: no cover - compiled
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
def _rms_zcr(y, frame, hop, out):  # pragma: no cover - compiled
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


@njit(cache=True, nogil=True, error_model="numpy")
def _piptrack_band(power, lo, hi, sr, n_fft, threshold, pitch, mags):  # pragma: no cover
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


@njit(cache=True, nogil=True, error_model="numpy")
def _overlap_add(frames, window, hop, inv_wss, out):  # pragma: no cover - compiled
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


# ----------------------------------------------------------------- shared set-up


@dataclass(frozen=True)
class _Setup:
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
def _setup(sr: int, n_fft: int, hop: int, n_mels: int) -> _Setup:
    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float64)
    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    fmax = min(_PIP_FMAX, float(sr) / 2)
    keep = np.flatnonzero((freqs >= _PIP_FMIN) & (freqs < fmax))
    band = (int(keep[0]), int(keep[-1]) + 1) if keep.size else (0, 0)
    return _Setup(sr, n_fft, hop, n_mels, window, window.astype(np.float32),
                  np.ascontiguousarray(mel.T, dtype=np.float32), freqs, band)


@functools.lru_cache(maxsize=8)
def _inverse_wss(n_fft: int, hop: int, n: int) -> np.ndarray:
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


@functools.lru_cache(maxsize=512)
def _chroma_bank(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    """librosa's chroma filter bank for one tuning (12, n_fft // 2 + 1) float32."""
    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12)


def _estimate_tuning(pitch: np.ndarray, mags: np.ndarray) -> float:
    """librosa.estimate_tuning from piptrack's output of one segment (any shape)."""
    voiced = pitch > 0
    if not voiced.any():
        return 0.0
    threshold = np.median(mags[voiced])
    freqs = pitch[(mags >= threshold) & voiced]
    if freqs.size == 0:
        return 0.0
    return float(librosa.pitch_tuning(frequencies=freqs, resolution=0.01, bins_per_octave=12))


def _power_to_db(mel: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """librosa.power_to_db(ref=1.0, amin=1e-10, top_db) of each segment of (B, n_mels, T)
    (the top_db floor is per segment, as one call per segment sets it)."""
    log_mel = 10.0 * np.log10(np.maximum(np.float32(1e-10), mel))
    floor = log_mel.max(axis=(1, 2), keepdims=True) - np.float32(top_db)
    return np.maximum(log_mel, floor)


@dataclass
class _Front:
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


def _mean_var(x: np.ndarray) -> np.ndarray:
    """(B, 2) mean and variance over all but the first axis, in float64."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return np.stack([flat.mean(axis=1), flat.var(axis=1)], axis=1)


def _stft(y: np.ndarray, st: _Setup) -> np.ndarray:
    """librosa.stft(y, n_fft, hop, pad_mode='reflect') of (B, n) float32 as (B, T, F)
    complex64 (frames first): float64 FFT of float64-windowed frames, rounded."""
    pad = st.n_fft // 2
    padded = np.pad(y, ((0, 0), (pad, pad)), mode=PAD_MODE)
    frames = np.lib.stride_tricks.sliding_window_view(padded, st.n_fft, axis=-1)[:, :: st.hop]
    out = np.empty((*frames.shape[:2], st.n_fft // 2 + 1), dtype=np.complex64)
    for b in range(len(y)):
        out[b] = scipy.fft.rfft(frames[b] * st.window, axis=-1)
    return out


def _front_numpy(y: np.ndarray, st: _Setup) -> _Front:
    """Per-frame features of segments ``y`` (B, n) float32 on the CPU (numpy + numba)."""
    nb, n = y.shape
    stft = _stft(y, st)  # (B, T, F)
    _, nt, nf = stft.shape
    mag = np.abs(stft)
    power = mag * mag

    # Matrix products and FFTs run one segment at a time, so a segment's values do not
    # depend on the batch it is computed in (BLAS and FFT blocking follow the shapes).
    mel = np.stack([p @ st.mel_t for p in power])  # (B, T, n_mels)
    log_mel = np.ascontiguousarray(_power_to_db(mel.transpose(0, 2, 1)))

    lo, hi = st.band
    pitch = np.empty((nb, nt, hi - lo), dtype=np.float32)
    pmag = np.empty_like(pitch)
    _piptrack_band(power, lo, hi, st.sr, st.n_fft, _PIP_THRESHOLD, pitch, pmag)
    banks = np.stack([_chroma_bank(st.sr, st.n_fft, _estimate_tuning(pitch[b], pmag[b]))
                      for b in range(nb)])
    raw = np.stack([bank @ p.T for bank, p in zip(banks, power, strict=True)])  # (B, 12, T)
    peak = raw.max(axis=1, keepdims=True)
    chroma = raw / np.where(peak < np.finfo(np.float32).tiny, np.float32(1), peak)

    shape = np.empty((3, nb, nt))
    _spectral_shape(mag, st.freqs, _ROLL_PERCENT, shape)
    wave = np.empty((2, nb, nt))
    _rms_zcr(y, st.n_fft, st.hop, wave)

    harm = np.empty_like(mag)
    _median_filter(mag, HPSS_KERNEL, harm)
    perc = np.empty_like(mag)
    # Along frequency, with all the batch's frames as lanes: (1, F, B*T) strided views.
    _median_filter(mag.reshape(nb * nt, nf).T[None], HPSS_KERNEL,
                   perc.reshape(nb * nt, nf).T[None])
    masked = np.empty_like(stft)
    _harmonic_stft(stft.view(np.float32).reshape(-1), harm.reshape(-1), perc.reshape(-1),
                   masked.view(np.float32).reshape(-1))
    del harm, perc, stft
    frames = np.stack([scipy.fft.irfft(m, n=st.n_fft, axis=-1) for m in masked])
    y_harm = np.empty_like(y)
    _overlap_add(frames, st.window32, st.hop, _inverse_wss(st.n_fft, st.hop, n), y_harm)
    # The two soft masks sum to 1 and the STFT is perfectly invertible, so librosa's
    # istft(stft * mask_perc) is y - y_harm up to float32 rounding (~1e-7 relative).
    y_perc = y - y_harm

    return _Front(log_mel=log_mel, chroma=chroma, rms=wave[0], centroid=shape[0],
                  bandwidth=shape[1], rolloff=shape[2], zcr=wave[1],
                  harmonic=_mean_var(y_harm), percussive=_mean_var(y_perc))


def _front_torch(y: np.ndarray, st: _Setup, device: str) -> _Front:
    """:func:`_front_numpy` with torch on ``device`` (a GPU, or the CPU for testing).

    The same quantities in the same precision: the STFT in float64 rounded to complex64,
    exact medians (unfold + median). Differences from the numpy path are float rounding
    (the FFT, the mel and chroma products and the inverse STFT are torch's). The
    quantities that jump with the last bit of the magnitudes (chroma tuning, roll-off),
    RMS and the zero-crossing rate are computed on the CPU, from the device's STFT.
    """
    import torch

    dev = torch.device(device)
    nb, n = y.shape
    nfft, hop, k = st.n_fft, st.hop, HPSS_KERNEL
    yt = torch.from_numpy(y).to(dev)
    pad = nfft // 2
    padded = torch.nn.functional.pad(yt[:, None, :], (pad, pad), mode="reflect")[:, 0]
    window = torch.from_numpy(st.window).to(dev)
    spec = torch.fft.rfft(padded.unfold(-1, nfft, hop).double() * window, dim=-1)
    spec = spec.to(torch.complex64)  # (B, T, F)
    _, nt, nf = spec.shape
    mag = spec.abs()
    power = mag * mag

    mel = (power.double() @ torch.from_numpy(st.mel_t).to(dev).double()).float()
    log_mel = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
    floor = log_mel.amax(dim=(1, 2), keepdim=True) - 80.0
    log_mel = torch.maximum(log_mel, floor).transpose(1, 2).contiguous()  # (B, n_mels, T)

    # Tuning (piptrack peaks feed a histogram) and roll-off (a threshold on a float32
    # running sum) jump with the last bit of the magnitudes, so they are computed on the
    # CPU from numpy's |STFT|, exactly as the numpy path does; the rest stays here.
    mag_np = np.abs(spec.cpu().numpy())
    power_np = mag_np * mag_np
    lo, hi = st.band
    pitch_np = np.empty((nb, nt, hi - lo), dtype=np.float32)
    pmag_np = np.empty_like(pitch_np)
    _piptrack_band(power_np, lo, hi, st.sr, nfft, _PIP_THRESHOLD, pitch_np, pmag_np)
    shape = np.empty((3, nb, nt))
    _spectral_shape(mag_np, st.freqs, _ROLL_PERCENT, shape)
    del mag_np, power_np
    banks = np.stack([_chroma_bank(st.sr, nfft, _estimate_tuning(pitch_np[b], pmag_np[b]))
                      for b in range(nb)])
    raw = torch.from_numpy(banks).to(dev).double() @ power.transpose(1, 2).double()  # (B, 12, T)
    peak_c = raw.amax(dim=1, keepdim=True)
    chroma = (raw / torch.where(peak_c < np.finfo(np.float32).tiny, 1.0, peak_c)).float()

    def reflect_index(size: int) -> torch.Tensor:
        j = torch.arange(-(k // 2), size + k // 2, device=dev) % (2 * size)
        return torch.where(j >= size, 2 * size - 1 - j, j)

    harm = torch.empty_like(mag)
    perc = torch.empty_like(mag)
    step = max(1, (1 << 28) // (nt * nf * k * 4))  # keep the unfolded windows under 256 MB
    for s in range(0, nb, step):
        block = mag[s : s + step]
        harm[s : s + step] = block[:, reflect_index(nt)].unfold(1, k, 1).median(dim=-1).values
        perc[s : s + step] = block[..., reflect_index(nf)].unfold(2, k, 1).median(dim=-1).values
    tiny = np.finfo(np.float32).tiny
    z = torch.maximum(harm, perc)
    ok = z >= tiny
    zs = torch.where(ok, z, torch.ones_like(z))
    a_, c_ = (harm / zs) ** 2, (perc / zs) ** 2
    mask = torch.where(ok, a_ / (a_ + c_), torch.full_like(z, 0.5))
    y_harm = torch.istft((spec * mask).transpose(1, 2), n_fft=nfft, hop_length=hop,
                         window=torch.from_numpy(st.window32).to(dev), center=True, length=n)
    y_perc = yt - y_harm

    def stats(x: torch.Tensor) -> np.ndarray:
        x = x.double()
        return torch.stack([x.mean(dim=1), x.var(dim=1, correction=0)], dim=1).cpu().numpy()

    wave = np.empty((2, nb, nt))
    _rms_zcr(y, nfft, hop, wave)
    return _Front(log_mel=log_mel.cpu().numpy(), chroma=chroma.cpu().numpy(), rms=wave[0],
                  centroid=shape[0], bandwidth=shape[1], rolloff=shape[2], zcr=wave[1],
                  harmonic=stats(y_harm), percussive=stats(y_perc))


def _onset_strength(log_mel: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
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


def _tempo(onset: np.ndarray, *, sr: int, hop: int) -> np.ndarray:
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


def _reduce(front: _Front, st: _Setup, n_mfcc: int) -> np.ndarray:
    """(B, 17 + 2 n_mfcc) handcrafted features in :func:`handcrafted_columns` order."""
    nb = len(front.log_mel)
    parts = [
        _mean_var(front.chroma), _mean_var(front.rms), _mean_var(front.centroid),
        _mean_var(front.bandwidth), _mean_var(front.rolloff), _mean_var(front.zcr),
        front.harmonic, front.percussive,
    ]
    tempo = _tempo(_onset_strength(front.log_mel, n_fft=st.n_fft, hop=st.hop), sr=st.sr, hop=st.hop)
    mfcc = np.stack([scipy.fft.dct(m, axis=0, type=2, norm="ortho")[:n_mfcc] for m in front.log_mel])
    mfcc = mfcc.astype(np.float64)
    mfcc_stats = np.stack([mfcc.mean(axis=2), mfcc.var(axis=2)], axis=2).reshape(nb, -1)
    return np.concatenate([*parts, tempo[:, None], mfcc_stats], axis=1)


# -------------------------------------------------------------------- the public API


def resolve_device(name: str) -> str:
    """``cpu``, ``cuda`` or ``auto`` (cuda when torch sees a GPU) to ``cpu`` or ``cuda``.

    Raises :class:`ConfigError` for ``cuda`` without a usable GPU. ``cpu`` never imports
    torch.
    """
    if name not in ("cpu", "cuda", "auto"):
        raise ConfigError(f"features.device: must be one of cpu, cuda, auto; got {name!r}")
    if name == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        available = False
    else:
        available = bool(torch.cuda.is_available())
    if name == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ConfigError("features.device: 'cuda' but no CUDA device is available")
    return name


def batch_features(
    segments: np.ndarray, *, sr: int, n_fft: int, hop_length: int, n_mels: int, n_mfcc: int,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel spectrograms and handcrafted features of equal-length segments.

    Parameters
    ----------
    segments : np.ndarray [shape=(B, n)]
        Mono audio at ``sr`` Hz, one segment per row.
    device : str
        ``cpu`` (numpy and numba) or a torch device (``cuda``, ``cuda:1``, or ``torch-cpu``
        to run the torch path on the CPU); same values within 1e-4 relative.

    Returns
    -------
    log_mel : np.ndarray [shape=(B, n_mels, 1 + n // hop_length), dtype=float32]
        Mel power in dB (ref 1.0, top_db 80 per segment), as ``librosa.feature.mfcc`` uses it.
    features : np.ndarray [shape=(B, len(handcrafted_columns(n_mfcc))), dtype=float64]
    """
    y = np.ascontiguousarray(np.atleast_2d(segments), dtype=np.float32)
    st = _setup(sr, n_fft, hop_length, n_mels)
    if device == "cpu":
        front = _front_numpy(y, st)
    else:
        front = _front_torch(y, st, "cpu" if device == "torch-cpu" else device)
    return front.log_mel, _reduce(front, st, n_mfcc)


def segment_features(
    y: np.ndarray, *, sr: int, n_fft: int, hop_length: int, n_mels: int, n_mfcc: int
) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel spectrogram and handcrafted features of one segment, from one STFT.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``sr`` Hz.

    Returns
    -------
    log_mel : np.ndarray [shape=(n_mels, 1 + n // hop_length), dtype=float32]
        Mel power in dB (ref 1.0, top_db 80), as ``librosa.feature.mfcc`` uses it.
    features : np.ndarray [shape=(len(handcrafted_columns(n_mfcc)),), dtype=float64]
    """
    log_mel, feats = batch_features(np.asarray(y)[None], sr=sr, n_fft=n_fft,
                                    hop_length=hop_length, n_mels=n_mels, n_mfcc=n_mfcc)
    return log_mel[0], feats[0]
