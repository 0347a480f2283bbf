"""Stage `train`: the configured model fit on the train split with early stopping on the
validation split, its checkpoint (with the input transform), and every segment's latent
mean in segment order."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from genrevae import plots
from genrevae.config import Config
from genrevae.errors import DataError
from genrevae.inputs.transform import ModelInput, load_model_input
from genrevae.io import load_csv, save_csv, save_json, save_npy
from genrevae.models.base import LatentModel
from genrevae.models.checkpoint import save_checkpoint
from genrevae.models.registry import build_model
from genrevae.models.training import Rows, TrainData, TrainOptions, fit

log = logging.getLogger(__name__)


def _check_whitening(cfg: Config, inp: ModelInput, model: LatentModel) -> None:
    """Whitening mixes every entry into every direction, so it needs fully observed rows;
    and it gives each direction the decoder's unit noise variance."""
    if inp.observed is not None and not inp.observed[inp.usable].all():
        raise DataError(f"model.whiten: model.input={cfg.model.input} has unobserved entries "
                        "(tracks without lyrics); whiten a fully observed input (audio) or "
                        "set model.whiten=false")
    if model.variational and cfg.model.beta >= 1.0:
        log.warning("model.whiten with model.beta=%g: every whitened direction has the "
                    "decoder's unit noise variance, so a beta of 1 or more can leave the "
                    "latent unused; a beta below 1 (e.g. 0.1) is the usual choice",
                    cfg.model.beta)


def run(cfg: Config) -> None:
    segments = load_csv(cfg.paths.segments)
    inp = load_model_input(cfg, segments)
    split = segments["split"].to_numpy()
    train, val = inp.usable & (split == "train"), inp.usable & (split == "val")
    if train.sum() < 2:
        raise DataError(f"model.input={cfg.model.input}: fewer than 2 usable train segments")
    n_components = cfg.model.n_components or int(segments["genre"].nunique())
    n_conditions = 0 if inp.conditions is None else inp.conditions.shape[1]
    model = build_model(cfg.model, inp.x.shape[1:], n_conditions=n_conditions,
                        n_components=n_components)
    if cfg.model.whiten:
        _check_whitening(cfg, inp, model)
    log.info("training %s on %s input: %d train / %d val segments, %s -> %d dims",
             cfg.model.name, cfg.model.input, train.sum(), val.sum(), inp.x.shape[1:],
             cfg.model.latent_dim)
    rows = Rows(inp.x, inp.observed, inp.conditions)
    result = fit(model, TrainData(rows.take(train), rows.take(val)),
                 TrainOptions.from_config(cfg))
    usable = rows.take(inp.usable)
    z = np.full((len(inp.x), cfg.model.latent_dim), np.nan, dtype=np.float32)
    z[inp.usable] = model.latent_means(usable.x, usable.c)

    save_checkpoint(cfg.paths.model, model.cpu(), cfg.model,
                    {**inp.transform.record(), "best_epoch": result.best_epoch})
    save_npy(cfg.paths.latent, z)
    best = result.history[result.best_epoch - 1]
    save_json(cfg.paths.train_metrics, {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        **{k: v for k, v in best.items() if k != "epoch"},
    })
    save_csv(cfg.paths.loss_history, pd.DataFrame(result.history))
    plots.loss_curves(result.history, cfg.paths.loss_plot, best_epoch=result.best_epoch)
    log.info("best epoch %d: val loss %.3f (recon %.3f, KL %.3f)", result.best_epoch,
             best["val_loss"], best["val_recon"], best["val_kl"])
