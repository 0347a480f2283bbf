"""Standardise audio and lyrics features on the train split and fuse them per segment.

The audio block may also be Gaussianised per feature (``fuse.audio_transform``): the
handcrafted features are summary statistics of frame-level descriptors, and their
variances in particular are heavy-tailed, so a few loud or noisy tracks dominate the
Euclidean distances that K-Means, the baselines and a Gaussian decoder all rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.stats
from sklearn.preprocessing import StandardScaler

from genrevae.config import AUDIO_TRANSFORMS
from genrevae.io import atomic_dir, load_json, load_npy, to_json

INPUTS = ("audio", "lyrics", "hybrid")
# Bounds on a fitted Yeo-Johnson exponent: the likelihood of a near-constant train column can
# push it far out, and a steep power would then blow up a new song's value off that range.
LAMBDA_RANGE = (-3.0, 3.0)
# z-scores are clipped to this before the power: no real feature sits that many standard
# deviations out, and an absurd but finite table value (1e30) raised to the power 2 - (-3)
# would overflow float32. A train z-score cannot pass sqrt(n - 1), so the fit is untouched
# below 1e8 train segments.
Z_LIMIT = 1e4


@dataclass(frozen=True)
class Fused:
    """Model inputs, one row per segment (aligned with the segment table)."""

    audio: np.ndarray  # (n_seg, d_audio) float32, standardised
    lyrics: np.ndarray  # (n_seg, d_lyrics) float32, standardised, 0 where a track has none
    hybrid: np.ndarray  # (n_seg, d_audio + d_lyrics) float32, weighted concatenation
    has_lyrics: np.ndarray  # (n_seg,) bool
    # How a new song's audio features become model input (see genrevae.serving.predict).
    scalers: dict = field(default_factory=dict)


def fuse_features(
    audio: np.ndarray,
    lyrics_by_track: np.ndarray,
    track_index: np.ndarray,
    is_train: np.ndarray,
    *,
    audio_weight: float,
    lyrics_weight: float,
    audio_transform: str = "none",
) -> Fused:
    """Standardise (and, with ``audio_transform="yeo_johnson"``, Gaussianise the audio
    block: see :func:`fit_audio_scaling`), weight and concatenate.

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
    audio_scaling = fit_audio_scaling(audio[is_train], audio_transform)
    audio_std = scale_audio(audio, audio_scaling)

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
    scalers = {**audio_scaling, "audio_weight": audio_weight, "lyrics_weight": lyrics_weight,
               "lyrics_dim": int(lyrics.shape[1])}
    return Fused(audio_std, lyr_std, hybrid, has, scalers)


def fit_audio_scaling(train: np.ndarray, transform: str = "none") -> dict:
    """How the audio block is scaled, fit on the train rows ``train`` (n, d), as plain data
    for ``scalers.json`` and the checkpoint (:func:`scale_audio` applies it).

    ``"none"``: the train mean and scale (``audio_mean``, ``audio_scale``). ``"yeo_johnson"``:
    after that standardisation, each feature goes through the Yeo-Johnson power transform
    with the exponent that makes its train values most nearly Gaussian (maximum
    likelihood, ``audio_lambdas``), and is standardised again (``audio_post_mean``,
    ``audio_post_scale``). The powers act on z-scores, not on the features' own units
    (variances of 1e-4 next to tempi of 120), so the fitted exponents stay moderate and a
    new song's value off the train range is bent, not blown up. Yeo-Johnson, unlike
    Box-Cox, takes the negative values that MFCC means and z-scores have.
    """
    if transform not in AUDIO_TRANSFORMS:
        raise ValueError(f"unknown audio transform {transform!r}; expected one of "
                         f"{', '.join(AUDIO_TRANSFORMS)}")
    scaler = StandardScaler().fit(train)
    out = {"audio_mean": scaler.mean_.tolist(), "audio_scale": scaler.scale_.tolist()}
    if transform == "yeo_johnson":
        z = np.clip(standardise(train, scaler.mean_, scaler.scale_), -Z_LIMIT, Z_LIMIT)
        lambdas = np.array([_yeo_johnson_exponent(column) for column in z.T.astype(np.float64)])
        bent = StandardScaler().fit(yeo_johnson(z, lambdas))
        out.update(audio_lambdas=lambdas.tolist(), audio_post_mean=bent.mean_.tolist(),
                   audio_post_scale=bent.scale_.tolist())
    return out


def scale_audio(audio: np.ndarray, scaling: dict) -> np.ndarray:
    """The audio block (float32) of ``audio`` (n, d) under ``scaling`` (from
    :func:`fit_audio_scaling`, or a checkpoint's fuse scalers): the pipeline's rows and a
    new song's go through this one function, so they come from the same arithmetic."""
    z = standardise(audio, scaling["audio_mean"], scaling["audio_scale"])
    if "audio_lambdas" not in scaling:
        return z
    bent = yeo_johnson(np.clip(z, -Z_LIMIT, Z_LIMIT), np.asarray(scaling["audio_lambdas"]))
    return standardise(bent, scaling["audio_post_mean"], scaling["audio_post_scale"])


def yeo_johnson(x: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """The Yeo-Johnson transform of each column of ``x`` (n, d) with its exponent
    ``lambdas`` (d,), in float64: ((x + 1)^l - 1) / l for x >= 0 and
    -((1 - x)^(2 - l) - 1) / (2 - l) for x < 0, with the logarithms as the limits at
    l = 0 and l = 2."""
    x = np.asarray(x, dtype=np.float64)
    lam = np.broadcast_to(np.asarray(lambdas, dtype=np.float64), x.shape)
    pos = x >= 0
    a = np.log1p(np.abs(x))
    power = np.where(pos, lam, 2.0 - lam)  # (1 + |x|)^power = exp(a * power)
    small = np.abs(power) < 1e-8
    safe = np.where(small, 1.0, power)
    magnitude = np.where(small, a, np.expm1(a * safe) / safe)
    return np.where(pos, magnitude, -magnitude)


def _yeo_johnson_exponent(column: np.ndarray) -> float:
    """The maximum-likelihood Yeo-Johnson exponent of one train column, within
    ``LAMBDA_RANGE``; 1 (the identity) for a constant column, which has no shape to fit."""
    if np.ptp(column) == 0:
        return 1.0
    return float(np.clip(scipy.stats.yeojohnson_normmax(column), *LAMBDA_RANGE))


def standardise(x: np.ndarray, mean: np.ndarray | list, scale: np.ndarray | list) -> np.ndarray:
    """(x - mean) / scale as float32, computed in x's precision (as scikit-learn's scaler
    does), so the pipeline's fused rows and a new song's rows (genrevae.inputs.transform) come
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
