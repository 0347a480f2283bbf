"""VaDE: responsibilities, the mixture KL against independent references, when it is zero,
and the mixture prior fitted to well-separated latent clusters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import adjusted_rand_score
from torch.distributions import Categorical, Normal
from torch.distributions import kl_divergence as torch_kl

from genrevae.models.base import gaussian_kl_per_dim
from genrevae.models.vade import VaDE

D, K = 2, 3
CENTRES = np.array([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]])


def vade(seed: int = 0, n_components: int = K) -> VaDE:
    torch.manual_seed(seed)
    return VaDE(5, D, (8,), n_components=n_components)


def randomise_prior(model: VaDE, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.mu_c.copy_(torch.randn(model.mu_c.shape, generator=g) * 2)
        model.logvar_c.copy_(torch.randn(model.logvar_c.shape, generator=g) * 0.5)
        model.pi_logits.copy_(torch.randn(model.pi_logits.shape, generator=g))


def clustered(n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(K), n_per)
    return (CENTRES[labels] + 0.5 * rng.normal(size=(len(labels), D))).astype(np.float32), labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_responsibilities_are_the_bayes_posterior(seed: int) -> None:
    """gamma_c(z) = pi_c N(z; mu_c, var_c) / sum_k pi_k N(z; mu_k, var_k), rows sum to 1."""
    model = vade()
    randomise_prior(model, seed)
    z = torch.randn(6, D, generator=torch.Generator().manual_seed(seed)) * 2
    with torch.no_grad():
        gamma = model.responsibilities(z).double().numpy()
        pi = torch.softmax(model.pi_logits, 0).double().numpy()
        mu_c, sd_c = model.mu_c.double().numpy(), model.logvar_c.double().exp().sqrt().numpy()
    zn = z.double().numpy()
    log_joint = np.log(pi) + norm.logpdf(zn[:, None, :], mu_c, sd_c).sum(axis=2)
    expected = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(gamma, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gamma.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_kl_matches_independent_reference(seed: int) -> None:
    """Gaussian part = sum_c gamma_c KL(q(z|x) || p(z|c)) per dimension; categorical part =
    KL(gamma || pi). Both are non-negative."""
    model = vade()
    randomise_prior(model, seed)
    g = torch.Generator().manual_seed(100 + seed)
    mu, logvar = torch.randn(7, D, generator=g) * 2, torch.randn(7, D, generator=g)
    z = mu + torch.randn(7, D, generator=g)
    with torch.no_grad():
        per_dim, categorical = model.kl(mu, logvar, z)
        gamma = model.responsibilities(z)
        q = Normal(mu.unsqueeze(1), (0.5 * logvar).exp().unsqueeze(1))
        p = Normal(model.mu_c, (0.5 * model.logvar_c).exp())
        expected_dim = (gamma.unsqueeze(2) * torch_kl(q, p)).sum(dim=1)
        expected_cat = torch_kl(Categorical(probs=gamma),
                                Categorical(logits=model.pi_logits.expand(7, K)))
    torch.testing.assert_close(per_dim, expected_dim, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(categorical, expected_cat, rtol=1e-4, atol=1e-5)
    assert (per_dim >= -1e-6).all() and (categorical >= -1e-6).all()


@pytest.mark.parametrize("pi", [[0.0, 0.0, 0.0], [2.0, -1.0, 0.5]])
def test_categorical_kl_zero_when_responsibilities_equal_the_weights(pi: list[float]) -> None:
    """Identical components make gamma equal to the mixture weights pi for every z, and
    then KL(gamma || pi) is 0; the Gaussian part is 0 exactly at that component."""
    model = vade()
    with torch.no_grad():
        model.mu_c.copy_(torch.tensor([1.5, -0.5]).expand(K, D))
        model.logvar_c.copy_(torch.tensor([0.3, -0.2]).expand(K, D))
        model.pi_logits.copy_(torch.tensor(pi))
        z = torch.randn(5, D) * 3
        gamma = model.responsibilities(z)
        torch.testing.assert_close(gamma, torch.softmax(model.pi_logits, 0).expand(5, K))
        mu, logvar = model.mu_c[:1].expand(5, D), model.logvar_c[:1].expand(5, D)
        per_dim, categorical = model.kl(mu, logvar, z)
    assert categorical.abs().max().item() < 1e-6
    assert per_dim.abs().max().item() < 1e-6


def test_categorical_kl_positive_when_z_picks_a_component() -> None:
    """Separated components and z at one of them: gamma is nearly one-hot, far from a
    uniform pi, so the categorical part is close to log K."""
    model = vade()
    with torch.no_grad():
        model.mu_c.copy_(torch.as_tensor(CENTRES, dtype=torch.float32))
        model.logvar_c.zero_()
        model.pi_logits.zero_()
        z = torch.as_tensor(CENTRES, dtype=torch.float32)
        _, categorical = model.kl(z, torch.zeros_like(z), z)
    torch.testing.assert_close(categorical, torch.full((K,), math.log(K)), atol=1e-3, rtol=0)


def test_standard_normal_components_reduce_to_the_vae_kl() -> None:
    """Every component N(0, I): the Gaussian part is the VAE's KL to N(0, I)."""
    model = vade()
    with torch.no_grad():
        model.mu_c.zero_()
        model.logvar_c.zero_()
        mu, logvar = torch.randn(6, D), torch.randn(6, D)
        per_dim, categorical = model.kl(mu, logvar, mu)
    torch.testing.assert_close(per_dim, gaussian_kl_per_dim(mu, logvar), rtol=1e-5, atol=1e-6)
    assert categorical.abs().max().item() < 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_init_prior_finds_separated_clusters(seed: int) -> None:
    """init_prior on well-separated latent clusters puts one component on each cluster
    (means, variances, weights) and the responsibilities recover the clusters (ARI ~ 1)."""
    z, labels = clustered(60, seed)
    model = vade(seed)
    with torch.no_grad():  # a prior that cannot tell the clusters apart
        model.mu_c.zero_()
        before = adjusted_rand_score(labels, model.responsibilities(torch.as_tensor(z)).argmax(1))
    model.init_prior(z, seed=seed)
    mu_c = model.mu_c.detach().numpy()
    nearest = np.argmin(((mu_c[:, None, :] - CENTRES[None]) ** 2).sum(axis=2), axis=1)
    assert sorted(nearest) == [0, 1, 2]  # one component per cluster
    np.testing.assert_allclose(mu_c, CENTRES[nearest], atol=0.25)
    np.testing.assert_allclose(model.logvar_c.detach().exp().numpy(), 0.25, rtol=0.4)
    np.testing.assert_allclose(torch.softmax(model.pi_logits, 0).detach().numpy(), 1 / K,
                               atol=1e-3)
    with torch.no_grad():
        after = adjusted_rand_score(labels, model.responsibilities(torch.as_tensor(z)).argmax(1))
    assert before == 0.0 and after > 0.99


def test_init_prior_with_more_components_than_points() -> None:
    """Fewer latent rows than components: the first len(z) components are fitted, the
    others keep their values."""
    model = vade(n_components=5)
    spare = model.mu_c[2:].detach().clone()
    z = CENTRES[:2].astype(np.float32)
    model.init_prior(z, seed=0)
    assert sorted(map(tuple, model.mu_c[:2].detach().numpy().round(4))) == sorted(
        map(tuple, z.round(4)))
    torch.testing.assert_close(model.mu_c[2:].detach(), spare)
