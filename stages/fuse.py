"""Stage `fuse`: standardise audio and lyrics features (scalers fit on the train split
only), weight and concatenate them per segment.

Writes, under paths.fused, audio.npy, lyrics.npy, hybrid.npy and has_lyrics.npy, each
aligned row for row with paths.segments.
"""

from genrevae.pipeline import fuse
from genrevae.pipeline.runner import run_stage

if __name__ == "__main__":
    run_stage(lambda cfg, args: fuse.run(cfg), __doc__)
