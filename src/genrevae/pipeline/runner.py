"""What every ``stages/<stage>.py`` shares: a CLI with help, logging, config, seeding,
one clear error line instead of a traceback for bad input or parameters, and the record
of the run in the workspace (:mod:`genrevae.pipeline.runlog`: stage times, and the refusal of a
second pipeline that would change params.yaml under this one)."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from genrevae.config import Config, load_config, load_params
from genrevae.devices import seed_everything
from genrevae.errors import ConfigError, GenreVAEError
from genrevae.io import os_error_line
from genrevae.pipeline import runlog
from genrevae.pipeline.outputs import claim_outputs

log = logging.getLogger("genrevae")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("numba", "matplotlib", "alembic", "urllib3", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_stage(main: Callable[[Config, argparse.Namespace], None], doc: str | None) -> None:
    """Parse ``--params``, load and validate the config, seed, run ``main``.

    A :class:`GenreVAEError` (bad parameter, unusable input, an output path onto
    someone's folder) or an ``OSError`` (a full disk, a folder removed mid-run) ends the
    stage with one ``error:`` line and exit status 2; SIGINT or SIGTERM with one line
    and 128 + the signal. Nothing partial is left because every writer is atomic.
    """
    summary = (doc or "").strip()
    parser = argparse.ArgumentParser(
        description=summary, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="composed parameters file (default: params.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    args = parser.parse_args()
    setup_logging(args.verbose)
    stage = Path(sys.argv[0]).stem
    runlog.record_start(stage)
    _catch_signals()
    try:
        cfg = _load(args.params)
        runlog.claim_params(stage, args.params)
        claim_outputs(cfg, stage)
        seed_everything(cfg.seed)
        main(cfg, args)
    except BaseException as exc:
        if _signal is not None or isinstance(exc, KeyboardInterrupt):
            # Whatever the interrupt became on its way out (C code can turn it into a
            # SystemError, killed workers into a broken pool): every writer is atomic and
            # extraction journaled, so a rerun resumes.
            log.debug("interrupted", exc_info=True)
            signum = _signal or signal.SIGINT
            _stop(stage, "interrupted", f"interrupted ({signal.Signals(signum).name}); rerun "
                  "(`dvc repro`) to resume", 128 + signum)
        if isinstance(exc, GenreVAEError):
            _stop(stage, "error", str(exc), 2)
        if isinstance(exc, OSError):  # a full disk, a folder removed under the stage, ...
            log.debug("file-system fault", exc_info=True)
            _stop(stage, "error", os_error_line(exc), 2)
        raise
    runlog.record_end(stage, "ok")


# The signal that interrupted this stage, once one has.
_signal: int | None = None


def _catch_signals() -> None:
    """Turn SIGINT and SIGTERM into ``KeyboardInterrupt``, remembering which came, so the
    stage unwinds (temporary files removed, the journal flushed) and ends in one line."""
    def interrupt(signum: int, frame: object) -> None:
        global _signal
        _signal = signum
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def _stop(stage: str, status: str, message: str, code: int) -> None:
    runlog.record_end(stage, status)
    log.error("%s", message)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def _load(params: Path) -> Config:
    """The validated config; a refused value says how to get the committed one back (a
    `dvc exp run -S` leaves it in params.yaml)."""
    try:
        return load_config(params)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in {params}: fix it, or `git checkout -- {params}` for the "
                          "committed value)") from exc


def run_inline(stage: str, params: str | Path = "params.yaml") -> None:
    """Run ``genrevae.pipeline.<stage>.run`` in this process on the params file ``params``,
    loaded and seeded as the stage's script does (paths resolve from the working folder),
    for tests and benchmarks. Raises what the stage raises."""
    cfg = load_config(params)
    claim_outputs(cfg, stage)
    # Imported before seeding, as the stage's script imports it: torch, once the stage
    # has loaded it, is seeded too, before the model is built.
    module = importlib.import_module(f"genrevae.pipeline.{stage}")
    seed_everything(cfg.seed)
    if stage == "evaluate":  # logs the params file as the MLflow run's params
        module.run(cfg, load_params(params))
    else:
        module.run(cfg)
