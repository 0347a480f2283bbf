"""The training loop: loss, history, early stopping, seeding, warm-up, free bits, the
model's set-up hooks, input dropout."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from genrevae.config import Config
from genrevae.devices import seed_everything
from genrevae.errors import ConfigError
from genrevae.models.base import reconstruction_nll
from genrevae.models.names import MODEL_NAMES
from genrevae.models.training import Rows, TrainData, TrainOptions, beta_at, fit
from genrevae.models.vae import VAE, kl_divergence
from tests.models.conftest import HIDDEN, INPUT_DIM, LATENT_DIM, manifold, model_config

HISTORY_KEYS = {"epoch", "beta", "train_loss", "train_recon", "train_kl", "val_loss", "val_recon",
                "val_kl"}


def new_model(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(INPUT_DIM, LATENT_DIM, HIDDEN)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = manifold(rng, 320)
    return x[:256], x[256:]


@pytest.fixture
def restore_determinism() -> Iterator[None]:
    """seed_everything switches torch to deterministic algorithms globally; undo it."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def train(model: VAE, data: tuple[np.ndarray, np.ndarray], *, mask_train=None, mask_val=None,
          **kwargs):
    options = {"beta": 1.0, "epochs": 12, "batch_size": 32, "lr": 3e-3, "patience": 100,
               "seed": 0, "progress": False}
    options.update(kwargs)
    return fit(model, TrainData(Rows(data[0], mask_train), Rows(data[1], mask_val)),
               TrainOptions(**options))


def val_loss(model: VAE, x: np.ndarray, beta: float = 1.0) -> float:
    """The per-sample validation loss of ``model`` as fit defines it (eval mode, mean z)."""
    model.eval()
    with torch.no_grad():
        xt = torch.as_tensor(x)
        recon, mu, logvar, _ = model(xt)
        return float((reconstruction_nll(xt, recon) + beta * kl_divergence(mu, logvar)).mean())


def test_loss_falls_on_learnable_data(data: tuple[np.ndarray, np.ndarray]) -> None:
    """Training on a 2-D manifold in 10-D lowers train and validation loss clearly."""
    result = train(new_model(), data)
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < 0.7 * first["train_loss"]
    assert min(r["val_loss"] for r in result.history) < 0.6 * first["val_loss"]
    assert last["train_recon"] < first["train_recon"]


def test_history_rows(data: tuple[np.ndarray, np.ndarray]) -> None:
    """One row per epoch with the documented keys; loss = recon + beta * kl."""
    beta = 0.5
    result = train(new_model(), data, epochs=4, beta=beta)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    for row in result.history:
        assert set(row) == HISTORY_KEYS
        assert row["beta"] == beta  # no warm-up: the full weight from epoch 1
        for split in ("train", "val"):
            assert row[f"{split}_loss"] == pytest.approx(
                row[f"{split}_recon"] + beta * row[f"{split}_kl"], rel=1e-5)
            assert row[f"{split}_kl"] >= 0


def test_best_epoch_is_argmin_and_weights_are_best(data: tuple[np.ndarray, np.ndarray]) -> None:
    """best_epoch is the argmin of val_loss and the model ends in eval mode with its weights."""
    model = new_model()
    # A high learning rate makes the validation loss bounce, so the best is often not the last.
    result = train(model, data, epochs=10, lr=5e-2)
    losses = [row["val_loss"] for row in result.history]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert not model.training
    assert val_loss(model, data[1]) == pytest.approx(min(losses), rel=1e-5)


@pytest.mark.parametrize("patience", [1, 2, 4])
def test_early_stopping_when_nothing_is_learnt(
    data: tuple[np.ndarray, np.ndarray], patience: int
) -> None:
    """With lr ~ 0 the validation loss never improves after epoch 1: stop after `patience`."""
    result = train(new_model(), data, epochs=30, lr=1e-12, patience=patience)
    assert len(result.history) == 1 + patience
    assert result.best_epoch == 1


def test_no_early_stop_with_large_patience(data: tuple[np.ndarray, np.ndarray]) -> None:
    """With patience above `epochs` all epochs run."""
    result = train(new_model(), data, epochs=3, lr=1e-12, patience=50)
    assert len(result.history) == 3


def test_same_seed_same_history_and_weights(
    data: tuple[np.ndarray, np.ndarray], restore_determinism: None
) -> None:
    """Seeding everything before building the model makes training bit-for-bit repeatable."""
    runs = []
    for _ in range(2):
        seed_everything(7)
        torch.manual_seed(7)
        model = VAE(INPUT_DIM, LATENT_DIM, HIDDEN)
        result = train(model, data, epochs=4, seed=7)
        runs.append((result, model.state_dict()))
    (r1, w1), (r2, w2) = runs
    assert r1.history == r2.history
    assert r1.best_epoch == r2.best_epoch
    assert w1.keys() == w2.keys()
    for key in w1:
        assert torch.equal(w1[key], w2[key]), key


def test_different_seed_different_history(
    data: tuple[np.ndarray, np.ndarray], restore_determinism: None
) -> None:
    """The seed matters: another seed gives another history."""
    histories = []
    for seed in (1, 2):
        seed_everything(seed)
        torch.manual_seed(seed)
        histories.append(train(VAE(INPUT_DIM, LATENT_DIM, HIDDEN), data, epochs=2,
                               seed=seed).history)
    assert histories[0] != histories[1]


def test_fit_seed_controls_batch_order(data: tuple[np.ndarray, np.ndarray]) -> None:
    """Same initial weights and global RNG, different `seed`: the shuffling differs."""
    histories = []
    for seed in (1, 1, 2):
        model = new_model(0)  # also resets the global RNG used for z sampling
        histories.append(train(model, data, epochs=2, seed=seed).history)
    assert histories[0] == histories[1]
    assert histories[0] != histories[2]


def test_all_ones_mask_equals_no_mask(data: tuple[np.ndarray, np.ndarray]) -> None:
    """An all-observed mask trains exactly like no mask."""
    ones = (np.ones_like(data[0], dtype=bool), np.ones_like(data[1], dtype=bool))
    torch.manual_seed(3)
    a = train(new_model(), data, epochs=2)
    torch.manual_seed(3)
    b = train(new_model(), data, epochs=2, mask_train=ones[0], mask_val=ones[1])
    assert a.history == b.history


def test_mask_removes_entries_from_recon(data: tuple[np.ndarray, np.ndarray]) -> None:
    """Masking half of the columns out (without training) lowers the reconstruction term."""
    masks = [np.ones_like(d, dtype=bool) for d in data]
    for m in masks:
        m[:, 5:] = False
    full = train(new_model(), data, epochs=1, lr=1e-12)
    half = train(new_model(), data, epochs=1, lr=1e-12, mask_train=masks[0], mask_val=masks[1])
    assert half.history[0]["val_recon"] < full.history[0]["val_recon"]
    assert half.history[0]["val_kl"] == pytest.approx(full.history[0]["val_kl"], rel=1e-6)


def test_empty_validation_uses_training_rows(data: tuple[np.ndarray, np.ndarray]) -> None:
    """With no validation rows, val_* are the training rows' eval-mode loss."""
    empty = np.zeros((0, INPUT_DIM), dtype=np.float32)
    model = new_model()
    result = train(model, (data[0], empty), epochs=3)
    assert all(math.isfinite(row["val_loss"]) for row in result.history)
    assert val_loss(model, data[0]) == pytest.approx(
        result.history[result.best_epoch - 1]["val_loss"], rel=1e-5)


def test_options_from_config_read_every_knob(tiny_cfg: Config) -> None:
    """TrainOptions.from_config takes each knob from its key (model, train, seed) and
    resolves 'auto' to the device torch sees."""
    cfg = dataclasses.replace(tiny_cfg, seed=5, train=dataclasses.replace(
        tiny_cfg.train, device="auto", weight_decay=0.01, kl_warmup_epochs=2))
    options = TrainOptions.from_config(cfg, progress=False)
    m, t = cfg.model, cfg.train
    assert options == TrainOptions(
        beta=m.beta, epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, weight_decay=0.01,
        patience=t.patience, kl_warmup_epochs=2, free_bits=m.free_bits,
        input_dropout=m.input_dropout, mmd_weight=m.mmd_weight,
        pretrain_epochs=m.pretrain_epochs, seed=5,
        device="cuda" if torch.cuda.is_available() else "cpu", progress=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.lr = 1.0  # type: ignore[misc]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_options_refuse_cuda_without_gpu(tiny_cfg: Config) -> None:
    """'cuda' without a GPU is a ConfigError naming the key, not a silent fallback."""
    cfg = dataclasses.replace(tiny_cfg, train=dataclasses.replace(tiny_cfg.train, device="cuda"))
    with pytest.raises(ConfigError, match=r"train\.device: .*no CUDA device"):
        TrainOptions.from_config(cfg)


# ---------------------------------------------------------------- KL schedule


@pytest.mark.parametrize(
    ("epoch", "warmup", "pretrain", "expected"),
    [
        (1, 0, 0, 2.0), (5, 0, 0, 2.0),  # no schedule: beta from the first epoch
        (1, 4, 0, 0.5), (2, 4, 0, 1.0), (4, 4, 0, 2.0), (9, 4, 0, 2.0),  # linear warm-up
        (1, 0, 3, 0.0), (3, 0, 3, 0.0), (4, 0, 3, 2.0),  # pre-training, then beta
        (3, 2, 3, 0.0), (4, 2, 3, 1.0), (5, 2, 3, 2.0), (6, 2, 3, 2.0),  # both
    ],
)
def test_beta_at(epoch: int, warmup: int, pretrain: int, expected: float) -> None:
    """0 during pre-training, then a linear ramp over the warm-up epochs, then beta."""
    assert beta_at(epoch, beta=2.0, warmup_epochs=warmup, pretrain_epochs=pretrain) == (
        pytest.approx(expected))


def test_warmup_in_history_and_best_epoch_after_it(data: tuple[np.ndarray, np.ndarray]) -> None:
    """History rows carry the scheduled beta and loss = recon + beta * kl per row. With
    (almost) no learning the loss grows with beta, yet the best epoch is the first one at
    full beta, not the low-beta epoch 1."""
    result = train(new_model(), data, epochs=7, beta=2.0, kl_warmup_epochs=4, pretrain_epochs=1,
                   lr=1e-12)
    betas = [row["beta"] for row in result.history]
    assert betas == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0])
    for row in result.history:
        assert row["val_loss"] == pytest.approx(row["val_recon"] + row["beta"] * row["val_kl"],
                                                rel=1e-5)
    losses = [row["val_loss"] for row in result.history]
    assert losses[0] < losses[4]
    assert result.best_epoch == 5


def test_best_epoch_is_argmin_after_warmup(data: tuple[np.ndarray, np.ndarray]) -> None:
    """With learning, the best epoch is the argmin of val_loss over the full-beta epochs."""
    result = train(new_model(), data, epochs=8, lr=5e-2, kl_warmup_epochs=3)
    full = [row["val_loss"] for row in result.history[2:]]
    assert result.best_epoch == 3 + int(np.argmin(full))


def test_run_ending_inside_warmup_keeps_last_epoch(data: tuple[np.ndarray, np.ndarray]) -> None:
    """When training stops before beta is reached, the last epoch is the one kept."""
    model = new_model()
    result = train(model, data, epochs=3, kl_warmup_epochs=10)
    assert result.best_epoch == 3
    last = result.history[-1]
    assert val_loss(model, data[1], beta=last["beta"]) == pytest.approx(last["val_loss"], rel=1e-5)


class _Hooked(VAE):
    """A VAE that records when the training loop calls its set-up hooks."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__(INPUT_DIM, LATENT_DIM, HIDDEN)
        self.calls: list[tuple[str, int, int | None]] = []

    def setup(self, x_train: np.ndarray) -> None:
        self.calls.append(("setup", len(x_train), None))

    def after_pretraining(self, x_train: np.ndarray, *, seed: int) -> None:
        self.calls.append(("after_pretraining", len(x_train), seed))


@pytest.mark.parametrize(("pretrain", "epochs", "calls"), [(0, 3, 0), (2, 2, 0), (2, 3, 1),
                                                           (2, 5, 1)])
def test_model_hooks_run_at_their_moments(
    data: tuple[np.ndarray, np.ndarray], pretrain: int, epochs: int, calls: int
) -> None:
    """setup runs once before the first epoch on the train rows; after_pretraining runs once,
    before the first epoch after `pretrain_epochs`, on the train rows with the fit's seed;
    pre-training epochs have beta 0."""
    model = _Hooked()
    result = train(model, data, epochs=epochs, pretrain_epochs=pretrain, seed=5)
    n = len(data[0])
    assert model.calls == [("setup", n, None)] + [("after_pretraining", n, 5)] * calls
    assert [r["beta"] for r in result.history[:pretrain]] == [0.0] * min(pretrain, epochs)


def test_whitened_vae_fits_its_whitening_in_setup(data: tuple[np.ndarray, np.ndarray]) -> None:
    """The loop's setup hook fits a whitened VAE's whitening on the train rows, exactly as
    fit_whitening does."""
    torch.manual_seed(0)
    model = VAE(INPUT_DIM, LATENT_DIM, HIDDEN, whiten=True)
    train(model, data, epochs=1)
    torch.manual_seed(0)
    reference = VAE(INPUT_DIM, LATENT_DIM, HIDDEN, whiten=True)
    reference.fit_whitening(data[0])
    torch.testing.assert_close(model.whitening.mean, reference.whitening.mean)
    torch.testing.assert_close(model.whitening.matrix, reference.whitening.matrix)


# ---------------------------------------------------------------- free bits


def _one_step(data, **kwargs) -> tuple[dict, dict]:
    """One epoch of one batch (so the reported KL is computed before the only update), with
    a KL weight large enough that the KL gradient decides the direction of Adam's step."""
    model = new_model(5)
    torch.manual_seed(11)  # the same z samples in every call
    options = {"epochs": 1, "batch_size": len(data[0]), "beta": 100.0}
    options.update(kwargs)
    result = train(model, data, **options)
    return result.history[0], model.state_dict()


def test_free_bits_change_the_gradient_not_the_reported_kl(
    data: tuple[np.ndarray, np.ndarray]
) -> None:
    """Free bits above every dimension's KL remove the KL gradient (the update equals
    beta = 0) and the reported train_kl stays the true KL, not the clamped value."""
    plain, w_plain = _one_step(data)
    big, w_big = _one_step(data, free_bits=1e3)
    no_kl, w_no_kl = _one_step(data, beta=0.0)
    assert big["train_kl"] == plain["train_kl"] == no_kl["train_kl"]
    assert 0 < plain["train_kl"] < LATENT_DIM * 1e3
    assert big["train_loss"] == pytest.approx(plain["train_loss"])
    for key in w_plain:
        torch.testing.assert_close(w_big[key], w_no_kl[key], rtol=1e-6, atol=1e-7)
    changed = [k for k in w_plain if not torch.allclose(w_plain[k], w_big[k])]
    assert "to_logvar.weight" in changed and "to_mu.weight" in changed


def test_free_bits_act_per_dimension(data: tuple[np.ndarray, np.ndarray]) -> None:
    """A threshold between the dimensions' KLs: the dimension below it gets no KL gradient
    (its to_mu row updates as with beta = 0), the one above keeps it (as without free bits)."""
    model = new_model(5)
    model.train()
    with torch.no_grad():
        mu, logvar = model.encode(torch.as_tensor(data[0]))
        per_dim = model.kl(mu, logvar, mu)[0].mean(dim=0)
    low, high = int(per_dim.argmin()), int(per_dim.argmax())
    assert per_dim[high] > 1.2 * per_dim[low]
    threshold = float(per_dim.mean())
    plain, w_plain = _one_step(data)
    some, w_some = _one_step(data, free_bits=threshold)
    _, w_no_kl = _one_step(data, beta=0.0)
    assert some["train_kl"] == plain["train_kl"]
    row = w_some["to_mu.weight"]
    torch.testing.assert_close(row[low], w_no_kl["to_mu.weight"][low], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(row[high], w_plain["to_mu.weight"][high], rtol=1e-6, atol=1e-7)
    assert not torch.allclose(w_plain["to_mu.weight"][low], w_no_kl["to_mu.weight"][low])
    assert not torch.allclose(w_plain["to_mu.weight"][high], w_no_kl["to_mu.weight"][high])


# ---------------------------------------------------------------- latents in input order


VARIANTS = MODEL_NAMES


def variant(name: str, seed: int = 0):
    """A small model of each kind with its input (x, c)."""
    from genrevae.models.registry import build_model

    rng = np.random.default_rng(seed)
    shape = (16, 20) if name == "conv_vae" else (INPUT_DIM,)
    cfg = model_config(name=name, input="mel" if name == "conv_vae" else "audio",
                       condition="language" if name == "cvae" else None)
    torch.manual_seed(seed)
    model = build_model(cfg, shape, n_conditions=3, n_components=3)
    x = rng.normal(size=(60, *shape)).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=60)] if name == "cvae" else None
    return model, x, c


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("fit_seed", [1, 2])
def test_latent_rows_follow_input_rows_whatever_the_shuffle(name: str, fit_seed: int,
                                                            rng: np.random.Generator) -> None:
    """After training with a shuffled loader (any seed), latent_means(x[perm], c[perm]) ==
    x.latent_means(c)[perm], and row i is the encoding of input row i alone."""
    model, x, c = variant(name)
    rows = Rows(x, c=c)
    fit(model, TrainData(rows.take(slice(0, 40)), rows.take(slice(40, None))),
        TrainOptions(beta=1.0, epochs=2, batch_size=8, lr=1e-2, seed=fit_seed, progress=False))
    perm = rng.permutation(len(x))
    z = model.latent_means(x, c, batch_size=16)
    zp = model.latent_means(x[perm], None if c is None else c[perm], batch_size=7)
    np.testing.assert_allclose(zp, z[perm], rtol=1e-5, atol=1e-5)
    for i in (0, 17, 59):
        with torch.no_grad():
            alone = model.encode(torch.as_tensor(x[i : i + 1]),
                                 None if c is None else torch.as_tensor(c[i : i + 1]))[0]
        np.testing.assert_allclose(z[i], alone[0].numpy(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(z[0], z[1])  # rows differ, so a mix-up would show


def test_cvae_latents_follow_their_own_condition(rng: np.random.Generator) -> None:
    """Shuffling the conditions alone (not the rows) changes the cvae's latents: c is used
    row by row, so c and x must be permuted together."""
    model, x, c = variant("cvae")
    perm = rng.permutation(len(x))
    assert not np.allclose(model.latent_means(x, c[perm]), model.latent_means(x, c))


class _Recording(VAE):
    """A VAE that keeps what its encoder saw and what its loss was scored against."""

    def __init__(self) -> None:
        super().__init__(INPUT_DIM, LATENT_DIM, HIDDEN)
        self.encoded: list[tuple[bool, torch.Tensor]] = []
        self.targets: list[tuple[bool, torch.Tensor]] = []

    def encode(self, x, c=None):
        self.encoded.append((self.training, x.detach().clone()))
        return super().encode(x, c)

    def reconstruction_nll(self, x, recon, mask=None):
        self.targets.append((self.training, x.detach().clone()))
        return super().reconstruction_nll(x, recon, mask)


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_input_dropout_corrupts_only_the_training_encoder_input(
    data: tuple[np.ndarray, np.ndarray], rate: float
) -> None:
    """Denoising: in training about ``rate`` of the encoder's input entries are zeroed and the
    loss is scored against the clean batch; validation batches reach the encoder clean."""
    torch.manual_seed(0)
    model = _Recording()
    train(model, data, epochs=3, input_dropout=rate)
    seen = [x for training, x in model.encoded if training]
    targets = [x for training, x in model.targets if training]
    val_seen = [x for training, x in model.encoded if not training]
    corrupted = torch.cat(seen)
    assert corrupted.shape == (3 * len(data[0]), INPUT_DIM)
    assert (corrupted == 0).float().mean().item() == pytest.approx(rate, abs=0.03)
    # Every training target is a clean row of x_train (no entry of the data is exactly 0).
    all_targets = torch.cat(targets)
    assert not (all_targets == 0).any()
    rows = {tuple(r) for r in data[0].round(6).tolist()}
    assert all(tuple(r) in rows for r in all_targets.numpy().round(6).tolist())
    # The corrupted input agrees with its clean row wherever it was kept.
    for x, t in zip(seen, targets, strict=True):
        kept = x != 0
        assert torch.equal(x[kept], t[kept])
    assert val_seen and all(torch.equal(x, torch.as_tensor(data[1])) for x in val_seen)


def test_input_dropout_zero_is_the_plain_model(data: tuple[np.ndarray, np.ndarray]) -> None:
    """``input_dropout=0`` trains exactly as before: same history and weights."""
    a, b = new_model(3), new_model(3)
    torch.manual_seed(1)
    ha = train(a, data, epochs=3).history
    torch.manual_seed(1)
    hb = train(b, data, epochs=3, input_dropout=0.0).history
    assert ha == hb
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])


def test_denoising_model_learns_and_encodes_deterministically(
    data: tuple[np.ndarray, np.ndarray], rng: np.random.Generator
) -> None:
    """A denoising VAE still learns the toy manifold (its clean validation loss falls
    clearly), and its latent means, taken on clean input, do not depend on the masks."""
    model = new_model()
    result = train(model, data, epochs=20, input_dropout=0.3)
    first = result.history[0]["val_loss"]
    assert min(r["val_loss"] for r in result.history) < 0.6 * first
    x = rng.normal(size=(50, INPUT_DIM)).astype(np.float32)
    np.testing.assert_array_equal(model.latent_means(x), model.latent_means(x))


@pytest.mark.parametrize("pool", [1, 2])
def test_training_on_memory_mapped_log_mel_equals_the_in_memory_path(
    tmp_path, rng: np.random.Generator, pool: int,
) -> None:
    """Batches read from a memory-mapped log-mel and standardised as they are drawn
    (MelRows) give the same history, weights and latents, to the bit, as the whole
    standardised array in memory."""
    from genrevae.inputs.transform import MelRows, mel_band_stats
    from genrevae.models.conv_vae import ConvVAE

    shape = (16, 20)
    mel = (rng.normal(size=(40, *shape)) * 4.0 - 50.0).astype(np.float32)
    np.save(tmp_path / "mel.npy", mel)
    mmap = np.load(tmp_path / "mel.npy", mmap_mode="r")
    split = np.array(["train"] * 28 + ["val"] * 6 + ["test"] * 6)
    mean, std = mel_band_stats(mmap, split == "train")
    lazy = MelRows(mmap, mean, std)
    whole = np.asarray(lazy)
    results = []
    for x in (lazy, whole):
        torch.manual_seed(3)
        model = ConvVAE(shape, 3, channels=(4, 8), pool=pool)
        history = fit(model, TrainData(Rows(x[split == "train"]), Rows(x[split == "val"])),
                      TrainOptions(beta=1.0, epochs=3, batch_size=8, lr=1e-3, patience=10,
                                   seed=5, progress=False)).history
        results.append((history, model.state_dict(), model.latent_means(x)))
    (h1, w1, z1), (h2, w2, z2) = results
    assert h1 == h2
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert z1.shape == (40, 3)
    np.testing.assert_array_equal(z1, z2)


def _confounded(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Three clusters and a two-valued condition that follows cluster 0 nine times in ten
    and shifts the input a little: given c, a cvae's latent still holds c through the
    clusters it encodes."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 3, size=n)
    cond = np.where(rng.random(n) < 0.9, cluster == 0, cluster != 0).astype(int)
    x = (3.0 * rng.normal(size=(3, INPUT_DIM))[cluster] + rng.normal(size=(2, INPUT_DIM))[cond]
         + 0.3 * rng.normal(size=(n, INPUT_DIM)))
    return x.astype(np.float32), np.eye(2, dtype=np.float32)[cond]


def _condition_accuracy(mmd_weight: float, seed: int, n_train: int = 450) -> float:
    """Held-out accuracy of a logistic probe that reads the condition off a cvae's latent
    means, after training with this ``mmd_weight``."""
    from sklearn.linear_model import LogisticRegression

    from genrevae.models.registry import build_model

    x, c = _confounded(seed)
    torch.manual_seed(seed)
    model = build_model(model_config(name="cvae", condition="language", latent_dim=3), (INPUT_DIM,),
                        n_conditions=2)
    fit(model, TrainData(Rows(x[:n_train], c=c[:n_train]), Rows(x[n_train:], c=c[n_train:])),
        TrainOptions(beta=1.0, epochs=60, batch_size=32, lr=3e-3, patience=100, seed=seed,
                     progress=False, mmd_weight=mmd_weight))
    mu, y = model.latent_means(x, c), c.argmax(axis=1)
    probe = LogisticRegression(max_iter=2000).fit(mu[:n_train], y[:n_train])
    return probe.score(mu[n_train:], y[n_train:])


def test_mmd_weight_zero_is_the_plain_cvae() -> None:
    """Weight 0 trains exactly the model the loop trained before the key existed."""
    model_a, x, c = variant("cvae")
    model_b, _, _ = variant("cvae")
    for model, extra in ((model_a, {}), (model_b, {"mmd_weight": 0.0})):
        torch.manual_seed(0)  # the latent samples draw from torch's global generator
        fit(model, TrainData(Rows(x[:40], c=c[:40]), Rows(x[40:], c=c[40:])),
            TrainOptions(beta=1.0, epochs=3, batch_size=16, lr=3e-3, seed=0, progress=False,
                         **extra))
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values(), strict=True):
        assert torch.equal(a, b)
