"""Model name (``model.name`` in params) -> its class, and a built model."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from genrevae.config import ModelConfig
from genrevae.models.base import LatentModel
from genrevae.models.names import MODEL_CLASSES


def _import(path: str) -> type[LatentModel]:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


# Every class is imported here, so a line of genrevae.models.names naming no class fails
# on import, not when that model is first trained.
MODELS: dict[str, type[LatentModel]] = {name: _import(path)
                                        for name, path in MODEL_CLASSES.items()}


def build_model(
    cfg: ModelConfig, input_shape: Sequence[int], *, n_conditions: int = 0,
    n_components: int = 10,
) -> LatentModel:
    """The model of ``cfg.name`` built from ``cfg`` (:meth:`LatentModel.from_config`, which
    documents the arguments and records them for the checkpoint).

    Raises
    ------
    ValueError
        ``cfg.name`` names no model.
    ConfigError
        ``latent_dim`` is wider than a feature-vector input.
    """
    if cfg.name not in MODELS:
        raise ValueError(f"unknown model {cfg.name!r}; known: {sorted(MODELS)}")
    return MODELS[cfg.name].from_config(cfg, input_shape, n_conditions=n_conditions,
                                        n_components=n_components)
