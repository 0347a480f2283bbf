"""Stage `evaluate`: the latent space against the baselines (PCA and whitened PCA of the
same dimension, the raw model input) for every clustering, per segment and per track, and
for a linear probe; what the lyrics alone give away; the model's own diagnostics; the
plots; from these the headline; all logged as one MLflow run, with the model as a
registered MLflow model (:mod:`genrevae.tracking.registry`)."""


from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genrevae import plots, tracking
from genrevae.config import Config, to_dict
from genrevae.evaluation.baselines import representations
from genrevae.evaluation.diagnostics import latent_diagnostics, traversals
from genrevae.evaluation.headline import KEYS, headline_report
from genrevae.evaluation.leakage import (
    PROBE_TARGETS,
    WITHIN_LANGUAGE,
    lyrics_leakage,
    lyrics_probe,
    lyrics_probe_within,
)
from genrevae.evaluation.metrics import evaluate_tracks, track_labels
from genrevae.evaluation.probe import ProbeResult, linear_probe
from genrevae.evaluation.report import (
    TRACK,
    embeddings_2d,
    evaluate_assignments,
    predictor_payload,
    summary_table,
)
from genrevae.inputs.transform import InputTransform, ModelInput, load_model_input
from genrevae.io import key_positions, load_csv, load_json, load_manifest, load_npy, save_json
from genrevae.models.base import LatentModel
from genrevae.models.checkpoint import load_model
from genrevae.pipeline.runlog import pipeline_started
from genrevae.serving.bundle import PROVENANCE_KEY
from genrevae.tracking import registry

log = logging.getLogger(__name__)

# "true" on a run whose test split cannot rank it (headline small_test), else "false".
SMALL_TEST_TAG = "genrevae.small_test"


def run(cfg: Config, params: dict[str, Any]) -> None:
    """Evaluate and log this pipeline execution as one MLflow run; ``params`` is the
    composed params file as the run records it."""
    manifest = load_manifest(cfg.paths.manifest)
    dataset = tracking.DatasetInfo(
        name=cfg.data.name, path=Path(cfg.paths.manifest), source=str(cfg.data.root or ""),
        profile={"tracks": len(manifest), "genres": int(manifest["genre"].nunique())})
    with tracking.pipeline_run(
        params=params, started=pipeline_started(),
        tags={"model": cfg.model.name, "input": cfg.model.input, "data": cfg.data.name,
              "latent_dim": str(cfg.model.latent_dim)},
        dataset=dataset, dataset_columns=list(manifest.columns),
        own_paths=["params.yaml", "dvc.lock", *to_dict(cfg)["paths"].values()],
        view=tracking.headline_view(KEYS, params=["latent_dim"], tags=["model", "input"]),
    ) as run:
        evaluate(cfg, run, manifest)
        registry.log_model(run, cfg.paths.model, cfg.paths.probe)


def evaluate(cfg: Config, run: tracking.PipelineRun, manifest: pd.DataFrame) -> None:
    segments = load_csv(cfg.paths.segments)
    assignments = load_csv(cfg.paths.assignments)
    z = load_npy(cfg.paths.latent)
    model, _, meta = load_model(cfg.paths.model)
    # The input exactly as the model was trained on it: the checkpoint's transform.
    inp = load_model_input(cfg, segments, InputTransform.from_record(meta))
    rows = key_positions(segments, assignments)  # align by key, never by row order
    seg = segments.iloc[rows].reset_index(drop=True)
    split = seg["split"].to_numpy()
    reps = representations(z[rows], inp.flat()[rows], split == "train", seed=cfg.seed)
    truths = {"genre": seg["genre"].to_numpy(), "language": seg["language"].to_numpy()}
    results = evaluate_assignments(assignments, reps, truths, split, seed=cfg.seed)
    track_assignments = load_csv(cfg.paths.track_assignments)
    for rep, methods in evaluate_tracks(track_assignments, assignments, reps, seg,
                                        tuple(truths), seed=cfg.seed).items():
        results[rep][TRACK] = methods
    target = seg[cfg.evaluate.target].to_numpy()
    probes = {rep: linear_probe(x, target, split, seg["track_id"].to_numpy(), seed=cfg.seed)
              for rep, x in reps.items()}
    for rep, probe in probes.items():
        results[rep]["probe"] = probe.metrics

    test = rows[split == "test"]
    cond = None if inp.conditions is None else inp.conditions[test]
    diag = latent_diagnostics(model, inp.x[test], c=cond,
                              observed=None if inp.observed is None else inp.observed[test])
    diag["kl_per_dim"] = {f"z{i}": v for i, v in enumerate(diag["kl_per_dim"])}
    metrics = {**results, "model": diag, "leakage": _leakage(cfg, manifest, seg),
               "data": _counts(seg)}
    train = load_json(cfg.paths.train_metrics)
    by_track = track_labels(seg, ("split", cfg.evaluate.target, "language")) \
        .loc[track_assignments["track_id"]]
    head, metrics["chance"] = headline_report(
        track_assignments, by_track, target=cfg.evaluate.target, results=results,
        diagnostics=diag, best_epoch=train["best_epoch"], seed=cfg.seed,
        min_test_per_genre=cfg.evaluate.min_test_per_genre)
    if metrics["chance"]["reasons"]:
        log.warning("small_test: the test split is too small to read this run: %s; compare "
                    "runs by ami_net and over seeds (docs/evaluation.md)",
                    "; ".join(metrics["chance"]["reasons"]))
    save_json(cfg.paths.eval_metrics, metrics)
    save_json(cfg.paths.headline, head)
    save_json(cfg.paths.probe, {
        **predictor_payload(probes["latent"], reps["latent"], assignments, cfg.evaluate.target),
        # The data source, for `genrevae predict`'s provenance. The run that logged the model
        # is not written here (the same params give the same bytes): the logged copy carries
        # it, and predict finds a folder's run by its model's digest (genrevae.tracking.registry).
        PROVENANCE_KEY: {"data": cfg.data.name}})
    log.info("test split:\n%s", summary_table(results).round(3).to_string(index=False))
    log.info("active units %d/%d, KL %.2f, test reconstruction MSE %.3f", diag["active_units"],
             diag["latent_dim"], diag["kl"], diag["recon_mse"])
    log.info("headline: %s", ", ".join(f"{k} {'-' if v is None else v}" for k, v in head.items()))

    out = Path(cfg.paths.eval_plots)
    _plots(cfg, out, model=model, inp=inp, latent=reps["latent"], truths=truths,
           assignments=assignments, probe=probes["latent"], segments=segments,
           test=test, z=z[rows])

    run.set_tags({SMALL_TEST_TAG: str(bool(head["small_test"])).lower()})
    run.finish(headline=head, history=load_csv(cfg.paths.loss_history).to_dict("records"),
               table={"eval": {k: v for k, v in metrics.items() if k != "data"}, "train": train},
               artifacts=[out, cfg.paths.loss_plot, cfg.paths.eval_metrics, cfg.paths.train_metrics,
                          cfg.paths.headline])


def _leakage(cfg: Config, manifest: pd.DataFrame, seg: pd.DataFrame) -> dict:
    """What the lyrics alone give away, per track: their presence, and a linear probe on
    their embedding (genre, language, and genre inside each language)."""
    lyrics_tracks = load_csv(cfg.paths.lyrics_tracks)
    embedding = load_npy(cfg.paths.lyrics_embedding)  # aligned row for row with lyrics_tracks
    tracks = manifest.merge(lyrics_tracks[["track_id", "has_lyrics"]], on="track_id")
    tracks = tracks[tracks["track_id"].isin(set(seg["track_id"]))]
    lyrics_rows = key_positions(lyrics_tracks, tracks, ("track_id",))
    args = (embedding[lyrics_rows], tracks["has_lyrics"].to_numpy())
    where = {"split": tracks["split"].to_numpy(), "track_ids": tracks["track_id"].to_numpy(),
             "seed": cfg.seed}
    probe = lyrics_probe(*args, {t: tracks[t].to_numpy() for t in PROBE_TARGETS}, **where)
    probe[WITHIN_LANGUAGE] = lyrics_probe_within(*args, tracks["genre"].to_numpy(),
                                                 tracks["language"].to_numpy(), **where)
    return {"has_lyrics": lyrics_leakage(tracks), "lyrics_probe": probe}


def _counts(seg: pd.DataFrame) -> dict[str, int]:
    test = (seg["split"] == "test").to_numpy()
    return {"n_tracks": int(seg["track_id"].nunique()),
            "n_test_tracks": int(seg.loc[test, "track_id"].nunique()),
            "n_segments": len(seg), "n_test_segments": int(test.sum()),
            "n_genres": int(seg["genre"].nunique()),
            "n_languages": int(seg["language"].nunique())}


def _plots(cfg: Config, out: Path, *, model: LatentModel, inp: ModelInput, latent: np.ndarray,
           truths: dict[str, np.ndarray], assignments: pd.DataFrame, probe: ProbeResult,
           segments: pd.DataFrame, test: np.ndarray, z: np.ndarray) -> None:
    """2-D maps of the latent, clusters against genre, the probe's confusion, a few
    reconstructions and latent traversals, as PNGs under ``out``."""
    for method, emb, pick in embeddings_2d(latent, cfg.evaluate, seed=cfg.seed):
        for label in ("genre", "language"):
            plots.scatter_2d(emb, truths[label][pick], out / f"latent_{method}_{label}.png",
                             title=f"{method} of latent means, coloured by {label}")
    latent_cols = [c for c in assignments.columns if c.startswith("latent.")]
    shown = "latent.kmeans" if "latent.kmeans" in latent_cols else latent_cols[0]
    plots.contingency_heatmap(assignments[shown].to_numpy(), truths["genre"],
                              out / "cluster_vs_genre.png",
                              title=f"{shown} clusters vs genre (all segments)")
    plots.confusion(probe.confusion, probe.classes, out / "probe_confusion.png",
                    title=f"linear probe on the latent: test tracks ({cfg.evaluate.target})")
    shown_rows = test[: cfg.evaluate.n_reconstructions]
    if len(shown_rows):
        names = [f"{segments.track_id[i]} #{segments.segment_index[i]}" for i in shown_rows]
        c_shown = None if inp.conditions is None else inp.conditions[shown_rows]
        recon = model.reconstruct(inp.x[shown_rows], c_shown)
        draw = plots.mel_reconstructions if inp.x.ndim == 3 else plots.reconstructions
        draw(np.asarray(inp.x[shown_rows]), recon, names, out / "reconstructions.png")
    dims, offsets, decoded = traversals(model, z[np.isfinite(z).all(axis=1)], c=inp.conditions)
    plots.traversal(dims, offsets, decoded, out / "latent_traversal.png")
