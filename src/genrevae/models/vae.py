"""A variational autoencoder with MLP encoder and decoder for standardised feature vectors."""

from __future__ import annotations

import itertools

import torch
from torch import nn


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Gaussian-posterior VAE: q(z|x) = N(mu(x), diag(exp(logvar(x)))), p(z) = N(0, I).

    The decoder output is linear (a Gaussian mean with unit variance), which suits inputs
    standardised to zero mean and unit variance.
    """

    def __init__(
        self, input_dim: int, latent_dim: int, hidden_dims: tuple[int, ...], dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.latent_dim = latent_dim
        self.encoder = _mlp([input_dim, *hidden_dims], dropout)
        self.to_mu = nn.Linear(hidden_dims[-1], latent_dim)
        self.to_logvar = nn.Linear(hidden_dims[-1], latent_dim)
        self.decoder = nn.Sequential(
            _mlp([latent_dim, *reversed(hidden_dims)], dropout),
            nn.Linear(hidden_dims[0], input_dim),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar), each of shape (batch, latent_dim)."""
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction, mu, logvar); samples z in training, uses the mean in eval mode."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decode(z), mu, logvar


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per sample, shape (batch,)."""
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1.0 - logvar, dim=1)


def reconstruction_nll(
    x: torch.Tensor, recon: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Unit-variance Gaussian negative log-likelihood (up to a constant) per sample,
    summed over the observed entries only; shape (batch,)."""
    err = 0.5 * (x - recon).pow(2)
    if mask is not None:
        err = err * mask
    return err.sum(dim=1)
