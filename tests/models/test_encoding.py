"""Encoding every row in order (latent means) and decoding at the mean: the one encoder
loop of :class:`genrevae.models.base.LatentModel`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrevae.models.vae import VAE
from tests.models.conftest import INPUT_DIM, LATENT_DIM, manifold


def test_latent_means_keep_input_order(trained: VAE, rng: np.random.Generator) -> None:
    """latent_means(x[perm]) == latent_means(x)[perm]."""
    x = manifold(rng, 50)
    perm = rng.permutation(len(x))
    z = trained.latent_means(x)
    assert z.shape == (50, LATENT_DIM) and z.dtype == np.float32
    np.testing.assert_allclose(trained.latent_means(x[perm]), z[perm], rtol=1e-5, atol=1e-6)


def test_latent_means_equal_encoder_mean(trained: VAE, rng: np.random.Generator) -> None:
    """The rows are exactly model.encode(x)[0]."""
    x = manifold(rng, 20)
    with torch.no_grad():
        mu, _ = trained.encode(torch.as_tensor(x))
    np.testing.assert_allclose(trained.latent_means(x), mu.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 50, 4096])
def test_latent_means_batch_size_invariant(
    trained: VAE, rng: np.random.Generator, batch_size: int
) -> None:
    """The batch size changes nothing (LayerNorm is per row, no batch statistics)."""
    x = manifold(rng, 23)
    np.testing.assert_allclose(trained.latent_means(x, batch_size=batch_size),
                               trained.latent_means(x), rtol=1e-5, atol=1e-6)


def test_latent_means_empty(trained: VAE) -> None:
    """No rows in, an empty (0, latent_dim) array out."""
    z = trained.latent_means(np.zeros((0, INPUT_DIM), dtype=np.float32))
    assert z.shape == (0, LATENT_DIM)


def test_latent_means_sets_eval_mode(trained: VAE, rng: np.random.Generator) -> None:
    """Called on a model left in train mode it still returns deterministic means."""
    x = manifold(rng, 10)
    trained.train()
    a = trained.latent_means(x)
    trained.train()
    np.testing.assert_array_equal(a, trained.latent_means(x))
    assert not trained.training


def test_reconstruct_shape_and_value(trained: VAE, rng: np.random.Generator) -> None:
    """reconstruct returns an array shaped like x equal to decode(mu)."""
    x = manifold(rng, 13)
    out = trained.reconstruct(x)
    assert out.shape == x.shape
    with torch.no_grad():
        expected = trained.decode(trained.encode(torch.as_tensor(x))[0]).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
