"""Stage `extract_audio`: cut every track into segments and compute, per segment, the
log-mel spectrogram and the Kaggle-GTZAN handcrafted features.

Tracks are extracted across features.n_jobs processes (or on the GPU with
features.device=cuda) into preallocated memory-mapped arrays, so memory does not grow with
the corpus. The work is resumable: it lives in a hidden sibling of paths.audio_features
(`.audio.partial/`), and a killed run, rerun, computes only the tracks it had not finished.
The finished arrays are then renamed into place.

For data.name=features_table the table's rows are the segments and their features are
taken as they are (no audio is decoded, so no log-mel is written).
Writes paths.segments (one row per segment, keyed by track_id and segment_index),
paths.mel (n_seg, n_mels, frames), paths.handcrafted (n_seg, n_features),
paths.handcrafted_columns and paths.skipped (tracks that yielded no segment, and why).
"""

import numpy as np
import pandas as pd

from genrevae.data.audio import segment_length
from genrevae.errors import DataError
from genrevae.features.audio import handcrafted_columns
from genrevae.features.extraction import CorpusExtraction
from genrevae.features.store import partial_root
from genrevae.io import load_csv, load_manifest, save_csv, save_json, save_npy
from genrevae.stage import log, run_stage

LABELS = ["genre", "language", "source", "split"]
SKIPPED_COLUMNS = ["track_id", "path", "reason"]


def from_table(cfg, manifest):
    table = load_csv(cfg.paths.table)
    table["track_id"] = table["track_id"].astype(str)
    segments = table[["track_id", "segment_index"]].merge(
        manifest[["track_id", *LABELS]], on="track_id", how="left", validate="many_to_one")
    segments.insert(2, "offset_s", segments["segment_index"] * cfg.features.segment_seconds)
    return segments, table[handcrafted_columns(cfg.features.n_mfcc)].to_numpy()


def segment_table(manifest, outcomes, seconds):
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


def main(cfg, args):
    manifest = load_manifest(cfg.paths.manifest)
    f = cfg.features
    if cfg.data.name == "features_table":
        segments, handcrafted = from_table(cfg, manifest)
        skipped = pd.DataFrame([], columns=SKIPPED_COLUMNS)
        if segments.empty:
            raise DataError(f"{cfg.paths.manifest}: no track yielded a single usable segment")
        save_npy(cfg.paths.handcrafted, handcrafted.astype(np.float32))
    else:
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
    if cfg.data.name != "features_table":
        job.cleanup()
    for s in skipped.itertuples(index=False):
        log.warning("skipped %s: %s", s.track_id, s.reason)
    log.info("%d segments from %d tracks (%d skipped)", len(segments),
             segments["track_id"].nunique(), len(skipped))


if __name__ == "__main__":
    run_stage(main, __doc__)
