"""Stage `prepare`: the configured data source(s) into the track manifest, the split fixed
per track, every file left out with its reason, and the tracks whose artist straddles the
splits (dropped from test with ``data.split_drop_straddling``)."""

from __future__ import annotations

import logging

import pandas as pd

from genrevae.config import Config
from genrevae.data.sources import Prepared, build_manifest
from genrevae.data.straddle import drop_straddling, split_report, summary
from genrevae.features.audio import handcrafted_columns
from genrevae.io import save_csv

log = logging.getLogger(__name__)


def run(cfg: Config) -> None:
    prepared = build_manifest(
        cfg.data, seed=cfg.seed, corpus_dir=cfg.paths.corpus,
        min_seconds=cfg.features.segment_seconds,
        feature_columns=handcrafted_columns(cfg.features.n_mfcc),
    )
    prepared, report = _straddling(cfg, prepared)
    if prepared.table is not None:
        save_csv(cfg.paths.table, prepared.table)
    save_csv(cfg.paths.rejected, prepared.rejected)
    save_csv(cfg.paths.split_report, report)
    save_csv(cfg.paths.manifest, prepared.manifest)
    m = prepared.manifest
    log.info("manifest: %d tracks, %d genres, %d languages (%s); %d files left out",
             len(m), m["genre"].nunique(), m["language"].nunique(),
             ", ".join(f"{k} {v}" for k, v in sorted(m.groupby("split").size().items())),
             len(prepared.rejected))


def _straddling(cfg: Config, prepared: Prepared) -> tuple[Prepared, pd.DataFrame]:
    """The report of tracks whose artist is in several splits, and the data without the
    test tracks whose artist is in train when data.split_drop_straddling asks for it."""
    report = split_report(prepared.manifest)
    named = "artist" in prepared.manifest and prepared.manifest["artist"].notna().any()
    if cfg.data.split_drop_straddling and not named:
        log.warning("data.split_drop_straddling: no lyrics or metadata table names artists, "
                    "so nothing is dropped")
    if cfg.data.split_drop_straddling and len(report):
        manifest, rejected = drop_straddling(prepared.manifest, report)
        rejected_all = pd.concat([prepared.rejected,
                                  pd.DataFrame(rejected, columns=prepared.rejected.columns)],
                                 ignore_index=True)
        table = prepared.table
        if table is not None:
            table = table[table["track_id"].isin(set(manifest["track_id"]))]
        prepared = Prepared(manifest, rejected_all, table)
    if named:
        log.info("split report: %s (%s)", summary(report), cfg.paths.split_report)
    return prepared, report
