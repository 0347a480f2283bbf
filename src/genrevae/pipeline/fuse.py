"""Stage `fuse`: audio and lyrics features standardised on the train split, weighted and
concatenated per segment."""

from __future__ import annotations

import logging

from genrevae.config import Config
from genrevae.errors import DataError
from genrevae.inputs.fuse import fuse_features, save_fused
from genrevae.io import load_csv, load_npy

log = logging.getLogger(__name__)


def run(cfg: Config) -> None:
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
        audio_transform=cfg.fuse.audio_transform,
    )
    save_fused(cfg.paths.fused, fused)
    log.info("fused %d segments: audio %d + lyrics %d dims; %.0f%% of segments have lyrics",
             len(segments), fused.audio.shape[1], fused.lyrics.shape[1],
             100 * fused.has_lyrics.mean())
