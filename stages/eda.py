"""Stage `eda`: describe the prepared corpus: tracks per genre and language, durations,
sample rates, loudness, segments per track, lyrics length and vocabulary per language,
the share without lyrics, and the files left out with their reasons.

Writes PNGs under paths.eda_plots and the Markdown report paths.eda_report.
"""

from genrevae.pipeline import eda
from genrevae.pipeline.runner import run_stage

if __name__ == "__main__":
    run_stage(lambda cfg, args: eda.run(cfg), __doc__)
