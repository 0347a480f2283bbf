"""Variational Deep Embedding: a VAE whose prior is a Gaussian mixture, one component per
cluster, so clustering is learned together with the latent space (Jiang et al., 2017)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Self

import numpy as np
import torch
from torch import nn

from genrevae.models.vae import VAE, feature_width

if TYPE_CHECKING:
    from genrevae.config import ModelConfig


class VaDE(VAE):
    """p(c) = softmax(pi_logits); p(z | c) = N(mu_c, diag(exp(logvar_c))); q(z | x) as in
    the VAE and q(c | x) = p(c | z), the components' responsibilities at z."""

    def __init__(
        self, input_dim: int, latent_dim: int, hidden_dims: tuple[int, ...], dropout: float = 0.0,
        n_components: int = 10, whiten: bool = False,
    ) -> None:
        super().__init__(input_dim, latent_dim, hidden_dims, dropout, whiten=whiten)
        self.n_components = n_components
        self.pi_logits = nn.Parameter(torch.zeros(n_components))
        self.mu_c = nn.Parameter(torch.randn(n_components, latent_dim) * 0.5)
        self.logvar_c = nn.Parameter(torch.zeros(n_components, latent_dim))

    @classmethod
    def _build(cls, cfg: ModelConfig, input_shape: tuple[int, ...], *, n_conditions: int,
               n_components: int) -> Self:
        return cls(feature_width(cfg, input_shape), cfg.latent_dim, cfg.hidden_dims,
                   cfg.dropout, n_components=n_components, whiten=cfg.whiten)

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """log p(c) + log p(z | c), shape (batch, n_components)."""
        z = z.unsqueeze(1)
        log_pz_c = -0.5 * (math.log(2 * math.pi) + self.logvar_c
                           + (z - self.mu_c).pow(2) / self.logvar_c.exp()).sum(dim=2)
        return torch.log_softmax(self.pi_logits, dim=0) + log_pz_c

    def responsibilities(self, z: torch.Tensor) -> torch.Tensor:
        """q(c | x) evaluated at z, shape (batch, n_components)."""
        return torch.softmax(self.log_joint(z), dim=1)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor):
        """KL(q(z, c | x) || p(z, c)) split into a per-dimension Gaussian part (batch, D)
        and the categorical part (batch,)."""
        gamma = self.responsibilities(z)
        var_c = self.logvar_c.exp()
        per_comp = 0.5 * (self.logvar_c + (logvar.exp().unsqueeze(1)
                                           + (mu.unsqueeze(1) - self.mu_c).pow(2)) / var_c)
        per_dim = (gamma.unsqueeze(2) * per_comp).sum(dim=1) - 0.5 * (1.0 + logvar)
        log_pi = torch.log_softmax(self.pi_logits, dim=0)
        categorical = (gamma * (torch.log(gamma + 1e-10) - log_pi)).sum(dim=1)
        return per_dim, categorical

    def after_pretraining(self, x_train: np.ndarray, *, seed: int) -> None:
        self.init_prior(self.latent_means(x_train), seed=seed)

    @torch.no_grad()
    def init_prior(self, z: np.ndarray, *, seed: int) -> None:
        """Fit the mixture to latent means (after autoencoder pre-training), as VaDE does."""
        from sklearn.mixture import GaussianMixture

        k = min(self.n_components, len(z))
        gmm = GaussianMixture(n_components=k, covariance_type="diag", random_state=seed,
                              reg_covar=1e-4).fit(z)
        dev = self.mu_c.device
        self.mu_c[:k] = torch.as_tensor(gmm.means_, dtype=torch.float32, device=dev)
        self.logvar_c[:k] = torch.log(torch.as_tensor(gmm.covariances_, dtype=torch.float32,
                                                      device=dev))
        self.pi_logits[:k] = torch.log(torch.as_tensor(gmm.weights_, dtype=torch.float32,
                                                       device=dev))
