"""Stage `prepare`: the configured data source(s) into the track manifest, the split fixed
per track, and every file left out with its reason."""

from __future__ import annotations

import logging

from genrevae.config import Config
from genrevae.data.sources import build_manifest
from genrevae.features.audio import handcrafted_columns
from genrevae.io import save_csv

log = logging.getLogger(__name__)


def run(cfg: Config) -> None:
    prepared = build_manifest(
        cfg.data, seed=cfg.seed, corpus_dir=cfg.paths.corpus,
        min_seconds=cfg.features.segment_seconds,
        feature_columns=handcrafted_columns(cfg.features.n_mfcc),
    )
    if prepared.table is not None:
        save_csv(cfg.paths.table, prepared.table)
    save_csv(cfg.paths.rejected, prepared.rejected)
    save_csv(cfg.paths.manifest, prepared.manifest)
    m = prepared.manifest
    log.info("manifest: %d tracks, %d genres, %d languages (%s); %d files left out",
             len(m), m["genre"].nunique(), m["language"].nunique(),
             ", ".join(f"{k} {v}" for k, v in sorted(m.groupby("split").size().items())),
             len(prepared.rejected))
