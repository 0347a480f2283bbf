"""Stage `extract_audio`: every track cut into segments, with each segment's log-mel
spectrogram and Kaggle-GTZAN handcrafted features (or, for a feature table, its rows taken
as they are), into the resumable store and then into place."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from genrevae.config import Config
from genrevae.data.audio import segment_length
from genrevae.errors import DataError
from genrevae.features.audio import handcrafted_columns
from genrevae.features.extraction import CorpusExtraction
from genrevae.features.store import partial_root
from genrevae.io import load_csv, load_manifest, save_csv, save_json, save_npy

log = logging.getLogger(__name__)

LABELS = ["genre", "language", "source", "split"]
SKIPPED_COLUMNS = ["track_id", "path", "reason"]


def from_table(cfg: Config, manifest: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """A feature table's segment rows (labels from the manifest) and their features."""
    table = load_csv(cfg.paths.table)
    table["track_id"] = table["track_id"].astype(str)
    segments = table[["track_id", "segment_index"]].merge(
        manifest[["track_id", *LABELS]], on="track_id", how="left", validate="many_to_one")
    segments.insert(2, "offset_s", segments["segment_index"] * cfg.features.segment_seconds)
    return segments, table[handcrafted_columns(cfg.features.n_mfcc)].to_numpy()


def segment_table(manifest: pd.DataFrame, outcomes: list, seconds: float
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per extracted segment (track order, then segment order) and the skipped
    tracks with their reasons."""
    counts = np.array([o.n_segments for o in outcomes], dtype=np.int64)
    rows = manifest[["track_id", *LABELS]].iloc[np.repeat(np.arange(len(manifest)), counts)]
    rows = rows.reset_index(drop=True)
    index = np.concatenate([np.arange(n) for n in counts]) if counts.sum() else np.zeros(0, int)
    rows.insert(1, "segment_index", index)
    rows.insert(2, "offset_s", index * seconds)
    skipped = [{"track_id": t.track_id, "path": t.path, "reason": o.reason}
               for t, o in zip(manifest.itertuples(index=False), outcomes, strict=True)
               if o.n_segments == 0]
    return rows, pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)


def run(cfg: Config) -> None:
    manifest = load_manifest(cfg.paths.manifest)
    f = cfg.features
    job = None
    if cfg.data.name == "features_table":
        segments, handcrafted = from_table(cfg, manifest)
        skipped = pd.DataFrame([], columns=SKIPPED_COLUMNS)
        if segments.empty:
            raise DataError(f"{cfg.paths.manifest}: no track yielded a single usable segment")
        save_npy(cfg.paths.handcrafted, handcrafted.astype(np.float32))
    else:
        longer = int((manifest["duration_s"] > f.max_seconds).sum()
                     ) if "duration_s" in manifest else 0
        if longer:
            log.info("%d track(s) longer than features.max_seconds: their first %g s are read",
                     longer, f.max_seconds)
        job = CorpusExtraction(manifest["path"].tolist(), f, partial_root(cfg.paths.audio_features))
        outcomes = job.run()
        seg_len = segment_length(sr=f.sample_rate, seconds=f.segment_seconds)
        segments, skipped = segment_table(manifest, outcomes, seg_len / f.sample_rate)
        if segments.empty:
            raise DataError(f"{cfg.paths.manifest}: no track yielded a single usable segment")
        job.promote(outcomes, cfg.paths.mel, cfg.paths.handcrafted)
    save_json(cfg.paths.handcrafted_columns, handcrafted_columns(f.n_mfcc))
    save_csv(cfg.paths.skipped, skipped)
    save_csv(cfg.paths.segments, segments)
    if job is not None:
        job.cleanup()
    for s in skipped.itertuples(index=False):
        log.warning("skipped %s: %s", s.track_id, s.reason)
    log.info("%d segments from %d tracks (%d skipped)", len(segments),
             segments["track_id"].nunique(), len(skipped))
