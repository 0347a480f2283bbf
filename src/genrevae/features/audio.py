"""Audio features per segment: the log-mel spectrogram and the Kaggle GTZAN handcrafted set.

Everything spectral is derived from one STFT per segment (magnitude for centroid,
bandwidth and roll-off; power for mel, MFCC and chroma; the complex STFT for HPSS);
only RMS and the zero-crossing rate, which are defined on the waveform, read ``y``.
The tempo comes from the onset envelope of the same log-mel spectrogram. Column names
follow the Kaggle ``features_30_sec.csv`` / ``features_3_sec.csv`` tables.

Two conventions reproduce that table (within 1% on the real GTZAN clips, see
tests/features/test_kaggle_compat.py): frames are centred with *reflect* padding, the
default of the librosa releases the table was made with (0.10 switched to zero padding),
and the tempo is the beat tracker's estimate, whose onset envelope aggregates mel bands
with the median rather than the mean.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
from tqdm import tqdm

from genrevae.config import FeaturesConfig
from genrevae.data.audio import load_audio, segment_bounds
from genrevae.errors import AudioError

log = logging.getLogger(__name__)

PAD_MODE = "reflect"

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
    stft = librosa.stft(y=y, n_fft=n_fft, hop_length=hop_length, pad_mode=PAD_MODE)
    mag = np.abs(stft)
    power = mag**2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=n_mels)
    log_mel = librosa.power_to_db(S=mel, ref=1.0, top_db=80.0)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=n_mfcc)
    spectral = dict(S=mag, sr=sr, n_fft=n_fft, hop_length=hop_length)
    harmonic, percussive = librosa.decompose.hpss(S=stft)
    y_harm = librosa.istft(stft_matrix=harmonic, hop_length=hop_length, n_fft=n_fft, length=len(y))
    y_perc = librosa.istft(stft_matrix=percussive, hop_length=hop_length, n_fft=n_fft, length=len(y))
    parts = (
        librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, hop_length=hop_length),
        librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length, pad_mode=PAD_MODE),
        librosa.feature.spectral_centroid(**spectral),
        librosa.feature.spectral_bandwidth(**spectral),
        librosa.feature.spectral_rolloff(**spectral),
        librosa.feature.zero_crossing_rate(y=y, frame_length=n_fft, hop_length=hop_length),
        y_harm,
        y_perc,
    )
    values = [v for part in parts for v in (float(np.mean(part)), float(np.var(part)))]
    onset = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=hop_length,
                                         aggregate=np.median)
    values.append(float(librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=hop_length)[0]))
    for row in mfcc:
        values += [float(np.mean(row)), float(np.var(row))]
    return log_mel.astype(np.float32), np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class TrackFeatures:
    """Features of every full segment of one track (segment ``i`` starts at ``offsets[i]`` s)."""

    offsets: np.ndarray  # (n_seg,) float64 seconds
    log_mel: np.ndarray  # (n_seg, n_mels, frames) float32
    handcrafted: np.ndarray  # (n_seg, n_features) float64


def track_features(path: str | Path, cfg: FeaturesConfig) -> TrackFeatures:
    """Decode ``path`` and compute the features of each of its segments.

    Raises :class:`AudioError` if the file is unusable or shorter than one segment.
    """
    y = load_audio(path, sr=cfg.sample_rate)
    bounds = segment_bounds(len(y), sr=cfg.sample_rate, seconds=cfg.segment_seconds)
    if not bounds:
        raise AudioError(
            f"{path}: {len(y) / cfg.sample_rate:.2f} s is shorter than one "
            f"{cfg.segment_seconds:g}-s segment",
            "too_short",
        )
    mels, feats = [], []
    for start, stop in bounds:
        m, f = segment_features(
            y[start:stop], sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
            n_mels=cfg.n_mels, n_mfcc=cfg.n_mfcc,
        )
        mels.append(m)
        feats.append(f)
    offsets = np.array([start / cfg.sample_rate for start, _ in bounds])
    return TrackFeatures(offsets, np.stack(mels), np.stack(feats))


def _worker(args: tuple[str, FeaturesConfig]) -> TrackFeatures | str:
    path, cfg = args
    try:
        return track_features(path, cfg)
    except AudioError as exc:
        return str(exc)


def resolve_jobs(n_jobs: int) -> int:
    """``0`` means one worker per available core."""
    if n_jobs > 0:
        return n_jobs
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def extract_many(
    paths: list[str], cfg: FeaturesConfig, *, progress: bool = True
) -> list[TrackFeatures | str]:
    """Features of every path, in input order, across ``cfg.n_jobs`` processes.

    An unusable file yields its reason (a string) instead of features; nothing is raised.
    """
    jobs = resolve_jobs(cfg.n_jobs)
    work = [(p, cfg) for p in paths]
    bar = dict(total=len(work), desc="extract audio", unit="track", disable=not progress)
    if jobs == 1 or len(work) <= 1:
        return [_worker(w) for w in tqdm(work, **bar)]
    log.info("extracting %d tracks with %d processes", len(work), jobs)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(tqdm(pool.map(_worker, work, chunksize=1), **bar))
