"""Every model variant (vae, conv_vae, cvae, vade, ae): built by name, trained by the same
loop, learning a toy problem, and carrying a KL term that is zero exactly where it should be."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrevae.config import MODEL_NAMES, ModelConfig
from genrevae.models.base import LatentModel
from genrevae.models.conv_vae import ConvVAE
from genrevae.models.registry import build_model
from genrevae.models.training import Rows, TrainData, TrainOptions, fit
from genrevae.models.vade import VaDE
from genrevae.models.vae import AE, CVAE, VAE

D, LATENT, MEL = 12, 3, (16, 20)
N_CONDITIONS, N_COMPONENTS = 2, 3


def model_config(name: str, **overrides) -> ModelConfig:
    values = {"name": name, "input": "mel" if name == "conv_vae" else "audio",
              "latent_dim": LATENT, "hidden_dims": (32, 16), "beta": 1.0, "dropout": 0.0,
              "free_bits": 0.0, "condition": "language" if name == "cvae" else None,
              "n_components": None, "pretrain_epochs": 0, "whiten": False}
    values.update(overrides)
    return ModelConfig(**values)


def make(name: str, seed: int = 0, **overrides) -> LatentModel:
    torch.manual_seed(seed)
    shape = MEL if name == "conv_vae" else (D,)
    return build_model(model_config(name, **overrides), shape, n_conditions=N_CONDITIONS,
                       n_components=N_COMPONENTS)


def toy(name: str, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """A learnable problem: 3 clusters plus a 2-D linear manifold (feature vectors), or a
    2-D family of fixed spectro-temporal patterns (mel). Returns (x, c or None, cluster)."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 3, size=n)
    z = rng.normal(size=(n, 2))
    if name == "conv_vae":
        patterns = rng.normal(size=(2, *MEL))
        x = np.einsum("nk,kij->nij", z, patterns) + 0.1 * rng.normal(size=(n, *MEL))
    else:
        centres = 3.0 * rng.normal(size=(3, D))
        x = centres[cluster] + z @ rng.normal(size=(2, D)) + 0.1 * rng.normal(size=(n, D))
    c = np.eye(N_CONDITIONS, dtype=np.float32)[cluster % 2] if name == "cvae" else None
    return x.astype(np.float32), c, cluster


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def train(name: str, model: LatentModel, x, c, *, n_train: int, **kwargs):
    options = {"beta": 1.0, "epochs": 10, "batch_size": 32, "lr": 5e-3, "patience": 100,
               "seed": 0, "progress": False}
    if name == "vade":  # pre-train as an autoencoder; the model then fits its mixture prior
        options.update(pretrain_epochs=3)
    options.update(kwargs)
    rows = Rows(x, c=c)
    return fit(model, TrainData(rows.take(slice(0, n_train)), rows.take(slice(n_train, None))),
               TrainOptions(**options))


# ---------------------------------------------------------------- registry


EXPECTED_TYPES = {"vae": VAE, "conv_vae": ConvVAE, "cvae": CVAE, "vade": VaDE, "ae": AE}


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("batch", [2, 5])
def test_build_model_every_name(name: str, batch: int) -> None:
    """build_model builds each configured name with the right class, latent size, input
    shape and KL shapes; only the cvae takes the condition, only vade has components."""
    model = make(name)
    assert type(model) is EXPECTED_TYPES[name]
    assert model.latent_dim == LATENT
    assert model.variational == (name != "ae")
    x, c, _ = toy(name, batch)
    c = None if c is None else torch.as_tensor(c)
    recon, mu, logvar, z = model(torch.as_tensor(x), c)
    assert recon.shape == x.shape
    assert mu.shape == logvar.shape == z.shape == (batch, LATENT)
    kl_dim, kl_extra = model.kl(mu, logvar, z)
    assert kl_dim.shape == (batch, LATENT) and kl_extra.shape == (batch,)
    if name == "cvae":
        assert model.n_conditions == N_CONDITIONS
        assert model.encoder[0].in_features == D + N_CONDITIONS
        assert model.decoder[0][0].in_features == LATENT + N_CONDITIONS
    elif name != "conv_vae":
        assert model.n_conditions == 0
        assert model.encoder[0].in_features == D
    if name == "vade":
        assert model.mu_c.shape == model.logvar_c.shape == (N_COMPONENTS, LATENT)
        assert model.pi_logits.shape == (N_COMPONENTS,)


def test_cvae_needs_and_uses_its_condition() -> None:
    """A cvae refuses to encode without c, and another condition gives another code."""
    model = make("cvae").eval()
    x = torch.as_tensor(toy("cvae", 4)[0])
    with pytest.raises(ValueError, match="needs a condition"):
        model.encode(x)
    c0 = torch.tensor([[1.0, 0.0]]).repeat(4, 1)
    c1 = torch.tensor([[0.0, 1.0]]).repeat(4, 1)
    assert not torch.allclose(model.encode(x, c0)[0], model.encode(x, c1)[0])
    assert not torch.allclose(model.decode(torch.zeros(4, LATENT), c0),
                              model.decode(torch.zeros(4, LATENT), c1))


def test_conv_vae_output_is_resized_to_odd_mel_shapes() -> None:
    """Shapes the strided convolutions do not divide come back at the exact input shape."""
    for shape in [(16, 20), (24, 13), (128, 130)]:
        torch.manual_seed(0)
        model = ConvVAE(shape, 4, channels=(4, 8, 8)).eval()
        recon, mu, _, _ = model(torch.randn(2, *shape))
        assert recon.shape == (2, *shape) and mu.shape == (2, 4)


@pytest.mark.parametrize("pool", [2, 3])
def test_pooled_conv_vae_reconstructs_the_full_spectrogram(pool: int) -> None:
    """With pooled input the decoder's output is resized back to the full input shape, so
    the loss is against every entry; an input too small to pool and convolve is refused."""
    for shape in [(25, 31), (40, 52), (128, 130)]:
        torch.manual_seed(0)
        model = ConvVAE(shape, 4, channels=(4, 8), pool=pool).eval()
        recon, mu, _, _ = model(torch.randn(2, *shape))
        assert recon.shape == (2, *shape) and mu.shape == (2, 4)
    with pytest.raises(ValueError, match="too small"):
        ConvVAE((16, 20), 4, channels=(4, 8, 8), pool=3)


def test_conv_vae_config_builds_its_network() -> None:
    """model.channels and model.pool reach the network; the config's defaults build the
    network a checkpoint from before those keys holds."""
    lean = make("conv_vae", channels=(4, 8), pool=2)
    assert lean.pool == 2 and [m.out_channels for m in lean.encoder
                               if isinstance(m, torch.nn.Conv2d)] == [4, 8]
    old = make("conv_vae")
    assert old.pool == 1 and [m.out_channels for m in old.encoder
                              if isinstance(m, torch.nn.Conv2d)] == [32, 64, 128]


# ---------------------------------------------------------------- training


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_one_epoch_on_tiny_data(name: str) -> None:
    """One epoch on 12 rows: one finite history row, eval mode, latent means per row."""
    x, c, _ = toy(name, 16)
    model = make(name)
    result = train(name, model, x, c, n_train=12, epochs=1, batch_size=5, pretrain_epochs=0)
    assert len(result.history) == 1 and result.best_epoch == 1
    assert all(np.isfinite(v) for v in result.history[0].values())
    assert not model.training
    z = model.latent_means(x, c)
    assert z.shape == (16, LATENT) and np.isfinite(z).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_loss_falls_on_learnable_problem(name: str) -> None:
    """Ten epochs on a low-dimensional toy problem clearly lower the reconstruction term,
    and the loss falls once the KL weight is fixed (for vade: after pre-training)."""
    x, c, _ = toy(name, 160)
    result = train(name, make(name), x, c, n_train=128)
    h = result.history
    assert min(r["val_recon"] for r in h) < 0.6 * h[0]["val_recon"]
    start = 3 if name == "vade" else 0  # first epoch with the KL switched on
    assert h[-1]["train_loss"] < 0.7 * h[start]["train_loss"]
    if name == "ae":
        assert all(r["train_kl"] == r["val_kl"] == 0.0 for r in h)
        assert all(r["train_loss"] == r["train_recon"] for r in h)
    else:
        assert all(r["val_kl"] > 0 for r in h[start:])


# ---------------------------------------------------------------- KL terms


def test_ae_kl_is_exactly_zero() -> None:
    """The autoencoder has no prior: both KL parts are exactly 0 whatever mu and logvar,
    and its forward pass never samples."""
    model = make("ae").train()
    x = torch.as_tensor(toy("ae", 8)[0])
    _, mu, logvar, z = model(x)
    assert torch.equal(z, mu)
    assert torch.equal(logvar, torch.zeros_like(mu))
    for m, lv in [(mu, logvar), (torch.randn(8, LATENT) * 5, torch.randn(8, LATENT))]:
        kl_dim, kl_extra = model.kl(m, lv, m)
        assert torch.equal(kl_dim, torch.zeros(8, LATENT))
        assert torch.equal(kl_extra, torch.zeros(8))


GAUSSIAN = ["vae", "cvae", "conv_vae"]


@pytest.mark.parametrize("name", GAUSSIAN)
def test_gaussian_kl_zero_at_the_prior(name: str) -> None:
    """mu = 0 and logvar = 0: every KL entry is exactly 0 and there is no extra term."""
    kl_dim, kl_extra = make(name).kl(torch.zeros(4, LATENT), torch.zeros(4, LATENT),
                                     torch.randn(4, LATENT))
    assert torch.equal(kl_dim, torch.zeros(4, LATENT))
    assert torch.equal(kl_extra, torch.zeros(4))


@pytest.mark.parametrize("name", GAUSSIAN)
@pytest.mark.parametrize(("which", "value"), [("mu", 0.3), ("mu", -2.0), ("logvar", 0.5),
                                              ("logvar", -1.0)])
def test_gaussian_kl_positive_exactly_where_off_prior(name: str, which: str, value: float) -> None:
    """Moving one entry of mu or logvar away from 0 makes that entry's KL positive (with
    the closed-form value) and leaves every other entry exactly 0."""
    mu, logvar = torch.zeros(3, LATENT), torch.zeros(3, LATENT)
    (mu if which == "mu" else logvar)[1, 2] = value
    kl_dim, _ = make(name).kl(mu, logvar, mu)
    expected = 0.5 * value**2 if which == "mu" else 0.5 * (np.exp(value) - 1.0 - value)
    assert kl_dim[1, 2].item() == pytest.approx(expected, rel=1e-5)
    others = torch.ones_like(kl_dim, dtype=torch.bool)
    others[1, 2] = False
    assert torch.equal(kl_dim[others], torch.zeros(int(others.sum())))


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "conv_vae"])
def test_whitened_variant_learns_the_toy_problem(name: str) -> None:
    """With whitening (and beta < 1: every whitened direction has the decoder's unit noise
    variance), the reconstruction term in whitened units ends well below that of predicting
    the train mean, and the latent means still separate the toy clusters (not checked for
    the cvae, whose condition carries part of the cluster identity)."""
    x, c, cluster = toy(name, 160)
    model = make(name, whiten=True)
    model.fit_whitening(x[:128])
    h = train(name, model, x, c, n_train=128, epochs=20, beta=0.1).history
    val = torch.as_tensor(x[128:])
    mean = torch.as_tensor(x[:128].mean(axis=0)).expand_as(val)
    predict_mean = float(model.reconstruction_nll(val, mean).mean())
    assert predict_mean > 4.0  # 12 whitened directions, about 0.5 nat each
    assert min(r["val_recon"] for r in h) < 0.8 * predict_mean
    if name == "cvae":
        return
    z = model.latent_means(x, c)
    centres = np.stack([z[cluster == k].mean(axis=0) for k in range(3)])
    spread = np.mean([z[cluster == k].std(axis=0).mean() for k in range(3)])
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1:]]
    assert min(gaps) > 2 * spread
