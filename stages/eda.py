"""Stage `eda`: describe the prepared corpus: tracks per genre and language, durations,
sample rates, loudness, segments per track, lyrics length and vocabulary per language,
the share without lyrics, and the files left out with their reasons.

Writes PNGs under paths.eda_plots and the Markdown report paths.eda_report.
"""

from genrevae.eda import write_eda
from genrevae.io import load_csv, load_manifest
from genrevae.stage import log, run_stage


def main(cfg, args):
    pngs = write_eda(
        load_manifest(cfg.paths.manifest), load_csv(cfg.paths.rejected),
        load_csv(cfg.paths.segments), cfg.paths.eda_plots, cfg.paths.eda_report,
    )
    log.info("wrote %s and %d plots in %s", cfg.paths.eda_report, len(pngs), cfg.paths.eda_plots)


if __name__ == "__main__":
    run_stage(main, __doc__)
