"""The one choice of compute device, for every setting that names one (``features.device``,
``train.device``): ``cpu``, ``cuda``, or ``auto`` (cuda when torch sees a GPU)."""

from __future__ import annotations

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
