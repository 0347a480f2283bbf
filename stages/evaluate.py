"""Stage `evaluate`: score every clustering (latent, PCA and raw baselines) with internal
indices and ARI/NMI against genre and language, on the test split and on all data;
draw the plots; log this pipeline execution as one MLflow run.

Writes paths.eval_metrics and PNGs under paths.eval_plots.
"""

from pathlib import Path

import numpy as np
from sklearn.manifold import TSNE

from genrevae import plots, tracking
from genrevae.config import load_params
from genrevae.errors import GenreVAEError
from genrevae.evaluation.baselines import representations
from genrevae.evaluation.report import evaluate_assignments, lyrics_leakage, summary_table
from genrevae.features.fuse import load_input
from genrevae.io import key_positions, load_csv, load_json, load_manifest, load_npy, save_json
from genrevae.models.registry import build_model
from genrevae.stage import log, run_stage
from genrevae.training import load_checkpoint, reconstruct


def main(cfg, args):
    segments = load_csv(cfg.paths.segments)
    assignments = load_csv(cfg.paths.assignments)
    z = load_npy(cfg.paths.latent)
    x, _, _ = load_input(cfg.paths.fused, cfg.model.input)
    # Align by key, never by row order.
    rows = key_positions(segments, assignments)
    seg = segments.iloc[rows].reset_index(drop=True)
    split = seg["split"].to_numpy()
    reps = representations(z[rows], x[rows], split == "train", seed=cfg.seed)
    truths = {"genre": seg["genre"].to_numpy(), "language": seg["language"].to_numpy()}
    results = evaluate_assignments(assignments, reps, truths, split, seed=cfg.seed)
    tracks = load_manifest(cfg.paths.manifest).merge(
        load_csv(cfg.paths.lyrics_tracks)[["track_id", "has_lyrics"]], on="track_id")
    tracks = tracks[tracks["track_id"].isin(set(seg["track_id"].astype(str)))]
    metrics = {
        **results,
        "leakage": {"has_lyrics": lyrics_leakage(tracks)},
        "data": {"n_tracks": int(seg["track_id"].nunique()), "n_segments": len(seg),
                 "n_test_segments": int((split == "test").sum()),
                 "n_genres": int(seg["genre"].nunique())},
    }
    save_json(cfg.paths.eval_metrics, metrics)
    log.info("test-split clustering:\n%s", summary_table(results).round(3).to_string(index=False))

    out = Path(cfg.paths.eval_plots)
    rng = np.random.default_rng(cfg.seed)
    pick = np.sort(rng.choice(len(seg), size=min(len(seg), cfg.evaluate.max_plot_points),
                              replace=False))
    perplexity = min(cfg.evaluate.tsne_perplexity, max(2.0, (len(pick) - 1) / 3))
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca",
               random_state=cfg.seed).fit_transform(reps["latent"][pick])
    for label in ("genre", "language"):
        plots.scatter_2d(emb, truths[label][pick], out / f"latent_tsne_{label}.png",
                         title=f"t-SNE of latent means, coloured by {label}")
    latent_cols = [c for c in assignments.columns if c.startswith("latent.")]
    shown = "latent.kmeans" if "latent.kmeans" in latent_cols else latent_cols[0]
    plots.contingency_heatmap(assignments[shown].to_numpy(), truths["genre"],
                              out / "cluster_vs_genre.png",
                              title=f"{shown} clusters vs genre (all segments)")
    ckpt = load_checkpoint(cfg.paths.model)
    model = build_model(cfg.model, ckpt["meta"]["input_dim"])
    model.load_state_dict(ckpt["state_dict"])
    test_rows = rows[split == "test"][: cfg.evaluate.n_reconstructions]
    if len(test_rows):
        names = [f"{segments.track_id[i]} segment {segments.segment_index[i]}" for i in test_rows]
        plots.reconstructions(x[test_rows], reconstruct(model, x[test_rows]), names,
                              out / "reconstructions.png")

    try:
        tracking.log_pipeline_run(
            params=load_params(args.params),
            history=load_csv(cfg.paths.loss_history).to_dict("records"),
            metrics={"eval": {**results, "leakage": metrics["leakage"]},
                     "train": load_json(cfg.paths.train_metrics)},
            artifacts=[out, cfg.paths.loss_plot, cfg.paths.eval_metrics, cfg.paths.train_metrics],
        )
    except Exception as exc:  # the store is unreachable or refuses the run
        raise GenreVAEError(f"MLflow tracking at {tracking.tracking_uri()} failed: {exc}") from exc


if __name__ == "__main__":
    run_stage(main, __doc__)
