"""Stage `embed_lyrics`: one lyrics embedding per track (TF-IDF + SVD, or a packaged
sentence encoder), fit on train tracks only.

Writes paths.lyrics_embedding (n_tracks, dim; NaN rows for tracks without lyrics) and
paths.lyrics_tracks (track_id, has_lyrics, n_words), aligned row for row.
"""

from genrevae.pipeline import embed_lyrics
from genrevae.pipeline.runner import run_stage

if __name__ == "__main__":
    run_stage(lambda cfg, args: embed_lyrics.run(cfg), __doc__)
