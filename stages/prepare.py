"""Stage `prepare`: build the track manifest (one row per track, split fixed here).

For data.name=synthetic it first generates the embedded corpus as WAV files.
Writes paths.manifest and paths.rejected (files left out, with their reason).
"""

import pandas as pd

from genrevae.data.sources import build_manifest
from genrevae.io import save_csv
from genrevae.stage import log, run_stage


def main(cfg, args):
    manifest = build_manifest(cfg.data, seed=cfg.seed, corpus_dir=cfg.paths.corpus)
    save_csv(cfg.paths.manifest, manifest)
    save_csv(cfg.paths.rejected, pd.DataFrame(columns=["path", "reason"]))
    counts = manifest.groupby("split").size().to_dict()
    log.info("manifest: %d tracks (%s)", len(manifest),
             ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    run_stage(main, __doc__)
