"""Model name (``model.name`` in params) -> model class, built from config."""

from __future__ import annotations

from torch import nn

from genrevae.config import ModelConfig
from genrevae.models.vae import VAE

MODELS: dict[str, type[nn.Module]] = {"vae": VAE}


def build_model(cfg: ModelConfig, input_dim: int) -> nn.Module:
    try:
        cls = MODELS[cfg.name]
    except KeyError:
        raise ValueError(f"unknown model {cfg.name!r}; known: {sorted(MODELS)}") from None
    return cls(input_dim, cfg.latent_dim, cfg.hidden_dims, cfg.dropout)
