"""Stage `fuse`: standardise audio and lyrics features (scalers fit on the train split
only), weight and concatenate them per segment.

Writes, under paths.fused, audio.npy, lyrics.npy, hybrid.npy and has_lyrics.npy, each
aligned row for row with paths.segments.
"""

from genrevae.errors import DataError
from genrevae.features.fuse import fuse_features, save_fused
from genrevae.io import load_csv, load_npy
from genrevae.stage import log, run_stage


def main(cfg, args):
    segments = load_csv(cfg.paths.segments)
    tracks = load_csv(cfg.paths.lyrics_tracks)
    row_of = {tid: i for i, tid in enumerate(tracks["track_id"].astype(str))}
    missing = set(segments["track_id"].astype(str)) - set(row_of)
    if missing:
        raise DataError(f"{cfg.paths.lyrics_tracks}: no row for tracks {sorted(missing)[:5]}")
    track_index = segments["track_id"].astype(str).map(row_of).to_numpy()
    fused = fuse_features(
        load_npy(cfg.paths.handcrafted),
        load_npy(cfg.paths.lyrics_embedding),
        track_index,
        (segments["split"] == "train").to_numpy(),
        audio_weight=cfg.fuse.audio_weight,
        lyrics_weight=cfg.fuse.lyrics_weight,
    )
    save_fused(cfg.paths.fused, fused)
    log.info("fused %d segments: audio %d + lyrics %d dims; %.0f%% of segments have lyrics",
             len(segments), fused.audio.shape[1], fused.lyrics.shape[1],
             100 * fused.has_lyrics.mean())


if __name__ == "__main__":
    run_stage(main, __doc__)
