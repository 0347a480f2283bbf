"""What every model shares: encode to (mu, logvar), decode, and its own KL term.

The training loop (:mod:`genrevae.training`) only needs this interface, so a Gaussian VAE,
a conditional VAE, a mixture-prior VaDE and a deterministic autoencoder train the same
way and are compared on equal terms.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    """Linear -> LayerNorm -> GELU (-> Dropout) for each consecutive pair of ``sizes``."""
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per sample and dimension, shape (batch, latent)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def reconstruction_nll(
    x: torch.Tensor, recon: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Unit-variance Gaussian negative log-likelihood (up to a constant) per sample,
    summed over the observed entries only; shape (batch,). Any input shape (batch, ...)."""
    err = 0.5 * (x - recon).pow(2)
    if mask is not None:
        err = err * mask
    return err.flatten(start_dim=1).sum(dim=1)


class LatentModel(nn.Module):
    """Base class. Subclasses set ``latent_dim`` and implement :meth:`encode`/:meth:`decode`.

    ``c`` is an optional condition (one-hot, shape (batch, n_conditions)); models that are
    not conditional ignore it.
    """

    latent_dim: int
    #: False for the deterministic autoencoder: no sampling and no KL term.
    variational: bool = True

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None):
        raise NotImplementedError

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None):
        """(reconstruction, mu, logvar, z): z is sampled in training, the mean in eval."""
        mu, logvar = self.encode(x, c)
        z = self.reparameterize(mu, logvar) if (self.training and self.variational) else mu
        return self.decode(z, c), mu, logvar, z

    def reconstruction_nll(
        self, x: torch.Tensor, recon: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The reconstruction term per sample, shape (batch,): by default a unit-variance
        Gaussian over the observed entries (:func:`reconstruction_nll`)."""
        return reconstruction_nll(x, recon, mask)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor):
        """(per-dimension KL, shape (batch, latent); extra KL not split by dimension,
        shape (batch,)). The default prior is N(0, I); the autoencoder has none."""
        if not self.variational:
            zero = torch.zeros_like(mu)
            return zero, zero.sum(dim=1)
        return gaussian_kl_per_dim(mu, logvar), torch.zeros(mu.shape[0], device=mu.device)
