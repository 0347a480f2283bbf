"""The representations every model is compared with, in the same run: PCA (plain and
whitened) and the raw features."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

# The baselines, in the order tables list them; the latent is compared with the best of them.
BASELINES = ("pca", "pca_white", "raw")
# A whitened component divides by the square root of its train variance; one with next to
# no variance (the input's rank is below the latent size) would blow test rows up to noise.
# Numerically zero: below this share of the largest variance, or below this share of the
# data's mean square (round-off makes a constant column's variance ~1e-32 of it, not 0).
_MIN_RELATIVE_VARIANCE = 1e-10
_MIN_VARIANCE_OF_MEAN_SQUARE = 1e-20

def pca_baseline(x: np.ndarray, is_train: np.ndarray, *, dim: int, seed: int,
                 whiten: bool = False) -> np.ndarray:
    """PCA with ``dim`` components (capped by the data's rank), fit on train rows only.

    x (n, d); returns (n, m) float32, m <= dim. With ``whiten`` every component is scaled
    to unit variance on the train rows (``PCA(whiten=True)``), so K-Means and the probe
    weigh each direction alike rather than by its variance; components whose train
    variance is numerically zero are dropped first (all of them: the plain projection).
    """
    fit = x[np.asarray(is_train, dtype=bool)]
    n_comp = max(1, min(dim, fit.shape[0], fit.shape[1]))
    pca = PCA(n_components=n_comp, whiten=whiten, random_state=seed).fit(fit)
    if whiten:
        var = pca.explained_variance_
        floor = max(_MIN_RELATIVE_VARIANCE * float(var[0]),
                    _MIN_VARIANCE_OF_MEAN_SQUARE * float(np.mean(np.square(fit))))
        keep = int(np.sum(var > floor))
        if keep == 0:  # no train variance at all: nothing to scale, so the plain projection
            return pca_baseline(x, is_train, dim=dim, seed=seed)
        if keep < n_comp:
            pca = PCA(n_components=keep, whiten=True, random_state=seed).fit(fit)
    return pca.transform(x).astype(np.float32)


def representations(
    latent: np.ndarray, features: np.ndarray, is_train: np.ndarray, *, seed: int
) -> dict[str, np.ndarray]:
    """``latent`` (the model), ``pca`` and ``pca_white`` (PCA of the model's input to the
    latent's dimension, fit on train rows; the second whitened) and ``raw`` (the model's
    own standardised input), all with the same rows, in :data:`BASELINES` order after
    the latent."""
    dim = latent.shape[1]
    return {
        "latent": latent,
        "pca": pca_baseline(features, is_train, dim=dim, seed=seed),
        "pca_white": pca_baseline(features, is_train, dim=dim, seed=seed, whiten=True),
        "raw": features,
    }
