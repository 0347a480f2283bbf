"""The one choice of compute device, for every setting that names one (``features.device``,
``train.device``): ``cpu``, ``cuda``, or ``auto`` (cuda when torch sees a GPU); and the
seeding that makes every device run the same numbers for the same ``seed``.

Beside the device because both decide what numbers a run gives; science code and the
stage harness (:mod:`genrevae.pipeline.runner`, which calls it once per stage) share it."""

from __future__ import annotations

import os
import random
import sys

import numpy as np

from genrevae.errors import ConfigError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str, *, key: str) -> str:
    """``cpu``, ``cuda`` or ``auto`` to ``cpu`` or ``cuda``.

    ``key`` is the setting's dotted name, for the error. ``cpu`` never imports torch (the
    feature extractor's CPU path runs without it).

    Raises
    ------
    ConfigError
        ``name`` is not one of :data:`DEVICES`, or it is ``cuda`` and torch sees no GPU
        (asking for a GPU never falls back silently).
    """
    if name not in DEVICES:
        raise ConfigError(f"{key}: must be one of {', '.join(DEVICES)}; got {name!r}")
    if name == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        available = False
    else:
        available = bool(torch.cuda.is_available())
    if name == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ConfigError(f"{key}: 'cuda' but no CUDA device is available")
    return "cuda"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (if loaded) torch; make torch deterministic. Called once per
    stage, after the stage's module is imported, so a stage that uses torch has it seeded
    before it builds anything random (stages that never load torch never import it)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - for third-party code that uses the global state
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "torch" in sys.modules:
        import torch

        # cuBLAS needs this before CUDA starts for deterministic matrix products.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
