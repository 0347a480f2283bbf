"""Decoding audio files to mono float arrays at a target rate, and cutting segments."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from numba import njit

from genrevae.errors import AudioError

AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".au")
# Below this peak a file is silence (or only denormals: float32 denormals are < 1.2e-38).
SILENCE_PEAK = 1e-5
# Full scale is 1.0; float files may overshoot a little, but a peak a thousand times
# beyond is garbage or unscaled integers, and would swamp every scaler fit on the corpus.
MAX_PEAK = 1e3
# Native rates a recording can have; a header outside them is damaged, and resampling
# 100 samples "at 1 Hz" to 22050 Hz would make minutes of noise out of nothing.
NATIVE_RATES = (1000, 768_000)


@dataclass(frozen=True)
class AudioInfo:
    """What ``prepare`` records of a usable file."""

    duration_s: float
    sample_rate: int
    channels: int
    rms_db: float
    digest: str  # sha1 of the file's bytes, for exact-duplicate detection


def file_digest(path: str | Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_DECODE_ERRORS = (sf.LibsndfileError, RuntimeError, OSError, ValueError, MemoryError)


def _check_file(path: Path) -> None:
    if not path.exists():  # libsndfile would call it a "System error"
        raise AudioError(f"{path}: file not found", "missing")
    if not path.is_file():  # opening a named pipe would wait for a writer forever
        raise AudioError(f"{path}: not a regular file (a folder, device, pipe or socket)",
                         "not_a_file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)", "empty")


def _undecodable(path: Path, exc: Exception) -> AudioError:
    """The error for a file the decoder refused, in its words, except where they mislead:
    libsndfile says a file "does not exist or is not a regular file" when its MP3 reader
    finds no frame in it, but :func:`_check_file` has already seen a regular file."""
    why = str(exc)
    if "is not a regular file" in why:
        why = "not audio in any format it reads"
    return AudioError(f"{path}: cannot decode audio ({why})", "undecodable")


def _check_rate(path: Path, sr: int) -> None:
    if not NATIVE_RATES[0] <= sr <= NATIVE_RATES[1]:
        raise AudioError(f"{path}: sample rate {sr} Hz is outside {NATIVE_RATES[0]}.."
                         f"{NATIVE_RATES[1]} Hz", "bad_sample_rate")


def frame_limit(native_sr: int, max_seconds: float | None) -> int:
    """How many frames at ``native_sr`` are read of a track when at most ``max_seconds``
    are (-1: all of them, soundfile's convention)."""
    return -1 if max_seconds is None else max(1, int(max_seconds * native_sr))


def _decode(path: Path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """All channels as float32 (n, channels), the first ``max_seconds`` of them if given,
    and the native rate; AudioError if unusable."""
    _check_file(path)
    try:
        with sf.SoundFile(path) as fh:
            sr = fh.samplerate
            _check_rate(path, sr)  # before decoding: the rate sizes what is read
            data = fh.read(frame_limit(sr, max_seconds), dtype="float32", always_2d=True)
    except _DECODE_ERRORS as exc:
        raise _undecodable(path, exc) from exc
    if data.size == 0:
        raise AudioError(f"{path}: no audio samples", "empty")
    check_samples(data, path)
    return data, int(sr)


def mix_down(data: np.ndarray) -> np.ndarray:
    """The mono mix of ``data`` (frames, channels) float32: the channel mean, with exactly
    the values of ``data.mean(axis=1)`` (channels summed in order, then divided by their
    number) but without numpy's reduction over a two-element inner axis, which costs more
    than decoding an MP3's second channel."""
    channels = data.shape[1]
    if channels == 1:
        return np.ascontiguousarray(data[:, 0])
    if channels >= 8:  # numpy sums eight or more pairwise: keep its order
        return data.mean(axis=1, dtype=np.float32)
    y = data[:, 0] + data[:, 1]
    for c in range(2, channels):
        y += data[:, c]
    y /= channels
    return y


# Seconds of audio decoded at a time where a whole file is not needed at once.
BLOCK_SECONDS = 30.0


def _blocks(path: Path, block_seconds: float, max_seconds: float | None = None
            ) -> Iterator[tuple[np.ndarray, int]]:
    """The decoded samples, float32 (frames, channels), about ``block_seconds`` at a time,
    up to the first ``max_seconds`` if given, with the native rate; each block checked as
    decoded (:func:`check_samples`). Raises AudioError: missing, not_a_file, empty,
    undecodable, bad_sample_rate, non_finite, out_of_range."""
    _check_file(path)
    try:
        fh = sf.SoundFile(path)
    except _DECODE_ERRORS as exc:
        raise _undecodable(path, exc) from exc
    decoded = 0
    with fh:
        _check_rate(path, fh.samplerate)
        frames = max(1, round(block_seconds * fh.samplerate))
        limit = frame_limit(fh.samplerate, max_seconds)
        while limit < 0 or decoded < limit:
            want = frames if limit < 0 else min(frames, limit - decoded)
            try:
                data = fh.read(want, dtype="float32", always_2d=True)
            except _DECODE_ERRORS as exc:
                raise _undecodable(path, exc) from exc
            if len(data):
                check_samples(data, path, whole=False)
                decoded += len(data)
                yield data, int(fh.samplerate)
            if len(data) < want:
                break
    if decoded == 0:
        raise AudioError(f"{path}: no audio samples", "empty")


def stream_audio(path: str | Path, *, sr: int, block_seconds: float = BLOCK_SECONDS,
                 max_seconds: float | None = None) -> Iterator[np.ndarray]:
    """:func:`load_audio` as a stream: mono float32 blocks at ``sr`` whose concatenation is
    what it returns (soxr's streaming resampler at the same quality), decoded about
    ``block_seconds`` of audio at a time, so memory does not grow with the song; only the
    first ``max_seconds`` if given.

    Each block is checked as decoded (:func:`check_samples`); silence, which only the whole
    song can show, is refused after the last block.
    """
    import soxr

    path = Path(path)
    stream, peak = None, 0.0
    for data, native in _blocks(path, block_seconds, max_seconds):
        mono = mix_down(data)
        if native != sr and stream is None:
            stream = soxr.ResampleStream(native, sr, 1, dtype="float32", quality="HQ")
        y = mono if stream is None else stream.resample_chunk(mono, last=False)
        if len(y):
            peak = max(peak, float(np.max(np.abs(y))))
            yield np.ascontiguousarray(y, dtype=np.float32)
    if stream is not None:  # the resampler's tail
        y = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if len(y):
            peak = max(peak, float(np.max(np.abs(y))))
            yield np.ascontiguousarray(y, dtype=np.float32)
    if peak < SILENCE_PEAK:
        raise AudioError(f"{path}: silent (peak {peak:.1e})", "silent")


@njit(cache=True, nogil=True)
def _abs_bits_scan(bits):  # pragma: no cover - compiled
    """The largest finite ``bits & 0x7fffffff`` and how many are NaN or infinite."""
    top = np.uint32(0)
    bad = 0
    magnitude = np.uint32(0x7FFFFFFF)
    inf = np.uint32(0x7F800000)
    for i in range(bits.shape[0]):
        a = bits[i] & magnitude
        finite = a < inf
        top = max(top, a if finite else np.uint32(0))
        bad += not finite
    return top, bad


def _peak_and_non_finite(data: np.ndarray) -> tuple[float, int]:
    """``max |x|`` over the finite samples' magnitudes, and the number of NaN or infinite
    samples, of float32 ``data``.

    One pass over the IEEE bit patterns: with the sign bit cleared, a float32 is NaN or
    infinite exactly when its bits are at least those of +inf, and the bits of
    non-negative floats order as their values, so an integer maximum (which vectorises,
    unlike a float one that has to respect NaN) gives the peak: the same figures as numpy's
    isfinite and max(abs), without their two passes and temporaries over every decoded
    sample (benchmarks/README.md, "Decoding 44.1 kHz stereo MP3s").
    """
    if data.dtype != np.float32 or not data.flags.c_contiguous:
        finite = np.isfinite(data)
        peak = float(np.max(np.abs(data), initial=0.0, where=finite))
        return peak, int(data.size - np.count_nonzero(finite))
    top, bad = _abs_bits_scan(data.reshape(-1).view(np.uint32))
    return float(np.array([top], dtype=np.uint32).view(np.float32)[0]), int(bad)


def check_samples(data: np.ndarray, path: str | Path, *, whole: bool = True) -> float:
    """Refuse samples no music file holds; return the peak ``max |x|``.

    ``data`` [shape=(n, channels)] as decoded, before mixing (a mix of huge values could
    overflow, and anti-phase channels could hide them). ``whole=False`` for one block of a
    stream, which may be a quiet passage: silence is then not refused.

    Raises
    ------
    AudioError
        ``non_finite`` (NaN or infinite samples), ``out_of_range`` (peak above
        :data:`MAX_PEAK`), ``silent`` (peak below :data:`SILENCE_PEAK`: silence or only
        denormal values).
    """
    peak, bad = _peak_and_non_finite(data)
    if bad:
        raise AudioError(f"{path}: {bad} of {data.size} samples are NaN or infinite",
                         "non_finite")
    if peak > MAX_PEAK:
        raise AudioError(f"{path}: samples reach {peak:.3g}, far beyond full scale (1.0); "
                         "the file holds garbage or unscaled values", "out_of_range")
    if whole and peak < SILENCE_PEAK:  # a block of a stream may be a quiet passage
        raise AudioError(f"{path}: silent (peak {peak:.1e})", "silent")
    return peak


def seconds_below(seconds: float, limit: float) -> str:
    """``seconds`` (less than ``limit``) with as many decimals as it takes to read as less:
    2.999 s against a 3-s segment is "2.999", never "3.00"."""
    for decimals in range(2, 10):
        text = f"{seconds:.{decimals}f}"
        if float(text) < limit:
            return text
    return repr(seconds)


def probe_audio(path: str | Path, *, min_seconds: float) -> AudioInfo:
    """Decode ``path`` once, a block at a time, and check it is usable: present, not empty,
    decodable, with sane samples (:func:`check_samples`), not silent after mixing and at
    least ``min_seconds`` long.

    Raises
    ------
    AudioError
        With ``reason`` one of ``missing``, ``not_a_file``, ``empty``, ``undecodable``,
        ``non_finite``, ``out_of_range``, ``silent``, ``too_short``.
    """
    path = Path(path)
    frames, peak, power, sr, channels = 0, 0.0, 0.0, 0, 0
    for data, native in _blocks(path, BLOCK_SECONDS):  # a block at a time: any length fits
        mono = mix_down(data)
        peak = max(peak, float(np.max(np.abs(mono))))
        power += float(np.sum(mono.astype(np.float64) ** 2))
        frames, channels, sr = frames + len(mono), data.shape[1], native
    if peak < SILENCE_PEAK:
        raise AudioError(f"{path}: silent (peak {peak:.1e})", "silent")
    duration = frames / sr
    if duration < min_seconds:
        raise AudioError(
            f"{path}: {seconds_below(duration, min_seconds)} s is shorter than one "
            f"{min_seconds:g}-s segment", "too_short"
        )
    rms_db = float(20 * np.log10(np.sqrt(power / frames) + 1e-12))
    return AudioInfo(duration, int(sr), int(channels), rms_db, file_digest(path))


def load_audio(path: str | Path, *, sr: int, max_seconds: float | None = None) -> np.ndarray:
    """Decode ``path`` (wav, flac, ogg, mp3, au), its first ``max_seconds`` if given, mix to
    mono and resample to ``sr``.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    AudioError
        The file is missing, cannot be decoded, is empty, holds non-finite or absurdly
        large samples, or is silent.
    """
    path = Path(path)
    data, native_sr = _decode(path, max_seconds)
    y = mix_down(data)
    if native_sr != sr:
        y = resample(y, orig_sr=native_sr, target_sr=sr)
    if not np.all(np.isfinite(y)):  # cannot happen for bounded input; kept as a guard
        raise AudioError(f"{path}: non-finite samples after resampling", "non_finite")
    peak = float(np.max(np.abs(y)))
    if peak < SILENCE_PEAK:
        raise AudioError(f"{path}: silent (peak {peak:.1e})", "silent")
    return np.ascontiguousarray(y, dtype=np.float32)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """``librosa.resample(y, orig_sr=..., target_sr=..., res_type="soxr_hq")`` of finite
    mono float32 ``y``, bit for bit: soxr at the same quality, then the length fixed to
    :func:`resampled_length` (zero-padded or cut at the end) as librosa fixes it. Calling
    soxr directly skips librosa's check of every sample, which :func:`load_audio` has
    already made on the decoded channels."""
    import soxr

    out = soxr.resample(y, orig_sr, target_sr, quality="soxr_hq")
    n = resampled_length(len(y), orig_sr=orig_sr, target_sr=target_sr)
    if len(out) != n:
        out = np.pad(out[:n], (0, max(0, n - len(out))))
    return np.asarray(out, dtype=y.dtype)


def resampled_length(n_samples: int, *, orig_sr: int, target_sr: int) -> int:
    """Samples after :func:`load_audio` resamples ``n_samples`` from ``orig_sr`` to
    ``target_sr`` (librosa.resample fixes the length to ``ceil(n * target / orig)``)."""
    if orig_sr == target_sr:
        return n_samples
    return int(np.ceil(n_samples * (float(target_sr) / orig_sr)))


def segment_length(*, sr: int, seconds: float) -> int:
    """Samples in one segment of ``seconds`` at ``sr`` Hz."""
    return round(seconds * sr)


def count_segments(n_samples: int, *, sr: int, seconds: float) -> int:
    """Full segments of ``seconds`` in ``n_samples`` samples: what :func:`cut_segments`
    cuts from a signal of that length."""
    return n_samples // segment_length(sr=sr, seconds=seconds)


def cut_segments(y: np.ndarray, *, sr: int, seconds: float) -> np.ndarray:
    """``y`` cut into consecutive, non-overlapping segments of ``seconds``.

    A trailing part shorter than ``seconds`` is dropped, so every segment has the same
    length (and the same number of spectrogram frames); what is dropped starts at sample
    ``out.size``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``sr`` Hz.

    Returns
    -------
    np.ndarray [shape=(count_segments(n, sr=sr, seconds=seconds), segment_length(sr=sr, seconds=seconds))]
        A view of ``y`` (same dtype) where ``y`` is contiguous; row ``i`` starts at
        sample ``i * segment_length(sr=sr, seconds=seconds)``.
    """
    length = segment_length(sr=sr, seconds=seconds)
    n_seg = count_segments(len(y), sr=sr, seconds=seconds)
    return y[: n_seg * length].reshape(n_seg, length)


def expected_segments(path: str | Path, *, sr: int, seconds: float,
                      max_seconds: float | None = None) -> int:
    """Segments :func:`load_audio` (reading at most ``max_seconds``) + :func:`cut_segments`
    will give ``path``, read from its header (soundfile.info) without decoding; 0 if the
    header cannot be read.

    Exact for wav, flac, ogg and au; for mp3 the header's length is libsndfile's
    estimate, so callers must check the decoded count against it.
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError):
        return 0
    frames = int(info.frames)
    if max_seconds is not None:
        frames = min(frames, frame_limit(int(info.samplerate), max_seconds))
    n = resampled_length(frames, orig_sr=int(info.samplerate), target_sr=sr)
    return count_segments(n, sr=sr, seconds=seconds)
