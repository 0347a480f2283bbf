"""Stage `prepare`: read the configured data source(s) into the track manifest (one row
per track, split fixed here by track, song or artist, stratified by genre).

For data.name=synthetic it first generates the embedded corpus as WAV files. Every file
or folder left out (undecodable, empty, silent, too short, not audio, duplicate,
unlabelled, NaN or absurd samples, hidden, broken or looping links, ...) is listed with
its reason in paths.rejected; the stage goes on unless nothing is usable, and refuses a
corpus too small to give every split two genres.
Writes paths.manifest, paths.rejected and, for a feature table, paths.table.
"""

from genrevae.data.sources import build_manifest
from genrevae.features.audio import handcrafted_columns
from genrevae.io import save_csv
from genrevae.stage import log, run_stage


def main(cfg, args):
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


if __name__ == "__main__":
    run_stage(main, __doc__)
