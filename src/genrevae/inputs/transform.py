"""What the encoder sees, in one place: :class:`InputTransform`.

The transform is fit on the train split (the fuse stage's scalers for feature inputs, the
per-band log-mel statistics for ``mel``, the condition's categories for a cvae), saved
with the checkpoint (:meth:`InputTransform.record`), and applied alike by the stages to
the pipeline's artifacts (:meth:`InputTransform.apply`) and by ``genrevae predict`` to a
new song's segments (:meth:`InputTransform.from_audio`). Everything here is deterministic
in the pipeline's artifacts, so every stage rebuilds the identical input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genrevae.config import Config, to_dict
from genrevae.inputs.fuse import load_input, load_scalers, scale_audio, weighted_concat
from genrevae.io import load_npy, take_rows


@dataclass(frozen=True)
class ModelInput:
    # (n_seg, d) feature vectors, float32, or the (n_seg, n_mels, frames) log-mel as
    # MelRows (read and standardised only when indexed and converted)
    x: np.ndarray | MelRows
    observed: np.ndarray | None  # bool, like x: entries in the reconstruction loss
    usable: np.ndarray  # (n_seg,) bool: rows the model can encode
    conditions: np.ndarray | None  # (n_seg, n_categories) one-hot, cvae only
    transform: InputTransform | None = None

    def flat(self) -> np.ndarray:
        """x as (n_seg, n_features), for PCA and raw-feature baselines (the whole log-mel
        is read here)."""
        return np.asarray(self.x).reshape(len(self.x), -1)


def one_hot(values: pd.Series | np.ndarray, categories: list[str]) -> np.ndarray:
    """(n, len(categories)) float32; a value outside ``categories`` gets a zero row."""
    index = {c: i for i, c in enumerate(categories)}
    out = np.zeros((len(values), len(categories)), dtype=np.float32)
    for row, value in enumerate(np.asarray(values, dtype=object)):
        if value in index:
            out[row, index[value]] = 1.0
    return out


def standardise_mel(mel: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(mel - mean) / std per mel band; mel (n, n_mels, frames), mean/std (n_mels,)."""
    return ((np.asarray(mel, dtype=np.float32) - mean[None, :, None]) / std[None, :, None]).astype(
        np.float32
    )


def mel_band_stats(mel: np.ndarray, rows: np.ndarray, *, chunk: int = 256
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and (population) standard deviation, floored at 1e-3, of the rows
    ``rows`` (bool mask or indices) of ``mel`` (n, n_mels, frames), float32 (n_mels,).

    One pass over ``chunk`` segments at a time, so a memory-mapped array is never read
    whole: each chunk's float64 mean and sum of squared deviations are merged into the
    running ones (Chan et al.'s pairwise update), which keeps the precision of a two-pass
    computation instead of the cancellation a plain sum of squares suffers."""
    index = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
    n_bands = mel.shape[1]
    count, mean, m2 = 0, np.zeros(n_bands), np.zeros(n_bands)
    for start in range(0, len(index), chunk):
        block = take_rows(mel, index[start : start + chunk]).astype(np.float64)
        k = block.shape[0] * block.shape[2]
        block_mean = block.mean(axis=(0, 2))
        block_m2 = ((block - block_mean[None, :, None]) ** 2).sum(axis=(0, 2))
        delta = block_mean - mean
        total = count + k
        mean = mean + delta * (k / total)
        m2 = m2 + block_m2 + delta**2 * (count * k / total)
        count = total
    if count == 0:
        raise ValueError("band statistics need at least one segment")
    return mean.astype(np.float32), np.maximum(np.sqrt(m2 / count), 1e-3).astype(np.float32)


class MelRows:
    """Rows of the log-mel array standardised per band only when read.

    Indexing (a slice, indices or a bool mask) gives another :class:`MelRows` and reads
    nothing; ``np.asarray`` reads the rows from the (memory-mapped) array and standardises
    them. The training loop draws its batches this way, so its memory does not grow with
    the corpus; the values equal :func:`standardise_mel` of the whole array."""

    def __init__(self, mel: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 rows: np.ndarray | None = None) -> None:
        self.mel, self.mean, self.std = mel, mean, std
        self.rows = np.arange(len(mel)) if rows is None else rows

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.mel.shape[1:])

    @property
    def ndim(self) -> int:
        return self.mel.ndim

    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> MelRows:
        return MelRows(self.mel, self.mean, self.std, self.rows[key])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = standardise_mel(take_rows(self.mel, self.rows), self.mean, self.std)
        return out if dtype is None else out.astype(dtype, copy=False)


@dataclass(frozen=True)
class InputTransform:
    """How segments become the encoder's input, with everything fit on the train split.

    ``kind`` is ``model.input``; ``features`` the features section a new song is
    extracted with; ``fuse`` the fuse stage's train scalers and block weights (feature
    inputs); ``mel_mean``/``mel_std`` the per-band train statistics (``mel``);
    ``condition*`` a cvae's label, its train categories (one-hot columns, sorted) and the
    train majority (a new song's default)."""

    kind: str
    features: dict[str, Any]
    fuse: dict[str, Any] | None = None
    mel_mean: list[float] | None = None
    mel_std: list[float] | None = None
    condition: str | None = None
    condition_categories: list[str] | None = None
    condition_default: str | None = None

    # -- fit on the train split (the stages)

    @classmethod
    def fit(cls, cfg: Config, segments: pd.DataFrame) -> InputTransform:
        """The configured model's transform, from the train rows of ``segments`` (the
        segment table) and the pipeline's artifacts."""
        is_train = (segments["split"] == "train").to_numpy()
        kind = cfg.model.input
        fit: dict[str, Any] = {}
        if kind == "mel":
            mean, std = mel_band_stats(load_npy(cfg.paths.mel, mmap=True), is_train)
            fit.update(mel_mean=mean.tolist(), mel_std=std.tolist())
        else:
            fit["fuse"] = load_scalers(cfg.paths.fused)
        if cfg.model.name == "cvae" and cfg.model.condition:
            train_values = segments[cfg.model.condition].astype(str)[is_train]
            fit.update(condition=cfg.model.condition,
                       condition_categories=sorted(train_values.unique()),
                       condition_default=str(train_values.mode().iloc[0]))
        return cls(kind=kind, features=to_dict(cfg)["features"], **fit)

    # -- saved with the checkpoint

    def record(self) -> dict[str, Any]:
        """Plain data for the checkpoint's meta (keys of absent parts left out, as
        :meth:`from_record` expects)."""
        out: dict[str, Any] = {"input": self.kind}
        if self.kind == "mel":
            out.update(mel_mean=self.mel_mean, mel_std=self.mel_std)
        if self.condition:
            out.update(condition=self.condition, condition_categories=self.condition_categories,
                       condition_default=self.condition_default)
        out.update(features=self.features, fuse=self.fuse)
        return out

    @classmethod
    def from_record(cls, meta: dict[str, Any]) -> InputTransform:
        return cls(kind=meta["input"], features=meta["features"], fuse=meta.get("fuse"),
                   mel_mean=meta.get("mel_mean"), mel_std=meta.get("mel_std"),
                   condition=meta.get("condition"),
                   condition_categories=meta.get("condition_categories"),
                   condition_default=meta.get("condition_default"))

    # -- applied to the pipeline's artifacts (train, cluster, evaluate)

    def apply(self, cfg: Config, segments: pd.DataFrame) -> ModelInput:
        """The input for every segment of ``segments``, from the artifacts ``cfg.paths``
        names (the fused arrays, which fuse standardised with these scalers, or the
        log-mel)."""
        if self.kind == "mel":
            x = MelRows(load_npy(cfg.paths.mel, mmap=True), *self._mel_stats())
            observed, usable = None, np.ones(len(x), dtype=bool)
        else:
            x, observed, usable = load_input(cfg.paths.fused, self.kind)
        conditions = None
        if self.condition:
            conditions = self.conditions(segments[self.condition].astype(str))
        return ModelInput(x, observed, usable, conditions, self)

    def conditions(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """The one-hot condition rows of ``values`` (a value unseen in train: zeros)."""
        return one_hot(values, self.condition_categories or [])

    # -- applied to a new song (predict)

    def from_audio(self, mels: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """The input for a new song's segments from their log-mel (k, n_mels, frames) and
        handcrafted features (k, n_features). A new song has no lyrics: in a hybrid input
        the lyrics block takes the train mean (0), as tracks without lyrics do in training.
        """
        if self.kind == "mel":
            return self._mel(mels)
        if self.kind == "lyrics":
            raise ValueError("a lyrics-only input cannot be built from audio")
        fuse = self.fuse or {}
        audio = scale_audio(feats, fuse)
        if self.kind == "audio":
            return audio
        lyrics = np.zeros((len(audio), fuse["lyrics_dim"]), dtype=np.float32)
        return weighted_concat(audio, lyrics, audio_weight=fuse["audio_weight"],
                               lyrics_weight=fuse["lyrics_weight"])

    def _mel(self, mel: np.ndarray) -> np.ndarray:
        return standardise_mel(mel, *self._mel_stats())

    def _mel_stats(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(self.mel_mean, dtype=np.float32),
                np.asarray(self.mel_std, dtype=np.float32))


def load_model_input(cfg: Config, segments: pd.DataFrame,
                     transform: InputTransform | None = None) -> ModelInput:
    """The configured model's input for every segment of ``segments``: with ``transform``
    (a checkpoint's), or fit on the train split when none is given."""
    return (transform or InputTransform.fit(cfg, segments)).apply(cfg, segments)
