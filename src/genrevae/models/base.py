"""What every model shares: encode to (mu, logvar), decode, and its own KL term.

The training loop (:mod:`genrevae.models.training`) only needs this interface, so a Gaussian VAE,
a conditional VAE, a mixture-prior VaDE and a deterministic autoencoder train the same
way and are compared on equal terms.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from genrevae.config import ModelConfig


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


def condition_mmd(mu: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """How far the latent means of each condition group lie from those of the whole batch:
    the sum over groups of the squared maximum mean discrepancy (MMD) between the group's
    rows and all rows, a scalar >= 0 that is 0 when every group's rows are spread alike.

    A cvae given its condition can still leave it in the latent (the encoder sees
    inputs that tell it); penalising this term makes the latent's distribution the same
    for every condition, as in the variational fair autoencoder (Louizos et al. 2016).
    It is taken on the means, which the pipeline clusters: matching samples alone would
    let the means differ under a wide posterior. The kernel is a sum of Gaussian kernels
    of three widths around the prior's scale (squared widths d/4, d, 4d for d latent
    dimensions), so neither near nor far differences escape it. Groups with fewer than
    two rows in the batch, and a batch of one group, contribute 0.
    """
    sq = torch.cdist(mu, mu).pow(2)
    d = mu.shape[1]
    gram = sum(torch.exp(-sq / (2.0 * width)) for width in (d / 4.0, float(d), 4.0 * d))
    groups = c.argmax(dim=1)
    total = mu.new_zeros(())
    for g in groups.unique():
        rows = groups == g
        if 2 <= int(rows.sum()) < len(groups):
            total = total + (gram[rows][:, rows].mean() + gram.mean()
                             - 2.0 * gram[rows].mean())
    return total


class LatentModel(nn.Module):
    """Base class. Subclasses set ``latent_dim`` and implement :meth:`encode`/:meth:`decode`.

    ``c`` is an optional condition (one-hot, shape (batch, n_conditions)); models that are
    not conditional ignore it.
    """

    latent_dim: int
    #: False for the deterministic autoencoder: no sampling and no KL term.
    variational: bool = True
    #: What :meth:`from_config` was given besides the config (input shape, condition and
    #: mixture sizes): the checkpoint saves it to rebuild the model. Absent on a model
    #: built by calling its class directly.
    build_args: dict
    #: Rows per batch when encoding without gradients (validation, latent means): large
    #: for feature vectors; a convolutional model keeps it small, since its activations
    #: per row are large and memory is to stay independent of the corpus.
    eval_batch_size: int = 4096

    # -- building from the config

    @classmethod
    def from_config(cls, cfg: ModelConfig, input_shape: Sequence[int], *, n_conditions: int = 0,
                    n_components: int = 10) -> Self:
        """The model ``cfg`` describes, for inputs of ``input_shape``: (d,) for feature
        vectors, (n_mels, frames) for log-mel segments. ``n_conditions`` is the width of a
        cvae's one-hot condition and ``n_components`` a VaDE's mixture size; a model that
        has neither ignores them. The arguments are kept in :attr:`build_args`.

        Raises
        ------
        ConfigError
            ``cfg`` does not fit the input (a latent wider than a feature vector).
        """
        model = cls._build(cfg, tuple(input_shape), n_conditions=n_conditions,
                           n_components=n_components)
        model.build_args = {"input_shape": list(input_shape), "n_conditions": n_conditions,
                            "n_components": n_components}
        return model

    @classmethod
    def _build(cls, cfg: ModelConfig, input_shape: tuple[int, ...], *, n_conditions: int,
               n_components: int) -> Self:
        """The class's own reading of its config (each model defines it)."""
        raise NotImplementedError

    # -- hooks the training loop calls (genrevae.models.training.fit); no-ops by default

    def setup(self, x_train: np.ndarray) -> None:
        """Before the first epoch, with the train rows: fit what the model derives from its
        data before learning (the VAE's input whitening)."""

    def after_pretraining(self, x_train: np.ndarray, *, seed: int) -> None:
        """Once, when the autoencoder pre-training epochs end (VaDE fits its mixture prior
        to the latent means here)."""

    # -- encoding: every row in order, on the model's device

    @torch.no_grad()
    def encode_rows(self, x: np.ndarray, c: np.ndarray | None = None, *,
                    batch_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of every row of ``x``, each (n, latent_dim) on the CPU, in eval mode.
        Batches are taken in order (never shuffled), so row ``i`` is the encoding of input
        row ``i`` and rows stay aligned with their keys."""
        self.eval()
        device = next(self.parameters()).device
        mus, logvars = [], []
        for start in range(0, len(x), batch_size):
            xb = torch.as_tensor(np.asarray(x[start : start + batch_size], dtype=np.float32),
                                 device=device)
            cb = None if c is None else torch.as_tensor(
                np.asarray(c[start : start + batch_size], dtype=np.float32), device=device)
            mu, logvar = self.encode(xb, cb)
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
        if not mus:
            empty = torch.zeros(0, self.latent_dim)
            return empty, empty.clone()
        return torch.cat(mus), torch.cat(logvars)

    def latent_means(self, x: np.ndarray, c: np.ndarray | None = None, *,
                     batch_size: int | None = None) -> np.ndarray:
        """Posterior means mu(x), float32 of shape (n, latent_dim), row ``i`` for row ``i``;
        ``batch_size`` defaults to :attr:`eval_batch_size`."""
        mu = self.encode_rows(x, c, batch_size=batch_size or self.eval_batch_size)[0]
        return mu.numpy().astype(np.float32)

    @torch.no_grad()
    def reconstruct(self, x: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
        """Decoder output at the posterior mean, shaped like ``x``."""
        self.eval()
        device = next(self.parameters()).device
        ct = None if c is None else torch.as_tensor(np.asarray(c, dtype=np.float32),
                                                    device=device)
        recon, _, _, _ = self(torch.as_tensor(np.asarray(x, dtype=np.float32), device=device), ct)
        return recon.cpu().numpy()

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
