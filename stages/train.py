"""Stage `train`: fit the configured VAE on the train split (early stopping on the
validation split) and encode every segment to its latent mean.

Writes paths.model (best checkpoint), paths.latent (n_seg, latent_dim; NaN rows for
segments the input cannot encode), paths.train_metrics, paths.loss_history, paths.loss_plot.
"""

import numpy as np
import pandas as pd

from genrevae import plots
from genrevae.config import to_dict
from genrevae.errors import DataError
from genrevae.features.fuse import load_input
from genrevae.io import load_csv, save_csv, save_json, save_npy
from genrevae.models.registry import build_model
from genrevae.stage import log, run_stage, seed_everything
from genrevae.training import fit, latent_means, resolve_device, save_checkpoint


def main(cfg, args):
    seed_everything(cfg.seed)  # again, now that torch is imported
    segments = load_csv(cfg.paths.segments)
    x, observed, usable = load_input(cfg.paths.fused, cfg.model.input)
    split = segments["split"].to_numpy()
    train, val = usable & (split == "train"), usable & (split == "val")
    if train.sum() < 2:
        raise DataError(f"model.input={cfg.model.input}: fewer than 2 usable train segments")
    model = build_model(cfg.model, x.shape[1])
    log.info("training %s on %s input: %d train / %d val segments, %d -> %d dims",
             cfg.model.name, cfg.model.input, train.sum(), val.sum(), x.shape[1],
             cfg.model.latent_dim)
    result = fit(
        model, x[train], x[val], mask_train=observed[train], mask_val=observed[val],
        beta=cfg.model.beta, epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
        lr=cfg.train.lr, weight_decay=cfg.train.weight_decay, patience=cfg.train.patience,
        seed=cfg.seed, device=resolve_device(cfg.train.device),
    )
    z = np.full((len(x), cfg.model.latent_dim), np.nan, dtype=np.float32)
    z[usable] = latent_means(model, x[usable])

    meta = {"model": to_dict(cfg)["model"], "input_dim": int(x.shape[1]),
            "best_epoch": result.best_epoch}
    save_checkpoint(cfg.paths.model, model.cpu(), meta)
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


if __name__ == "__main__":
    run_stage(main, __doc__)
