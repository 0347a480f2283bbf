"""Decoding audio files to mono float arrays at a target rate, and cutting segments."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from genrevae.errors import AudioError


def load_audio(path: str | Path, *, sr: int) -> np.ndarray:
    """Decode ``path`` (wav, flac, ogg, mp3, au), mix to mono and resample to ``sr``.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    AudioError
        The file is missing, cannot be decoded, is empty or is silent.
    """
    path = Path(path)
    try:
        data, native_sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"{path}: cannot decode audio ({exc})") from exc
    if data.size == 0:
        raise AudioError(f"{path}: no audio samples")
    y = data.mean(axis=1)
    if native_sr != sr:
        y = librosa.resample(y, orig_sr=native_sr, target_sr=sr, res_type="soxr_hq")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{path}: non-finite samples")
    if float(np.max(np.abs(y))) < 1e-5:
        raise AudioError(f"{path}: silent")
    return np.ascontiguousarray(y, dtype=np.float32)


def segment_bounds(n_samples: int, *, sr: int, seconds: float) -> list[tuple[int, int]]:
    """(start, stop) sample indices of consecutive, non-overlapping segments.

    A trailing partial segment shorter than ``seconds`` is dropped, so every segment has
    the same length (and the same number of spectrogram frames).
    """
    length = round(seconds * sr)
    return [(s, s + length) for s in range(0, n_samples - length + 1, length)]
