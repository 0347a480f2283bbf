"""Standardise audio and lyrics features on the train split and fuse them per segment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

from genrevae.io import atomic_dir, load_json, load_npy, to_json

INPUTS = ("audio", "lyrics", "hybrid")


@dataclass(frozen=True)
class Fused:
    """Model inputs, one row per segment (aligned with the segment table)."""

    audio: np.ndarray  # (n_seg, d_audio) float32, standardised
    lyrics: np.ndarray  # (n_seg, d_lyrics) float32, standardised, 0 where a track has none
    hybrid: np.ndarray  # (n_seg, d_audio + d_lyrics) float32, weighted concatenation
    has_lyrics: np.ndarray  # (n_seg,) bool
    # How a new song's audio features become model input (see genrevae.predict).
    scalers: dict = field(default_factory=dict)


def fuse_features(
    audio: np.ndarray,
    lyrics_by_track: np.ndarray,
    track_index: np.ndarray,
    is_train: np.ndarray,
    *,
    audio_weight: float,
    lyrics_weight: float,
) -> Fused:
    """Standardise, weight and concatenate.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_seg, d_audio)]
        Handcrafted features per segment.
    lyrics_by_track : np.ndarray [shape=(n_tracks, d_lyrics)]
        Lyrics embedding per track; NaN rows for tracks without lyrics.
    track_index : np.ndarray [shape=(n_seg,), dtype=int]
        Row of ``lyrics_by_track`` that each segment belongs to.
    is_train : np.ndarray [shape=(n_seg,), dtype=bool]
        The scalers see only these segments.

    Both scalers are fit on train rows only. Segments of tracks without lyrics get the
    train mean (0 after scaling) in the lyrics block and ``has_lyrics = False``; models
    should leave those entries out of their reconstruction loss (see :func:`observed_mask`).
    """
    is_train = np.asarray(is_train, dtype=bool)
    if not is_train.any():
        raise ValueError("no train segments to fit the scalers on")
    audio_scaler = StandardScaler().fit(audio[is_train])
    audio_std = standardise(audio, audio_scaler.mean_, audio_scaler.scale_)

    lyrics = lyrics_by_track[track_index]
    has = np.all(np.isfinite(lyrics), axis=1)
    lyr_std = np.zeros(lyrics.shape, dtype=np.float32)
    fit_rows = has & is_train
    if fit_rows.any():
        scaler = StandardScaler().fit(lyrics[fit_rows])
        lyr_std[has] = scaler.transform(lyrics[has])
    else:  # nothing to scale with: treat every segment as without lyrics
        has = np.zeros_like(has)
    hybrid = weighted_concat(audio_std, lyr_std, audio_weight=audio_weight,
                             lyrics_weight=lyrics_weight)
    scalers = {"audio_mean": audio_scaler.mean_.tolist(), "audio_scale": audio_scaler.scale_.tolist(),
               "audio_weight": audio_weight, "lyrics_weight": lyrics_weight,
               "lyrics_dim": int(lyrics.shape[1])}
    return Fused(audio_std, lyr_std, hybrid, has, scalers)


def standardise(x: np.ndarray, mean: np.ndarray | list, scale: np.ndarray | list) -> np.ndarray:
    """(x - mean) / scale as float32, computed in x's precision (as scikit-learn's scaler
    does), so the pipeline's fused rows and a new song's rows (genrevae.model_input) come
    from the same arithmetic."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    x = x.astype(dtype, copy=False)
    return ((x - np.asarray(mean, dtype=dtype)) / np.asarray(scale, dtype=dtype)).astype(
        np.float32)


def weighted_concat(audio_std: np.ndarray, lyrics_std: np.ndarray, *, audio_weight: float,
                    lyrics_weight: float) -> np.ndarray:
    """The hybrid row: each standardised block times its weight, side by side (float32)."""
    return np.concatenate([audio_weight * audio_std, lyrics_weight * lyrics_std],
                          axis=1).astype(np.float32)


def observed_mask(kind: str, n_audio: int, n_lyrics: int, has_lyrics: np.ndarray) -> np.ndarray:
    """Which input entries are observed, shape (n_seg, d) for the chosen input ``kind``."""
    n = len(has_lyrics)
    lyr = np.repeat(has_lyrics[:, None], n_lyrics, axis=1)
    if kind == "audio":
        return np.ones((n, n_audio), dtype=bool)
    if kind == "lyrics":
        return lyr
    if kind == "hybrid":
        return np.concatenate([np.ones((n, n_audio), dtype=bool), lyr], axis=1)
    raise ValueError(f"unknown input {kind!r}; expected one of {INPUTS}")


_ARRAYS = ("audio", "lyrics", "hybrid", "has_lyrics")
SCALERS = "scalers.json"


def save_fused(directory: str | Path, fused: Fused) -> None:
    """Write each array of ``fused`` as ``<name>.npy`` into ``directory``, atomically."""
    with atomic_dir(directory) as tmp:
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(fused, name), allow_pickle=False)
        (tmp / SCALERS).write_text(to_json(fused.scalers, indent=1), encoding="utf-8")


def load_scalers(directory: str | Path) -> dict:
    """The train-split scalers and weights that :func:`fuse_features` used."""
    return load_json(Path(directory) / SCALERS)


def load_input(directory: str | Path, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model input ``kind`` from a fused directory.

    Returns
    -------
    x : np.ndarray [shape=(n_seg, d), dtype=float32]
    observed : np.ndarray [shape=(n_seg, d), dtype=bool]
        Entries that enter the reconstruction loss.
    usable : np.ndarray [shape=(n_seg,), dtype=bool]
        Rows the model can encode (for ``lyrics``, only segments of tracks with lyrics).
    """
    if kind not in INPUTS:
        raise ValueError(f"unknown input {kind!r}; expected one of {INPUTS}")
    directory = Path(directory)
    arrays = {name: load_npy(directory / f"{name}.npy") for name in _ARRAYS}
    has = arrays["has_lyrics"].astype(bool)
    observed = observed_mask(kind, arrays["audio"].shape[1], arrays["lyrics"].shape[1], has)
    usable = has if kind == "lyrics" else np.ones(len(has), dtype=bool)
    return arrays[kind], observed, usable
