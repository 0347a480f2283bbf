"""Stage `embed_lyrics`: one lyrics embedding per track (TF-IDF + SVD, or a packaged
sentence encoder), fit on train tracks only.

Writes paths.lyrics_embedding (n_tracks, dim; NaN rows for tracks without lyrics) and
paths.lyrics_tracks (track_id, has_lyrics, n_words), aligned row for row.
"""

import pandas as pd

from genrevae.features.lyrics import embed_lyrics
from genrevae.io import load_manifest, save_csv, save_npy
from genrevae.stage import log, run_stage


def main(cfg, args):
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


if __name__ == "__main__":
    run_stage(main, __doc__)
