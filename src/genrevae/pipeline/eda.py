"""Stage `eda`: plots and a Markdown report describing the prepared corpus."""

from __future__ import annotations

import logging

from genrevae.config import Config
from genrevae.eda import write_eda
from genrevae.io import load_csv, load_json, load_manifest, load_npy

log = logging.getLogger(__name__)


def run(cfg: Config) -> None:
    pngs = write_eda(
        load_manifest(cfg.paths.manifest), load_csv(cfg.paths.rejected),
        load_csv(cfg.paths.segments), cfg.paths.eda_plots, cfg.paths.eda_report,
        handcrafted=load_npy(cfg.paths.handcrafted, mmap=True),
        columns=load_json(cfg.paths.handcrafted_columns),
    )
    log.info("wrote %s and %d plots in %s", cfg.paths.eda_report, len(pngs), cfg.paths.eda_plots)
