"""The input whitening of the feature-vector models: a fixed affine map, fit on the train
split, stored as buffers of the model so it is saved and loaded with the weights."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Whitening(nn.Module):
    """A fixed affine map x -> (x - mean) W with W W^T = inverse covariance (ZCA), fit on
    the train split; its inverse maps back. Buffers, so it is saved with the weights."""

    def __init__(self, dim: int, ridge: float = 1e-3) -> None:
        super().__init__()
        self.ridge = ridge
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("matrix", torch.eye(dim))
        self.register_buffer("inverse_matrix", torch.eye(dim))

    @torch.no_grad()
    def fit(self, x: np.ndarray) -> Whitening:
        """Mean and covariance of ``x`` (n, dim); eigenvalues are floored at ``ridge`` times
        their mean, so a direction with (almost) no variance is not blown up."""
        x = np.asarray(x, dtype=np.float64)
        if len(x) < 2:
            raise ValueError("whitening needs at least 2 rows")
        mean = x.mean(axis=0)
        evals, evecs = np.linalg.eigh(np.cov(x - mean, rowvar=False).reshape(x.shape[1], -1))
        evals = np.maximum(evals, 0.0) + self.ridge * max(float(evals.mean()), 1e-12)
        dev = self.mean.device
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32, device=dev))
        self.matrix.copy_(torch.as_tensor((evecs / np.sqrt(evals)) @ evecs.T,
                                          dtype=torch.float32, device=dev))
        self.inverse_matrix.copy_(torch.as_tensor((evecs * np.sqrt(evals)) @ evecs.T,
                                                  dtype=torch.float32, device=dev))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) @ self.matrix

    def inverse(self, xw: torch.Tensor) -> torch.Tensor:
        return xw @ self.inverse_matrix + self.mean
