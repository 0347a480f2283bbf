"""The training loop (ELBO, early stopping, best checkpoint) and latent means in input order."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from genrevae.io import atomic_path
from genrevae.models.vae import kl_divergence, reconstruction_nll

log = logging.getLogger(__name__)

LOSS_KEYS = ("loss", "recon", "kl")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


@dataclass
class TrainResult:
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def _run_epoch(
    model: nn.Module,
    x: torch.Tensor,
    mask: torch.Tensor,
    *,
    beta: float,
    batch_size: int,
    optimizer: torch.optim.Optimizer | None,
    generator: torch.Generator | None,
) -> dict[str, float]:
    """One pass; trains when ``optimizer`` is given. Returns per-sample mean losses."""
    training = optimizer is not None
    model.train(training)
    sums = dict.fromkeys(LOSS_KEYS, 0.0)
    with torch.set_grad_enabled(training):
        for idx in _batches(len(x), batch_size, generator):
            xb, mb = x[idx], mask[idx]
            recon, mu, logvar = model(xb)
            rec = reconstruction_nll(xb, recon, mb)
            kl = kl_divergence(mu, logvar)
            loss = (rec + beta * kl).mean()
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            rec, kl = rec.detach(), kl.detach()
            sums["loss"] += float((rec + beta * kl).sum())
            sums["recon"] += float(rec.sum())
            sums["kl"] += float(kl.sum())
    return {k: v / max(len(x), 1) for k, v in sums.items()}


def fit(
    model: nn.Module,
    x_train: np.ndarray,
    x_val: np.ndarray,
    *,
    mask_train: np.ndarray | None = None,
    mask_val: np.ndarray | None = None,
    beta: float,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    patience: int = 10,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> TrainResult:
    """Train by minimising recon + beta * KL; keep the weights of the best validation epoch.

    ``x_*`` are float arrays of shape (n, d); ``mask_*`` (same shape, bool) mark observed
    entries (missing lyrics are left out of the reconstruction term). The model ends in
    eval mode holding the best weights. ``history`` has one dict per epoch with
    ``train_loss, train_recon, train_kl, val_loss, val_recon, val_kl``.
    """
    device = torch.device(device)
    model.to(device)

    def tensors(x: np.ndarray, m: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
        mt = torch.ones_like(xt) if m is None else torch.as_tensor(m, dtype=xt.dtype, device=device)
        return xt, mt

    xt, mt = tensors(x_train, mask_train)
    xv, mv = tensors(x_val, mask_val)
    if len(xv) == 0:
        log.warning("no validation rows: early stopping watches the training loss")
        xv, mv = xt, mt
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    result = TrainResult(best_epoch=0)
    best_val, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
    bar = tqdm(range(1, epochs + 1), desc="train", unit="epoch", disable=not progress)
    for epoch in bar:
        tr = _run_epoch(model, xt, mt, beta=beta, batch_size=batch_size,
                        optimizer=optimizer, generator=generator)
        va = _run_epoch(model, xv, mv, beta=beta, batch_size=4096, optimizer=None, generator=None)
        row = {"epoch": epoch, **{f"train_{k}": v for k, v in tr.items()},
               **{f"val_{k}": v for k, v in va.items()}}
        result.history.append(row)
        bar.set_postfix(train=f"{tr['loss']:.2f}", val=f"{va['loss']:.2f}")
        if va["loss"] < best_val - 1e-6:
            best_val, best_state, stale = va["loss"], copy.deepcopy(model.state_dict()), 0
            result.best_epoch = epoch
        else:
            stale += 1
            if stale >= patience:
                log.info("early stop at epoch %d (best %d)", epoch, result.best_epoch)
                break
    model.load_state_dict(best_state)
    model.eval()
    return result


@torch.no_grad()
def latent_means(model: nn.Module, x: np.ndarray, *, batch_size: int = 4096) -> np.ndarray:
    """Posterior means mu(x), shape (n, latent_dim), row ``i`` for input row ``i``.

    Batches are taken in order (never shuffled), so rows stay aligned with their keys.
    """
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.as_tensor(np.asarray(x[start : start + batch_size], dtype=np.float32),
                             device=device)
        mu, _ = model.encode(xb)
        out.append(mu.cpu().numpy())
    if not out:
        return np.zeros((0, model.latent_dim), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)


@torch.no_grad()
def reconstruct(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """Decoder output at the posterior mean, shape like ``x``."""
    model.eval()
    device = next(model.parameters()).device
    recon, _, _ = model(torch.as_tensor(np.asarray(x, dtype=np.float32), device=device))
    return recon.cpu().numpy()


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> None:
    """Weights plus what is needed to rebuild the model (``meta``), written atomically."""
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)
