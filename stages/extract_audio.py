"""Stage `extract_audio`: cut every track into segments and compute, per segment, the
log-mel spectrogram and the Kaggle-GTZAN handcrafted features.

For data.name=features_table the table's rows are the segments and their features are
taken as they are (no audio is decoded, so no log-mel is written).
Writes paths.segments (one row per segment, keyed by track_id and segment_index),
paths.mel (n_seg, n_mels, frames), paths.handcrafted (n_seg, n_features),
paths.handcrafted_columns and paths.skipped (tracks that yielded no segment, and why).
"""

import numpy as np
import pandas as pd

from genrevae.errors import DataError
from genrevae.features.audio import extract_many, handcrafted_columns
from genrevae.io import load_csv, load_manifest, save_csv, save_json, save_npy
from genrevae.stage import log, run_stage

LABELS = ["genre", "language", "source", "split"]


def from_table(cfg, manifest):
    table = load_csv(cfg.paths.table)
    table["track_id"] = table["track_id"].astype(str)
    segments = table[["track_id", "segment_index"]].merge(
        manifest[["track_id", *LABELS]], on="track_id", how="left", validate="many_to_one")
    segments.insert(2, "offset_s", segments["segment_index"] * cfg.features.segment_seconds)
    return segments, None, table[handcrafted_columns(cfg.features.n_mfcc)].to_numpy(), []


def from_audio(cfg, manifest):
    results = extract_many(manifest["path"].tolist(), cfg.features)
    rows, mels, feats, skipped = [], [], [], []
    for track, res in zip(manifest.itertuples(index=False), results, strict=True):
        if isinstance(res, str):
            skipped.append({"track_id": track.track_id, "path": track.path, "reason": res})
            continue
        for i, offset in enumerate(res.offsets):
            rows.append({"track_id": track.track_id, "segment_index": i, "offset_s": offset,
                         **{k: getattr(track, k) for k in LABELS}})
        mels.append(res.log_mel)
        feats.append(res.handcrafted)
    mel = np.concatenate(mels) if mels else None
    hand = np.concatenate(feats) if feats else np.zeros((0, 0))
    return pd.DataFrame(rows), mel, hand, skipped


def main(cfg, args):
    manifest = load_manifest(cfg.paths.manifest)
    build = from_table if cfg.data.name == "features_table" else from_audio
    segments, mel, handcrafted, skipped = build(cfg, manifest)
    if segments.empty:
        raise DataError(f"{cfg.paths.manifest}: no track yielded a single usable segment")
    if mel is not None:
        save_npy(cfg.paths.mel, mel)
    save_npy(cfg.paths.handcrafted, handcrafted.astype(np.float32))
    save_json(cfg.paths.handcrafted_columns, handcrafted_columns(cfg.features.n_mfcc))
    save_csv(cfg.paths.segments, segments)
    save_csv(cfg.paths.skipped, pd.DataFrame(skipped, columns=["track_id", "path", "reason"]))
    for s in skipped:
        log.warning("skipped %s: %s", s["track_id"], s["reason"])
    log.info("%d segments from %d tracks (%d skipped)", len(segments),
             segments["track_id"].nunique(), len(skipped))


if __name__ == "__main__":
    run_stage(main, __doc__)
