"""Model diagnostics: active units (collapsed dimensions do not count), KL per dimension
(0 for the autoencoder), reconstruction error over observed entries, and traversals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrevae.config import MODEL_NAMES, ModelConfig
from genrevae.evaluation.diagnostics import latent_diagnostics, traversals
from genrevae.models.registry import build_model
from genrevae.models.vae import AE, VAE

D, LATENT, MEL = 8, 4, (16, 20)


def model_of(name: str, seed: int = 0):
    cfg = ModelConfig(name=name, input="mel" if name == "conv_vae" else "audio",
                      latent_dim=LATENT, hidden_dims=(16,), beta=1.0, dropout=0.0, free_bits=0.0,
                      condition="language" if name == "cvae" else None, n_components=None,
                      pretrain_epochs=0, whiten=False)
    torch.manual_seed(seed)
    return build_model(cfg, MEL if name == "conv_vae" else (D,), n_conditions=2, n_components=3)


def inputs(name: str, n: int, rng: np.random.Generator):
    x = rng.normal(size=(n, *(MEL if name == "conv_vae" else (D,)))).astype(np.float32)
    c = np.eye(2, dtype=np.float32)[rng.integers(0, 2, size=n)] if name == "cvae" else None
    return x, c


def test_autoencoder_has_zero_kl(rng: np.random.Generator) -> None:
    """An AE has no prior: kl and every kl_per_dim entry are exactly 0."""
    torch.manual_seed(0)
    x = rng.normal(size=(30, D)).astype(np.float32)
    out = latent_diagnostics(AE(D, LATENT, (16,)), x)
    assert out["kl"] == 0.0
    assert out["kl_per_dim"] == [0.0] * LATENT
    assert out["latent_dim"] == LATENT
    assert out["active_units"] == LATENT  # the code still varies with x


def collapsed_vae(dead: int) -> VAE:
    """A VAE whose dimension ``dead`` has posterior N(0, 1) for every input."""
    torch.manual_seed(0)
    model = VAE(D, LATENT, (16,))
    with torch.no_grad():
        for layer in (model.to_mu, model.to_logvar):
            layer.weight[dead] = 0.0
            layer.bias[dead] = 0.0
        model.to_mu.weight.mul_(5.0)  # the live dimensions vary clearly
    return model


@pytest.mark.parametrize("dead", [0, 2])
def test_collapsed_dimension_is_not_active(rng: np.random.Generator, dead: int) -> None:
    """A dimension whose mean is constant (at the prior) is not counted as active and has
    KL exactly 0; the others are active with positive KL."""
    model = collapsed_vae(dead)
    out = latent_diagnostics(model, rng.normal(size=(50, D)).astype(np.float32))
    assert out["active_units"] == LATENT - 1
    assert out["kl_per_dim"][dead] == 0.0
    assert all(v > 0 for i, v in enumerate(out["kl_per_dim"]) if i != dead)
    assert out["kl"] == pytest.approx(sum(out["kl_per_dim"]), rel=1e-5)


def test_dimension_the_decoder_ignores_stays_active_if_its_mean_varies(
    rng: np.random.Generator,
) -> None:
    """Activity is about Var_x E[z|x], not about the decoder: zeroing the decoder's weights
    for a dimension changes the reconstruction, not the active-unit count."""
    torch.manual_seed(0)
    model = VAE(D, LATENT, (16,))
    with torch.no_grad():
        model.to_mu.weight.mul_(5.0)
    x = rng.normal(size=(40, D)).astype(np.float32)
    before = latent_diagnostics(model, x)
    with torch.no_grad():
        model.decoder[0][0].weight[:, 1] = 0.0
    after = latent_diagnostics(model, x)
    assert before["active_units"] == after["active_units"] == LATENT
    assert after["recon_mse"] != before["recon_mse"]


@pytest.mark.parametrize("threshold", [0.0, 1e6])
def test_active_threshold(rng: np.random.Generator, threshold: float) -> None:
    """Threshold 0 counts every dimension that varies at all; a huge one counts none."""
    out = latent_diagnostics(collapsed_vae(1), rng.normal(size=(20, D)).astype(np.float32),
                             active_threshold=threshold)
    assert out["active_units"] == (LATENT - 1 if threshold == 0.0 else 0)


def test_recon_mse_over_observed_entries(rng: np.random.Generator) -> None:
    """recon_mse is the mean squared error of decode(mu) over observed entries only."""
    torch.manual_seed(0)
    model = VAE(D, LATENT, (16,)).eval()
    x = rng.normal(size=(12, D)).astype(np.float32)
    observed = np.ones_like(x, dtype=bool)
    observed[:, D // 2 :] = False
    with torch.no_grad():
        recon = model.decode(model.encode(torch.as_tensor(x))[0]).numpy()
    full = latent_diagnostics(model, x)["recon_mse"]
    part = latent_diagnostics(model, x, observed=observed)["recon_mse"]
    assert full == pytest.approx(float(((x - recon) ** 2).mean()), rel=1e-5)
    assert part == pytest.approx(float(((x - recon) ** 2)[observed].mean()), rel=1e-5)
    assert part != pytest.approx(full)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize(("n_dims", "steps"), [(3, 7), (2, 5), (9, 3)])
def test_traversal_shapes(rng: np.random.Generator, name: str, n_dims: int, steps: int) -> None:
    """(dims, offsets, decoded): the most varying dimensions (at most latent_dim), offsets
    from -2 to 2, decoded (n_dims, steps, *input shape); the middle step decodes the mean."""
    model = model_of(name).eval()
    _, c = inputs(name, 40, rng)
    z = (rng.normal(size=(40, LATENT)) * [0.1, 3.0, 1.0, 2.0]).astype(np.float32)
    dims, offsets, decoded = traversals(model, z, n_dims=n_dims, steps=steps, c=c)
    shown = min(n_dims, LATENT)
    assert dims == [1, 3, 2, 0][:shown]
    np.testing.assert_allclose(offsets, np.linspace(-2, 2, steps))
    shape = MEL if name == "conv_vae" else (D,)
    assert decoded.shape == (shown, steps, *shape)
    centre = torch.as_tensor(z.mean(axis=0, keepdims=True))
    ct = None
    if c is not None:
        ct = torch.zeros(1, 2)
        ct[0, int(c.sum(axis=0).argmax())] = 1.0
    with torch.no_grad():
        expected = model.decode(centre, ct).numpy()[0]
    np.testing.assert_allclose(decoded[0, steps // 2], expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(decoded[0, 0], decoded[0, -1])
