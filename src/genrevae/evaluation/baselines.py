"""The representations every model is compared with, in the same run: PCA and raw features."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA


def pca_baseline(x: np.ndarray, is_train: np.ndarray, *, dim: int, seed: int) -> np.ndarray:
    """PCA with ``dim`` components (capped by the data's rank), fit on train rows only."""
    fit = x[np.asarray(is_train, dtype=bool)]
    n_comp = max(1, min(dim, fit.shape[0], fit.shape[1]))
    return PCA(n_components=n_comp, random_state=seed).fit(fit).transform(x).astype(np.float32)


def representations(
    latent: np.ndarray, features: np.ndarray, is_train: np.ndarray, *, seed: int
) -> dict[str, np.ndarray]:
    """``latent`` (the model), ``pca`` (same dimension as the latent) and ``raw`` (the
    model's own standardised input), all with the same rows."""
    return {
        "latent": latent,
        "pca": pca_baseline(features, is_train, dim=latent.shape[1], seed=seed),
        "raw": features,
    }
