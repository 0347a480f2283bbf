"""Stage `prepare`: read the configured data source(s) into the track manifest (one row
per track, split fixed here by track, song or artist, stratified by genre).

For data.name=synthetic it first generates the embedded corpus as WAV files. Every file
or folder left out (undecodable, empty, silent, too short, not audio, duplicate,
unlabelled, NaN or absurd samples, hidden, broken or looping links, ...) is listed with
its reason in paths.rejected; the stage goes on unless nothing is usable, and refuses a
corpus too small to give every split two genres.
Writes paths.manifest, paths.rejected and, for a feature table, paths.table.
"""

from genrevae.pipeline import prepare
from genrevae.pipeline.runner import run_stage

if __name__ == "__main__":
    run_stage(lambda cfg, args: prepare.run(cfg), __doc__)
