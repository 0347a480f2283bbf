"""A convolutional VAE on log-mel segments (n_mels x frames), decoding the spectrogram."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Self

import torch
import torch.nn.functional as F
from torch import nn

from genrevae.models.base import LatentModel

if TYPE_CHECKING:
    from genrevae.config import ModelConfig


class ConvVAE(LatentModel):
    """Strided 2-D convolutions down to a small feature map, a Gaussian latent, and
    transposed convolutions back up; the output is resized to the exact input shape.

    Input: standardised log-mel segments, shape (batch, n_mels, frames). ``pool`` > 1
    averages ``pool`` x ``pool`` cells of the input before the first convolution, and
    the decoder's output (at the pooled resolution) is resized back, so the loss is
    always against the full spectrogram. Pooling by 2 with ``channels`` (16, 32, 64) is
    the default network (conf/model/conv_vae.yaml): about a sixteenth of the arithmetic of
    (32, 64, 128) on the full input, the network before it, which these arguments'
    defaults still build (benchmarks/train.py compares the two).
    """

    #: Validation and latent batches: a batch of log-mel rows and its feature maps are
    #: large, and the memory they take is not to grow with the corpus.
    eval_batch_size = 256

    def __init__(
        self, input_shape: tuple[int, int], latent_dim: int, channels: tuple[int, ...] = (32, 64, 128),
        dropout: float = 0.0, pool: int = 1,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        self.pool = pool
        pooled = tuple(size // pool for size in self.input_shape)
        # Each stride-2 convolution halves a side (rounding down); the map must keep at
        # least two cells for batch normalisation.
        cells = [size // 2 ** len(channels) for size in pooled]
        if min(cells) < 1 or cells[0] * cells[1] < 2:
            raise ValueError(f"a {self.input_shape} input pooled by {pool} is too small for "
                             f"{len(channels)} stride-2 convolutions")
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
            self.map_shape = tuple(self.encoder(torch.zeros(1, 1, *pooled)).shape[1:])
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

    @classmethod
    def _build(cls, cfg: ModelConfig, input_shape: tuple[int, ...], *, n_conditions: int,
               n_components: int) -> Self:
        return cls(input_shape, cfg.latent_dim, channels=cfg.channels, dropout=cfg.dropout,
                   pool=cfg.pool)

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None):
        x = x.unsqueeze(1)
        if self.pool > 1:
            x = F.avg_pool2d(x, self.pool)
        h = self.encoder(x).flatten(start_dim=1)
        return self.to_mu(h), self.to_logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.from_z(z).view(-1, *self.map_shape)
        out = self.decoder(h)
        if tuple(out.shape[-2:]) != self.input_shape:
            out = F.interpolate(out, size=self.input_shape, mode="bilinear", align_corners=False)
        return out.squeeze(1)
