"""Stage `train`: fit the configured model (vae, conv_vae, cvae, vade or ae) on the train
split, with early stopping on the validation split, and encode every segment to its latent
mean, in segment order.

Writes paths.model (best checkpoint, with what predict needs to rebuild the input),
paths.latent (n_seg, latent_dim; NaN rows for segments the input cannot encode),
paths.train_metrics, paths.loss_history and paths.loss_plot.
"""

from genrevae.pipeline import train
from genrevae.pipeline.runner import run_stage

if __name__ == "__main__":
    run_stage(lambda cfg, args: train.run(cfg), __doc__)
