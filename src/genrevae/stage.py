"""What every ``stages/<stage>.py`` shares: a CLI with help, logging, config, seeding,
and one clear error line instead of a traceback for bad input or parameters."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from genrevae.config import Config, load_config
from genrevae.errors import GenreVAEError

log = logging.getLogger("genrevae")

# When each stage last started and ended, in this workspace (gitignored; not a DVC output,
# so it never makes a stage rerun). The MLflow run's start time is read from it.
STAGE_TIMES = Path(".genrevae") / "stage_times.json"


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("numba", "matplotlib", "alembic", "urllib3", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (if loaded) torch; make torch deterministic."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - for third-party code that uses the global state
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "torch" in sys.modules:
        import torch

        # cuBLAS needs this before CUDA starts for deterministic matrix products.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)


def _read_times() -> list[dict]:
    try:
        entries = json.loads(STAGE_TIMES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("start"), int | float)] \
        if isinstance(entries, list) else []


def _record_time(stage: str, **fields: float | str) -> None:
    """Add or complete this stage's latest entry; keep the last 100 (a hint, so a failure
    to write it is only logged)."""
    entries = _read_times()
    if "start" in fields:
        entries.append({"stage": stage, **fields})
    else:
        for entry in reversed(entries):
            if entry.get("stage") == stage:
                entry.update(fields)
                break
    try:
        STAGE_TIMES.parent.mkdir(exist_ok=True)
        tmp = STAGE_TIMES.with_name(f".{STAGE_TIMES.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries[-100:]), encoding="utf-8")
        tmp.replace(STAGE_TIMES)
    except OSError as exc:
        log.debug("cannot record stage times in %s: %s", STAGE_TIMES, exc)


def pipeline_started(stage: str = "evaluate") -> float:
    """When this pipeline execution began: the start of the first stage that ran since the
    last successful ``stage`` (the one asking; its own current entry is the newest). Falls
    back to now."""
    entries = _read_times()
    first = time.time()
    for entry in reversed(entries[:-1] if entries and entries[-1].get("stage") == stage
                          else entries):
        if entry.get("stage") == stage and entry.get("status") == "ok":
            break
        first = min(first, float(entry["start"]))
    return first


def run_stage(main: Callable[[Config, argparse.Namespace], None], doc: str | None) -> None:
    """Parse ``--params``, load and validate the config, seed, run ``main``.

    A :class:`GenreVAEError` (bad parameter, unusable input) ends the stage with one
    ``error:`` line and exit status 2; nothing partial is left because every writer
    is atomic.
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
    _record_time(stage, start=time.time())
    try:
        cfg = load_config(args.params)
        seed_everything(cfg.seed)
        main(cfg, args)
    except GenreVAEError as exc:
        _record_time(stage, end=time.time(), status="error")
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    _record_time(stage, end=time.time(), status="ok")
