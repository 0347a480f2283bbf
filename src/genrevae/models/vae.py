"""MLP models on feature vectors: the VAE, the conditional VAE and the plain autoencoder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import numpy as np
import torch
from torch import nn

from genrevae.errors import ConfigError
from genrevae.inputs.whitening import Whitening
from genrevae.models.base import LatentModel, gaussian_kl_per_dim, mlp

if TYPE_CHECKING:
    from genrevae.config import ModelConfig


def feature_width(cfg: ModelConfig, input_shape: tuple[int, ...]) -> int:
    """The width d of a feature-vector input of shape (d,), checked against the latent.

    The width is known only once fuse has run (the lyrics SVD may keep fewer dimensions
    than lyrics.dim), so this rule is checked here rather than in config."""
    (input_dim,) = input_shape
    if cfg.latent_dim > input_dim:
        raise ConfigError(f"latent_dim: must not exceed the {input_dim} features of "
                          f"model.input={cfg.input}, got {cfg.latent_dim}")
    return input_dim


class VAE(LatentModel):
    """Gaussian-posterior VAE: q(z|x) = N(mu(x), diag(exp(logvar(x)))), p(z) = N(0, I).

    The decoder output is linear (a Gaussian mean with unit variance), which suits inputs
    standardised to zero mean and unit variance. With ``n_conditions > 0`` it is a
    conditional VAE: the one-hot condition is appended to the encoder and decoder inputs,
    so the latent need not encode it. With ``whiten=True`` the encoder sees the input
    whitened (:class:`Whitening`, fit on the train rows by :meth:`setup`), the
    decoder works in that space and reconstruction error is measured there: a Gaussian
    decoder whose noise covariance is the train split's, not the identity, so directions
    of low variance (often the discriminative ones) are not drowned by dominant ones.
    """

    def __init__(
        self, input_dim: int, latent_dim: int, hidden_dims: tuple[int, ...], dropout: float = 0.0,
        n_conditions: int = 0, whiten: bool = False,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.latent_dim = latent_dim
        self.n_conditions = n_conditions
        self.encoder = mlp([input_dim + n_conditions, *hidden_dims], dropout)
        self.to_mu = nn.Linear(hidden_dims[-1], latent_dim)
        self.to_logvar = nn.Linear(hidden_dims[-1], latent_dim)
        self.decoder = nn.Sequential(
            mlp([latent_dim + n_conditions, *reversed(hidden_dims)], dropout),
            nn.Linear(hidden_dims[0], input_dim),
        )
        self.whitening = Whitening(input_dim) if whiten else None

    @classmethod
    def _build(cls, cfg: ModelConfig, input_shape: tuple[int, ...], *, n_conditions: int,
               n_components: int) -> Self:
        return cls(feature_width(cfg, input_shape), cfg.latent_dim, cfg.hidden_dims,
                   cfg.dropout, whiten=cfg.whiten)

    def setup(self, x_train: np.ndarray) -> None:
        if self.whitening is not None:
            self.fit_whitening(x_train)

    def fit_whitening(self, x: np.ndarray) -> None:
        """Fit the input whitening on (train) rows ``x``; a model built without it refuses."""
        if self.whitening is None:
            raise ValueError("this model was built without whitening")
        self.whitening.fit(x)

    def _with(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if self.n_conditions == 0:
            return x
        if c is None:
            raise ValueError("this conditional model needs a condition c")
        return torch.cat([x, c], dim=1)

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None):
        """(mu, logvar), each of shape (batch, latent_dim)."""
        if self.whitening is not None:
            x = self.whitening(x)
        h = self.encoder(self._with(x, c))
        return self.to_mu(h), self.to_logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The reconstruction in input space (un-whitened when the model whitens)."""
        out = self.decoder(self._with(z, c))
        return out if self.whitening is None else self.whitening.inverse(out)

    def reconstruction_nll(
        self, x: torch.Tensor, recon: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.whitening is None:
            return super().reconstruction_nll(x, recon, mask)
        if mask is not None and not bool(mask.all()):
            raise ValueError("a whitened model needs fully observed input (no masked entries)")
        # (x - recon) W = whiten(x) - whiten(recon): the error in the whitened space.
        return 0.5 * ((x - recon) @ self.whitening.matrix).pow(2).sum(dim=1)


class CVAE(VAE):
    """The conditional VAE (``model.name: cvae``): a :class:`VAE` built with the
    condition's width, so encoder and decoder see the one-hot condition."""

    @classmethod
    def _build(cls, cfg: ModelConfig, input_shape: tuple[int, ...], *, n_conditions: int,
               n_components: int) -> Self:
        return cls(feature_width(cfg, input_shape), cfg.latent_dim, cfg.hidden_dims,
                   cfg.dropout, n_conditions=n_conditions, whiten=cfg.whiten)


class AE(VAE):
    """A deterministic autoencoder of the same size: the encoder's mean is the code; no
    sampling, no KL term. A baseline for what the variational machinery adds."""

    variational = False

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None):
        mu, _ = super().encode(x, c)
        return mu, torch.zeros_like(mu)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per sample, shape (batch,)."""
    return gaussian_kl_per_dim(mu, logvar).sum(dim=1)
