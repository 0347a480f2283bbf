"""A convolutional VAE on log-mel segments (n_mels x frames), decoding the spectrogram."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from genrevae.models.base import LatentModel


class ConvVAE(LatentModel):
    """Strided 2-D convolutions down to a small feature map, a Gaussian latent, and
    transposed convolutions back up; the output is resized to the exact input shape.

    Input: standardised log-mel segments, shape (batch, n_mels, frames).
    """

    def __init__(
        self, input_shape: tuple[int, int], latent_dim: int, channels: tuple[int, ...] = (32, 64, 128),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        down: list[nn.Module] = []
        prev = 1
        for ch in channels:
            down += [nn.Conv2d(prev, ch, kernel_size=4, stride=2, padding=1), nn.BatchNorm2d(ch),
                     nn.GELU()]
            prev = ch
        if dropout > 0:
            down.append(nn.Dropout(dropout))
        self.encoder = nn.Sequential(*down)
        with torch.no_grad():
            self.map_shape = tuple(self.encoder(torch.zeros(1, 1, *self.input_shape)).shape[1:])
        flat = int(torch.tensor(self.map_shape).prod())
        self.to_mu = nn.Linear(flat, latent_dim)
        self.to_logvar = nn.Linear(flat, latent_dim)
        self.from_z = nn.Linear(latent_dim, flat)
        up: list[nn.Module] = []
        rev = list(reversed(channels))
        for a, b in itertools.pairwise(rev):
            up += [nn.ConvTranspose2d(a, b, kernel_size=4, stride=2, padding=1), nn.BatchNorm2d(b),
                   nn.GELU()]
        up.append(nn.ConvTranspose2d(rev[-1], 1, kernel_size=4, stride=2, padding=1))
        self.decoder = nn.Sequential(*up)

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None):
        h = self.encoder(x.unsqueeze(1)).flatten(start_dim=1)
        return self.to_mu(h), self.to_logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.from_z(z).view(-1, *self.map_shape)
        out = self.decoder(h)
        if tuple(out.shape[-2:]) != self.input_shape:
            out = F.interpolate(out, size=self.input_shape, mode="bilinear", align_corners=False)
        return out.squeeze(1)
