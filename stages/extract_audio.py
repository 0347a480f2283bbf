"""Stage `extract_audio`: cut every track into segments and compute, per segment, the
log-mel spectrogram and the Kaggle-GTZAN handcrafted features.

Tracks are extracted across features.n_jobs processes (on the GPU with
features.device=cuda, or as tasks on a Dask cluster with features.engine=dask) into
preallocated memory-mapped arrays, so memory does not grow with the corpus. The work is
resumable: it lives in a hidden sibling of paths.audio_features (`.audio.partial/`), and a
killed run, rerun, computes only the tracks it had not finished.
The finished arrays are then renamed into place.

For data.name=features_table the table's rows are the segments and their features are
taken as they are (no audio is decoded, so no log-mel is written).
Writes paths.segments (one row per segment, keyed by track_id and segment_index),
paths.mel (n_seg, n_mels, frames), paths.handcrafted (n_seg, n_features),
paths.handcrafted_columns and paths.skipped (tracks that yielded no segment, and why).
"""

from genrevae.pipeline import extract_audio
from genrevae.pipeline.runner import run_stage

if __name__ == "__main__":
    run_stage(lambda cfg, args: extract_audio.run(cfg), __doc__)
