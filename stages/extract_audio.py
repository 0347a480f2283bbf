"""Stage `extract_audio`: cut every track into segments and compute, per segment, the
log-mel spectrogram and the Kaggle-GTZAN handcrafted features.

Writes paths.segments (one row per segment, keyed by track_id and segment_index),
paths.mel (n_seg, n_mels, frames), paths.handcrafted (n_seg, n_features),
paths.handcrafted_columns and paths.skipped (unusable files and why).
"""

import numpy as np
import pandas as pd

from genrevae.errors import DataError
from genrevae.features.audio import extract_many, handcrafted_columns
from genrevae.io import load_manifest, save_csv, save_json, save_npy
from genrevae.stage import log, run_stage


def main(cfg, args):
    manifest = load_manifest(cfg.paths.manifest)
    results = extract_many(manifest["path"].tolist(), cfg.features)
    rows, mels, feats, skipped = [], [], [], []
    for track, res in zip(manifest.itertuples(index=False), results, strict=True):
        if isinstance(res, str):
            skipped.append({"track_id": track.track_id, "path": track.path, "reason": res})
            continue
        for i, offset in enumerate(res.offsets):
            rows.append({"track_id": track.track_id, "segment_index": i, "offset_s": offset,
                         "genre": track.genre, "language": track.language,
                         "source": track.source, "split": track.split})
        mels.append(res.log_mel)
        feats.append(res.handcrafted)
    if not rows:
        raise DataError(f"{cfg.paths.manifest}: no track yielded a single usable segment")
    save_npy(cfg.paths.mel, np.concatenate(mels))
    save_npy(cfg.paths.handcrafted, np.concatenate(feats).astype(np.float32))
    save_json(cfg.paths.handcrafted_columns, handcrafted_columns(cfg.features.n_mfcc))
    save_csv(cfg.paths.segments, pd.DataFrame(rows))
    save_csv(cfg.paths.skipped, pd.DataFrame(skipped, columns=["track_id", "path", "reason"]))
    for s in skipped:
        log.warning("skipped %s: %s", s["track_id"], s["reason"])
    log.info("%d segments from %d tracks (%d skipped)", len(rows),
             len(manifest) - len(skipped), len(skipped))


if __name__ == "__main__":
    run_stage(main, __doc__)
