"""The training loop, ``fit(model, data, options)``: the ELBO with KL warm-up and free
bits, early stopping on the validation split, the best epoch's weights kept; the model's
own set-up hooks called at their moments (:class:`genrevae.models.base.LatentModel`).
Every knob is a field of :class:`TrainOptions`, read from the config by its
``from_config``."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from genrevae import devices
from genrevae.config import Config
from genrevae.errors import TrainingError
from genrevae.models.base import LatentModel, condition_mmd

log = logging.getLogger(__name__)

LOSS_KEYS = ("loss", "recon", "kl")


@dataclass
class TrainResult:
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


@dataclass(frozen=True)
class _Data:
    """One split's rows. ``x`` is a tensor already on the device, or rows read only when a
    batch is drawn (anything whose ``x[indices]`` ``np.asarray`` turns into float32, such
    as :class:`genrevae.inputs.transform.MelRows`): then only one batch is in memory."""

    x: torch.Tensor | Any
    mask: torch.Tensor | None
    c: torch.Tensor | None
    device: torch.device

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, idx: torch.Tensor):
        if isinstance(self.x, torch.Tensor):
            xb = self.x[idx]
        else:
            xb = torch.as_tensor(np.asarray(self.x[idx.numpy()], dtype=np.float32),
                                 device=self.device)
        return (xb, None if self.mask is None else self.mask[idx],
                None if self.c is None else self.c[idx])


def _run_epoch(
    model: LatentModel,
    data: _Data,
    *,
    beta: float,
    free_bits: float,
    batch_size: int,
    optimizer: torch.optim.Optimizer | None,
    generator: torch.Generator | None,
    input_dropout: float = 0.0,
    mmd_weight: float = 0.0,
) -> dict[str, float]:
    """One pass; trains when ``optimizer`` is given. Returns per-sample mean losses, where
    ``kl`` is the true KL (free bits only shape the gradient). In training, ``input_dropout``
    zeroes that share of the encoder's input entries; the loss is always against the clean
    input; ``mmd_weight`` > 0 adds that multiple of :func:`condition_mmd` of the batch's
    latent means to the objective (it shapes training only, like free bits)."""
    training = optimizer is not None
    model.train(training)
    sums = dict.fromkeys(LOSS_KEYS, 0.0)
    with torch.set_grad_enabled(training):
        for idx in _batches(len(data), batch_size, generator):
            xb, mb, cb = data.batch(idx)
            xin = xb
            if training and input_dropout > 0:
                xin = xb * (torch.rand_like(xb) >= input_dropout)
            recon, mu, logvar, z = model(xin, cb)
            rec = model.reconstruction_nll(xb, recon, mb)
            kl_dim, kl_extra = model.kl(mu, logvar, z)
            kl = kl_dim.sum(dim=1) + kl_extra
            if training:
                # Free bits: each dimension's batch-mean KL below `free_bits` costs nothing,
                # which keeps dimensions from collapsing onto the prior early on.
                kl_term = (kl_dim.mean(dim=0).clamp(min=free_bits).sum() + kl_extra.mean()
                           if free_bits > 0 else kl.mean())
                loss = rec.mean() + beta * kl_term
                if mmd_weight > 0 and cb is not None:
                    loss = loss + mmd_weight * condition_mmd(mu, cb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            rec, kl = rec.detach(), kl.detach()
            sums["loss"] += float((rec + beta * kl).sum())
            sums["recon"] += float(rec.sum())
            sums["kl"] += float(kl.sum())
    return {k: v / max(len(data), 1) for k, v in sums.items()}


def beta_at(epoch: int, *, beta: float, warmup_epochs: int, pretrain_epochs: int = 0) -> float:
    """The KL weight of an epoch (1-based): 0 during pre-training, then a linear ramp to
    ``beta`` over ``warmup_epochs`` (KL warm-up), then ``beta``."""
    if epoch <= pretrain_epochs:
        return 0.0
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, (epoch - pretrain_epochs) / warmup_epochs)


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """Every knob of :func:`fit`; :meth:`from_config` reads them from a config.

    ``beta`` is the KL weight, reached after ``pretrain_epochs`` at weight 0 and a linear
    ramp over ``kl_warmup_epochs``; ``free_bits`` (nats per latent dimension) and
    ``input_dropout`` (share of encoder input entries zeroed) shape the training gradient
    only; ``mmd_weight`` > 0 adds the condition penalty (a cvae). ``seed`` drives the
    shuffle of training batches and the model's seeded set-up (VaDE's mixture fit);
    ``device`` is ``cpu`` or ``cuda`` (``auto`` already resolved by :meth:`from_config`).
    """

    beta: float
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    patience: int = 10
    kl_warmup_epochs: int = 0
    free_bits: float = 0.0
    input_dropout: float = 0.0
    mmd_weight: float = 0.0
    pretrain_epochs: int = 0
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    @classmethod
    def from_config(cls, cfg: Config, *, progress: bool = True) -> TrainOptions:
        """The options of ``cfg``'s ``model`` and ``train`` sections and its ``seed``; the
        device resolved (``auto`` to what torch sees; ``cuda`` without a GPU refused)."""
        model, train = cfg.model, cfg.train
        return cls(beta=model.beta, epochs=train.epochs, batch_size=train.batch_size,
                   lr=train.lr, weight_decay=train.weight_decay, patience=train.patience,
                   kl_warmup_epochs=train.kl_warmup_epochs, free_bits=model.free_bits,
                   input_dropout=model.input_dropout, mmd_weight=model.mmd_weight,
                   pretrain_epochs=model.pretrain_epochs, seed=cfg.seed,
                   device=devices.resolve_device(train.device, key="train.device"),
                   progress=progress)


@dataclass(frozen=True)
class Rows:
    """One split's rows: ``x`` of shape (n, ...), float (feature vectors or log-mel
    segments), or rows read as batches are drawn (:class:`genrevae.inputs.transform.MelRows`:
    a memory-mapped log-mel standardised per batch, which trains the same model as the
    array would); ``mask`` (same shape as ``x``, bool) marks observed entries (missing
    lyrics are left out of the reconstruction term); ``c`` (n, n_conditions) one-hot
    conditions for a cvae."""

    x: np.ndarray | Any
    mask: np.ndarray | None = None
    c: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Rows:
        """The rows selected by ``rows`` (a boolean mask or indices)."""
        return Rows(self.x[rows], None if self.mask is None else self.mask[rows],
                    None if self.c is None else self.c[rows])


@dataclass(frozen=True)
class TrainData:
    """What :func:`fit` learns from (``train``) and stops early on (``val``)."""

    train: Rows
    val: Rows


def fit(model: LatentModel, data: TrainData, options: TrainOptions) -> TrainResult:
    """Train by minimising recon + beta * KL; keep the weights of the best validation epoch.

    ``options.input_dropout`` > 0 trains a denoising model: each training batch reaches
    the encoder with that share of its entries set to 0 (the train mean of standardised
    input), and the decoder is scored on the clean batch; validation uses clean input.
    ``options.mmd_weight`` > 0 (a cvae: conditions given) also penalises how far each
    condition group's latent means lie from the batch's
    (:func:`~genrevae.models.base.condition_mmd`); the reported and early-stopping losses
    stay recon + beta * KL.
    Before the first epoch the model's :meth:`~LatentModel.setup` sees the train rows (the
    VAE fits its input whitening there). The first ``pretrain_epochs`` train the autoencoder
    alone (KL weight 0), after which the model's :meth:`~LatentModel.after_pretraining`
    runs once (VaDE fits its mixture prior there); the KL weight then
    ramps up over ``kl_warmup_epochs``. Early stopping and the choice of the best epoch
    start once the weight has reached ``beta``. The model ends in eval mode holding the
    best weights. ``history`` has one dict per epoch with ``beta``, ``train_loss``,
    ``train_recon``, ``train_kl``, ``val_loss``, ``val_recon``, ``val_kl``.

    Randomness: the batch order comes from ``options.seed`` alone. The latent samples and
    dropout draw from torch's global generator, which is not reseeded here: it goes on
    from where the model's initialisation left it, so one seed taken before the model is
    built (:func:`genrevae.devices.seed_everything`, once per stage) fixes both,
    and reseeding here would give another model for the same params.
    """
    o = options
    x_train = data.train.x
    device = torch.device(o.device)
    model.setup(x_train)
    model.to(device)

    def rows(r: Rows) -> _Data:
        # An array is moved to the device once; lazy rows stay where they are (an absent
        # mask weighs every entry 1, which is the same sum as no mask).
        x, m, c = r.x, r.mask, r.c
        eager = isinstance(x, np.ndarray | list | tuple | torch.Tensor)
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device) if eager else x
        mt = None if m is None else torch.as_tensor(m, dtype=torch.float32, device=device)
        ct = None if c is None else torch.as_tensor(np.asarray(c, dtype=np.float32), device=device)
        return _Data(xt, mt, ct, device)

    train = rows(data.train)
    val = rows(data.val)
    if len(val) == 0:
        log.warning("no validation rows: early stopping watches the training loss")
        val = train
    generator = torch.Generator().manual_seed(o.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    result = TrainResult(best_epoch=0)
    best_val, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
    bar = tqdm(range(1, o.epochs + 1), desc="train", unit="epoch", disable=not o.progress)
    for epoch in bar:
        if epoch == o.pretrain_epochs + 1 and o.pretrain_epochs > 0:
            model.after_pretraining(x_train, seed=o.seed)
        b = beta_at(epoch, beta=o.beta, warmup_epochs=o.kl_warmup_epochs,
                    pretrain_epochs=o.pretrain_epochs)
        tr = _run_epoch(model, train, beta=b, free_bits=o.free_bits, batch_size=o.batch_size,
                        optimizer=optimizer, generator=generator,
                        input_dropout=o.input_dropout, mmd_weight=o.mmd_weight)
        va = _run_epoch(model, val, beta=b, free_bits=0.0, batch_size=model.eval_batch_size,
                        optimizer=None, generator=None)
        row = {"epoch": epoch, "beta": b, **{f"train_{k}": v for k, v in tr.items()},
               **{f"val_{k}": v for k, v in va.items()}}
        result.history.append(row)
        if not all(math.isfinite(v) for v in (tr["loss"], va["loss"])):
            raise TrainingError(f"training diverged at epoch {epoch}: the loss is not finite "
                                "(try a lower train.lr)")
        bar.set_postfix(train=f"{tr['loss']:.2f}", val=f"{va['loss']:.2f}")
        if b < o.beta and epoch < o.epochs:  # pre-training or warm-up: the objective still moves
            continue
        if va["loss"] < best_val - 1e-6:
            best_val, best_state, stale = va["loss"], copy.deepcopy(model.state_dict()), 0
            result.best_epoch = epoch
        else:
            stale += 1
            if stale >= o.patience:
                log.info("early stop at epoch %d (best %d)", epoch, result.best_epoch)
                break
    model.load_state_dict(best_state)
    model.eval()
    return result
