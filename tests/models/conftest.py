"""What the model tests share: a small VAE trained briefly on a toy manifold."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genrevae.config import ModelConfig
from genrevae.models.training import Rows, TrainData, TrainOptions, fit
from genrevae.models.vae import VAE

INPUT_DIM, LATENT_DIM, HIDDEN = 10, 2, (32, 16)


def manifold(rng: np.random.Generator, n: int, noise: float = 0.05) -> np.ndarray:
    """Points on a random 2-D linear subspace of R^10 plus a little isotropic noise."""
    basis = rng.normal(size=(2, INPUT_DIM)) / math.sqrt(2)
    z = rng.normal(size=(n, 2))
    return (z @ basis + noise * rng.normal(size=(n, INPUT_DIM))).astype(np.float32)


def model_config(**overrides) -> ModelConfig:
    values = {"name": "vae", "input": "audio", "latent_dim": LATENT_DIM, "hidden_dims": HIDDEN,
              "beta": 1.0, "dropout": 0.0, "free_bits": 0.0, "condition": None,
              "n_components": None, "pretrain_epochs": 0, "whiten": False}
    values.update(overrides)
    return ModelConfig(**values)


@pytest.fixture
def trained(rng: np.random.Generator, torch_one_thread) -> VAE:
    """A VAE after two epochs on 256 toy rows."""
    x = manifold(rng, 320)
    torch.manual_seed(0)
    model = VAE(INPUT_DIM, LATENT_DIM, HIDDEN)
    fit(model, TrainData(Rows(x[:256]), Rows(x[256:])),
        TrainOptions(beta=1.0, epochs=2, batch_size=32, lr=3e-3, patience=100, seed=0,
                     progress=False))
    return model
