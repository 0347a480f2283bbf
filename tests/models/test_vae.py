"""The VAE (shapes, sampling vs. mean, KL, masked and whitened reconstruction) and
build_model; the condition penalty (maximum mean discrepancy) a cvae can train with."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genrevae.config import ModelConfig
from genrevae.errors import ConfigError
from genrevae.models.base import condition_mmd, reconstruction_nll
from genrevae.models.registry import build_model
from genrevae.models.vae import VAE, Whitening, kl_divergence

GRID = [
    (10, 2, (8,)),
    (7, 3, (16, 8)),
    (32, 4, (64, 32, 16)),
    (5, 8, (4,)),  # latent wider than the input
]


def _model_config(**overrides) -> ModelConfig:
    values = {"name": "vae", "input": "audio", "latent_dim": 3, "hidden_dims": (16, 8),
              "beta": 1.0, "dropout": 0.0, "free_bits": 0.0, "condition": None,
              "n_components": None, "pretrain_epochs": 0, "whiten": False}
    values.update(overrides)
    return ModelConfig(**values)


@pytest.mark.parametrize(("input_dim", "latent_dim", "hidden_dims"), GRID)
@pytest.mark.parametrize("batch", [1, 5])
def test_shapes(input_dim: int, latent_dim: int, hidden_dims: tuple[int, ...], batch: int) -> None:
    """encode gives (batch, latent) twice, decode (batch, input), forward all four."""
    torch.manual_seed(0)
    model = VAE(input_dim, latent_dim, hidden_dims)
    x = torch.randn(batch, input_dim)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (batch, latent_dim)
    assert model.decode(mu).shape == (batch, input_dim)
    for mode in (True, False):
        model.train(mode)
        recon, mu2, logvar2, z = model(x)
        assert recon.shape == x.shape
        assert mu2.shape == logvar2.shape == z.shape == (batch, latent_dim)
    assert model.input_dim == input_dim and model.latent_dim == latent_dim


def test_logvar_is_clamped() -> None:
    """encode clamps logvar to [-10, 10] even for huge inputs."""
    torch.manual_seed(0)
    model = VAE(4, 2, (8,))
    with torch.no_grad():
        model.to_logvar.bias.fill_(1e4)
        _, logvar = model.encode(torch.randn(3, 4))
    assert torch.all(logvar == 10.0)


def test_eval_forward_is_deterministic_and_uses_mean() -> None:
    """In eval mode forward is repeatable, z is mu and the output equals decode(mu)."""
    torch.manual_seed(0)
    model = VAE(6, 3, (12,)).eval()
    x = torch.randn(4, 6)
    with torch.no_grad():
        a, mu, _, z = model(x)
        b, _, _, _ = model(x)
        expected = model.decode(mu)
    torch.testing.assert_close(z, mu, rtol=0, atol=0)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a, expected, rtol=0, atol=0)


def test_train_forward_samples() -> None:
    """In train mode two passes differ (z is sampled) while mu/logvar stay the same."""
    torch.manual_seed(0)
    model = VAE(6, 3, (12,)).train()
    x = torch.randn(4, 6)
    with torch.no_grad():
        a, mu_a, lv_a, z_a = model(x)
        b, mu_b, lv_b, z_b = model(x)
        at_mean = model.decode(mu_a)
        at_z = model.decode(z_a)
    assert not torch.allclose(z_a, z_b)
    assert not torch.allclose(z_a, mu_a)
    torch.testing.assert_close(a, at_z)
    torch.testing.assert_close(mu_a, mu_b)
    torch.testing.assert_close(lv_a, lv_b)
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, at_mean)


def test_reparameterize_statistics() -> None:
    """Samples have mean mu and standard deviation exp(logvar / 2)."""
    torch.manual_seed(0)
    mu = torch.full((20000, 2), 1.5)
    logvar = torch.log(torch.tensor([[0.25, 4.0]])).expand(20000, 2)
    z = VAE.reparameterize(mu, logvar)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.5, 1.5]), atol=0.05, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([0.5, 2.0]), atol=0.05, rtol=0)


def test_kl_zero_at_prior() -> None:
    """KL(N(0, I) || N(0, I)) is exactly 0 for every row."""
    kl = kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4))
    assert kl.shape == (3,)
    assert torch.equal(kl, torch.zeros(3))


@pytest.mark.parametrize(
    ("mu", "logvar"),
    [([0.5, 0.0], [0.0, 0.0]), ([0.0, 0.0], [1.0, 0.0]), ([0.0, 0.0], [-1.0, -2.0]),
     ([-2.0, 3.0], [0.3, -0.7])],
)
def test_kl_positive_off_prior(mu: list[float], logvar: list[float]) -> None:
    """Any posterior other than the prior has strictly positive KL."""
    kl = kl_divergence(torch.tensor([mu]), torch.tensor([logvar]))
    assert kl.item() > 0


def test_kl_closed_form() -> None:
    """Hand-computed KL: mu=(1, 2), var=(e, 1) -> 0.5 * [(1 + e - 1 - 1) + (4 + 1 - 1 - 0)]."""
    mu = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([0.5 * ((1 + math.e - 1 - 1) + (4 + 1 - 1 - 0)), 0.0],
                            dtype=torch.float64)
    torch.testing.assert_close(kl_divergence(mu, logvar), expected)


def test_reconstruction_nll_value() -> None:
    """Without a mask the loss is 0.5 * sum of squared errors per row."""
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    recon = torch.tensor([[1.0, 0.0, 4.0], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(reconstruction_nll(x, recon), torch.tensor([2.5, 1.5]))


def test_reconstruction_nll_mask_ignores_masked_entries(rng: np.random.Generator) -> None:
    """Changing a masked entry of x leaves the loss unchanged; an observed one changes it."""
    x = torch.as_tensor(rng.normal(size=(4, 6)), dtype=torch.float32)
    recon = torch.as_tensor(rng.normal(size=(4, 6)), dtype=torch.float32)
    mask = torch.ones(4, 6)
    mask[:, 3:] = 0.0
    base = reconstruction_nll(x, recon, mask)
    x_masked = x.clone()
    x_masked[:, 3:] += 100.0
    torch.testing.assert_close(reconstruction_nll(x_masked, recon, mask), base, rtol=0, atol=0)
    torch.testing.assert_close(base, reconstruction_nll(x[:, :3], recon[:, :3]))
    x_obs = x.clone()
    x_obs[0, 0] += 1.0
    changed = reconstruction_nll(x_obs, recon, mask)
    assert changed[0] != base[0]
    torch.testing.assert_close(changed[1:], base[1:])


def _correlated(rng: np.random.Generator, n: int = 400, d: int = 6) -> np.ndarray:
    """Rows with strongly unequal, correlated directions (eigenvalues 1e-2 .. 25)."""
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.geomspace(5.0, 0.1, d)
    return (rng.normal(size=(n, d)) * scales) @ basis.T + rng.normal(size=d)


def test_whitening_gives_identity_covariance_and_inverts(rng: np.random.Generator) -> None:
    x = _correlated(rng)
    w = Whitening(x.shape[1], ridge=0.0).fit(x)
    xw = w(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(xw.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.cov(xw, rowvar=False), np.eye(x.shape[1]), atol=1e-3)
    back = w.inverse(torch.as_tensor(xw, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(back, x, atol=1e-4)


def test_whitening_ridge_floors_a_degenerate_direction(rng: np.random.Generator) -> None:
    """A constant column has no variance: the floor keeps the map finite and bounded."""
    x = _correlated(rng)
    x[:, 2] = 3.0
    w = Whitening(x.shape[1]).fit(x)
    assert torch.isfinite(w.matrix).all()
    assert float(w.matrix.abs().max()) < 1.0 / math.sqrt(1e-3 * np.cov(x, rowvar=False).trace()
                                                         / x.shape[1]) + 1e-3


def test_whitened_reconstruction_is_the_train_mahalanobis_distance(rng) -> None:
    """0.5 (x - r)^T S^-1 (x - r), S the (ridge-floored) train covariance; the unwhitened
    model keeps the unit-variance term."""
    x = _correlated(rng)
    model = VAE(x.shape[1], 2, (8,), whiten=True)
    model.fit_whitening(x)
    evals, evecs = np.linalg.eigh(np.cov(x, rowvar=False))
    cov = (evecs * (evals + 1e-3 * evals.mean())) @ evecs.T
    xb, rb = x[:5], x[5:10]
    expected = 0.5 * np.einsum("ij,jk,ik->i", xb - rb, np.linalg.inv(cov), xb - rb)
    got = model.reconstruction_nll(torch.as_tensor(xb, dtype=torch.float32),
                                   torch.as_tensor(rb, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-3)
    plain = VAE(x.shape[1], 2, (8,))
    xt, rt = (torch.as_tensor(a, dtype=torch.float32) for a in (xb, rb))
    torch.testing.assert_close(plain.reconstruction_nll(xt, rt), reconstruction_nll(xt, rt))


def test_whitened_model_encodes_whitened_input_and_decodes_to_input_space(rng) -> None:
    x = _correlated(rng)
    model = VAE(x.shape[1], 2, (8,), whiten=True).eval()
    model.fit_whitening(x)
    xt = torch.as_tensor(x[:4], dtype=torch.float32)
    h = model.encoder(model.whitening(xt))
    torch.testing.assert_close(model.encode(xt)[0], model.to_mu(h))
    z = torch.zeros(1, 2)
    torch.testing.assert_close(model.decode(z),
                               model.whitening.inverse(model.decoder(z)))


def test_whitened_model_refuses_masked_entries(rng) -> None:
    x = torch.as_tensor(_correlated(rng, n=10), dtype=torch.float32)
    model = VAE(x.shape[1], 2, (8,), whiten=True)
    mask = torch.ones_like(x)
    model.reconstruction_nll(x, x, mask)  # all observed: fine
    mask[0, 0] = 0
    with pytest.raises(ValueError, match="fully observed"):
        model.reconstruction_nll(x, x, mask)


def test_whitening_is_saved_with_the_weights(rng) -> None:
    x = _correlated(rng)
    model = VAE(x.shape[1], 2, (8,), whiten=True)
    model.fit_whitening(x)
    clone = build_model(_model_config(latent_dim=2, hidden_dims=(8,), whiten=True), (x.shape[1],))
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone.whitening.matrix, model.whitening.matrix)
    with pytest.raises(ValueError, match="without whitening"):
        VAE(x.shape[1], 2, (8,)).fit_whitening(x)


def test_build_model_vae() -> None:
    """build_model('vae') returns a VAE with the configured sizes."""
    model = build_model(_model_config(latent_dim=5, hidden_dims=(12, 6)), (9,))
    assert isinstance(model, VAE)
    assert model.input_dim == 9 and model.latent_dim == 5
    mu, _ = model.encode(torch.zeros(2, 9))
    assert mu.shape == (2, 5)
    assert model.encoder[0].out_features == 12


def test_build_model_passes_dropout() -> None:
    """A positive dropout adds Dropout layers; zero adds none."""
    with_dropout = build_model(_model_config(dropout=0.3), (4,))
    without = build_model(_model_config(dropout=0.0), (4,))
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in with_dropout.modules())
    assert not any(isinstance(m, torch.nn.Dropout) for m in without.modules())


def test_build_model_unknown_name() -> None:
    """An unknown model name is a ValueError naming it."""
    with pytest.raises(ValueError, match="unknown model 'transformer'"):
        build_model(_model_config(name="transformer"), (4,))


def test_build_model_refuses_a_latent_wider_than_the_input() -> None:
    """A latent wider than a feature vector is refused naming latent_dim (the input's
    width is known only at train time); as wide as the input is fine."""
    with pytest.raises(ConfigError, match=r"^latent_dim: must not exceed the 4 features"):
        build_model(_model_config(latent_dim=5), (4,))
    assert build_model(_model_config(latent_dim=4), (4,)).latent_dim == 4


# ---------------------------------------------------------------- condition_mmd


def _one_hot(groups: np.ndarray, n: int = 2) -> torch.Tensor:
    return torch.as_tensor(np.eye(n, dtype=np.float32)[groups])


def test_condition_mmd_is_zero_when_every_group_is_spread_alike(rng: np.random.Generator) -> None:
    """The same rows in each group: no discrepancy; a batch of a single group has nothing
    to compare and costs nothing."""
    rows = torch.as_tensor(rng.normal(size=(20, 4)).astype(np.float32))
    mu = torch.cat([rows, rows])
    groups = np.repeat([0, 1], 20)
    assert float(condition_mmd(mu, _one_hot(groups))) == pytest.approx(0.0, abs=1e-6)
    assert float(condition_mmd(mu, _one_hot(np.zeros(40, dtype=int)))) == 0.0


def test_condition_mmd_grows_with_the_shift_between_groups(rng: np.random.Generator) -> None:
    """Moving one group's means away from the other's raises the penalty, and its gradient
    pulls the groups together (a gradient step lowers it)."""
    base = rng.normal(size=(64, 8)).astype(np.float32)
    groups = rng.integers(0, 3, size=64)
    values = []
    for shift in (0.0, 0.5, 1.0, 2.0):
        mu = base + shift * (groups == 1)[:, None]
        values.append(float(condition_mmd(torch.as_tensor(mu), _one_hot(groups, 3))))
    assert values == sorted(values) and values[0] < values[-1] / 3
    mu = torch.as_tensor(base + 2.0 * (groups == 1)[:, None]).requires_grad_()
    penalty = condition_mmd(mu, _one_hot(groups, 3))
    penalty.backward()
    with torch.no_grad():
        after = condition_mmd(mu - 10.0 * mu.grad, _one_hot(groups, 3))
    assert float(after) < float(penalty.detach())
