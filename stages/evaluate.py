"""Stage `evaluate`: one table comparing the model's latent space with PCA (same dimension),
whitened PCA (same dimension) and the raw model input, for every clustering (internal
indices; ARI, NMI, matched accuracy and purity against genre and language; on the test
split and on all data), per segment and per track (K-Means on track means, and the
majority of a track's segment K-Means clusters), and for a linear probe (segment- and
track-level accuracy and macro-F1 on the test split); what the lyrics alone give away
(leakage); the model's own diagnostics (active units, KL per dimension, reconstruction
error) and the plots. From these, the headline: the dozen numbers that compare runs. Logs
this pipeline execution as one MLflow run, opened when the stage starts.

Reads the manifest, the segments, the model input, the latent, the model, paths.assignments
and paths.track_assignments (cluster), paths.lyrics_tracks and paths.lyrics_embedding
(embed_lyrics), the loss history and the train metrics.
Writes paths.headline (the metrics `dvc exp show` shows), paths.eval_metrics (the full
table), paths.probe (used by `genrevae predict`) and PNGs under paths.eval_plots.
"""

from genrevae.config import load_params
from genrevae.pipeline import evaluate
from genrevae.pipeline.runner import run_stage

if __name__ == "__main__":
    run_stage(lambda cfg, args: evaluate.run(cfg, load_params(args.params)), __doc__)
