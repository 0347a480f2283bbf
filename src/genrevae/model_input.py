"""The model's input, built the same way by train, cluster, evaluate and predict.

Feature inputs (audio, lyrics, hybrid) come from the fused arrays; the ``mel`` input is
the log-mel segments standardised per mel band with statistics of the train split; a
cvae's condition is the one-hot of a label (categories from the train split). Everything
here is deterministic in the pipeline's artifacts, so every stage rebuilds the identical
input, and :attr:`ModelInput.meta` carries what a new song needs (see predict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from genrevae.config import Config
from genrevae.features.fuse import load_input
from genrevae.io import load_npy


@dataclass(frozen=True)
class ModelInput:
    x: np.ndarray  # (n_seg, d) feature vectors or (n_seg, n_mels, frames) log-mel, float32
    observed: np.ndarray | None  # bool, like x: entries in the reconstruction loss
    usable: np.ndarray  # (n_seg,) bool: rows the model can encode
    conditions: np.ndarray | None  # (n_seg, n_categories) one-hot, cvae only
    meta: dict[str, Any] = field(default_factory=dict)

    def flat(self) -> np.ndarray:
        """x as (n_seg, n_features), for PCA and raw-feature baselines."""
        return self.x.reshape(len(self.x), -1)


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


def load_model_input(cfg: Config, segments: pd.DataFrame) -> ModelInput:
    """The configured model's input for every segment of ``segments`` (the segment table)."""
    is_train = (segments["split"] == "train").to_numpy()
    meta: dict[str, Any] = {"input": cfg.model.input}
    if cfg.model.input == "mel":
        mel = load_npy(cfg.paths.mel, mmap=True)
        train = np.asarray(mel[is_train], dtype=np.float64)
        mean = train.mean(axis=(0, 2)).astype(np.float32)
        std = np.maximum(train.std(axis=(0, 2)), 1e-3).astype(np.float32)
        x = standardise_mel(mel, mean, std)
        observed, usable = None, np.ones(len(x), dtype=bool)
        meta.update(mel_mean=mean.tolist(), mel_std=std.tolist())
    else:
        x, observed, usable = load_input(cfg.paths.fused, cfg.model.input)
    conditions = None
    if cfg.model.name == "cvae" and cfg.model.condition:
        label = segments[cfg.model.condition].astype(str)
        train_values = label[is_train]
        categories = sorted(train_values.unique())
        conditions = one_hot(label, categories)
        meta.update(condition=cfg.model.condition, condition_categories=categories,
                    condition_default=str(train_values.mode().iloc[0]))
    return ModelInput(x, observed, usable, conditions, meta)
