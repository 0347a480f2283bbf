"""Stage `embed_lyrics`: one lyrics embedding per track, fit on the train tracks only."""

from __future__ import annotations

import logging

import pandas as pd

from genrevae.config import Config
from genrevae.features.lyrics import embed_lyrics
from genrevae.io import load_manifest, save_csv, save_npy

log = logging.getLogger(__name__)


def run(cfg: Config) -> None:
    manifest = load_manifest(cfg.paths.manifest)
    lyrics = manifest["lyrics"].tolist()
    embedding, has = embed_lyrics(lyrics, (manifest["split"] == "train").to_numpy(), cfg.lyrics,
                                  seed=cfg.seed)
    tracks = pd.DataFrame({
        "track_id": manifest["track_id"],
        "has_lyrics": has,
        "n_words": [len(t.split()) if isinstance(t, str) else 0 for t in lyrics],
    })
    save_npy(cfg.paths.lyrics_embedding, embedding)
    save_csv(cfg.paths.lyrics_tracks, tracks)
    log.info("lyrics: %d of %d tracks have lyrics; embedding dim %d",
             int(has.sum()), len(has), embedding.shape[1])
