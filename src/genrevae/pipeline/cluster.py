"""Stage `cluster`: every configured clustering of the latent means and of the baselines
(PCA, whitened PCA, raw input: fit on train), then K-Means on each track's mean row."""

from __future__ import annotations

import logging

import numpy as np

from genrevae.config import Config
from genrevae.evaluation.baselines import representations
from genrevae.evaluation.clustering import cluster, cluster_tracks
from genrevae.inputs.transform import load_model_input
from genrevae.io import SEGMENT_KEYS, load_csv, load_npy, save_csv

log = logging.getLogger(__name__)


def run(cfg: Config) -> None:
    segments = load_csv(cfg.paths.segments)
    z = load_npy(cfg.paths.latent)
    x = load_model_input(cfg, segments).flat()
    rows = np.all(np.isfinite(z), axis=1)
    is_train = (segments["split"] == "train").to_numpy()[rows]
    k = cfg.cluster.k or int(segments["genre"].nunique())
    out = segments.loc[rows, [*SEGMENT_KEYS, "split"]].reset_index(drop=True)
    reps = representations(z[rows], x[rows], is_train, seed=cfg.seed)
    for rep, matrix in reps.items():
        for algo in cfg.cluster.algorithms:
            labels = cluster(matrix, algo, k=k, linkage=cfg.cluster.linkage,
                             n_init=cfg.cluster.n_init, eps=cfg.cluster.dbscan_eps,
                             min_samples=cfg.cluster.dbscan_min_samples, seed=cfg.seed)
            out[f"{rep}.{algo}"] = labels
            log.info("%s.%s: %d clusters%s", rep, algo, len(set(labels) - {-1}),
                     f", {np.mean(labels == -1):.0%} noise" if algo == "dbscan" else "")
    save_csv(cfg.paths.assignments, out)

    tracks = cluster_tracks(reps, out["track_id"].to_numpy(), is_train, k=k,
                            n_init=cfg.cluster.n_init, seed=cfg.seed)
    split = out.groupby("track_id", sort=True)["split"].first()
    tracks.insert(1, "split", split.loc[tracks["track_id"]].to_numpy())
    save_csv(cfg.paths.track_assignments, tracks)
    log.info("track means: K-Means with k=%d on %d tracks (%d test) for %s", k, len(tracks),
             int((tracks["split"] == "test").sum()), ", ".join(reps))
