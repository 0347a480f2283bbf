"""Typed, frozen views of ``params.yaml``.

``conf/`` is composed (by ``dvc exp run`` or ``make params``) into ``params.yaml``;
every stage loads that file here. Loading checks types, refuses unknown or missing
keys and validates values, raising :class:`ConfigError` with the dotted key at fault.

Each section's dataclass lives with its own checks (its ``check`` method) in a module of
this package: :mod:`.data`, :mod:`.features` (features, lyrics, fuse), :mod:`.model`
(model, train), :mod:`.evaluate` (cluster, evaluate) and :mod:`.paths`; :mod:`.build`
reads a mapping into them. The rules that tie keys of different sections together are
here, in :func:`validate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genrevae.config.build import SAMPLE_RATE_RANGE, at_most, build, fail
from genrevae.config.data import (
    AUDIO_SOURCES,
    DATA_SOURCES,
    DataConfig,
    FractionsConfig,
    SourceConfig,
    SyntheticConfig,
)
from genrevae.config.evaluate import (
    CLUSTER_ALGORITHMS,
    EVAL_TARGETS,
    LINKAGES,
    ClusterConfig,
    EvaluateConfig,
)
from genrevae.config.features import (
    AUDIO_TRANSFORMS,
    LYRICS_ANALYZERS,
    LYRICS_BACKENDS,
    FeaturesConfig,
    FuseConfig,
    LyricsConfig,
)
from genrevae.config.model import (
    CONDITION_LABELS,
    MAX_LATENT_DIM,
    MIN_LATENT_DIM,
    MODEL_INPUTS,
    ModelConfig,
    TrainConfig,
)
from genrevae.config.paths import PathsConfig
from genrevae.devices import DEVICES
from genrevae.errors import ConfigError
from genrevae.models.names import MODEL_NAMES

MAX_SEED = 2**32 - 1

__all__ = [
    "AUDIO_SOURCES", "AUDIO_TRANSFORMS", "CLUSTER_ALGORITHMS", "CONDITION_LABELS",
    "DATA_SOURCES", "DEVICES", "EVAL_TARGETS", "LINKAGES", "LYRICS_ANALYZERS",
    "LYRICS_BACKENDS", "MODEL_INPUTS", "MODEL_NAMES", "SAMPLE_RATE_RANGE",
    "ClusterConfig", "Config", "DataConfig", "EvaluateConfig", "FeaturesConfig",
    "FractionsConfig", "FuseConfig", "LyricsConfig", "ModelConfig", "PathsConfig",
    "SourceConfig", "SyntheticConfig", "TrainConfig", "from_dict", "load_config",
    "load_params", "to_dict", "validate",
]


@dataclass(frozen=True)
class Config:
    seed: int
    latent_dim: int
    data: DataConfig
    features: FeaturesConfig
    lyrics: LyricsConfig
    fuse: FuseConfig
    model: ModelConfig
    train: TrainConfig
    cluster: ClusterConfig
    evaluate: EvaluateConfig
    paths: PathsConfig


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read ``params.yaml`` as a plain mapping (for logging the full composed params)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameters file not found (run `make params`)")
    try:
        with path.open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} is 0x"
                          f"{exc.object[exc.start]:02x})") from exc
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f"line {where.line + 1}, column {where.column + 1}: " if where else ""
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML ({at}{what})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def load_config(path: str | Path = "params.yaml") -> Config:
    """Load and validate ``params.yaml``; raise :class:`ConfigError` naming the bad key."""
    return from_dict(load_params(path))


def from_dict(raw: Mapping[str, Any]) -> Config:
    cfg = build(Config, _latent_dim_into_model(raw), "")
    validate(cfg)
    return cfg


def _latent_dim_into_model(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The latent size is one key, the top-level ``latent_dim`` (what `-S latent_dim=64`
    sets, and the one params column `dvc exp show` shows for it); the model section takes
    it from there. A params file that also sets ``model.latent_dim`` must agree."""
    model = raw.get("model")
    if not isinstance(model, Mapping) or "latent_dim" not in raw:
        return raw
    top = raw["latent_dim"]
    if "latent_dim" in model and model["latent_dim"] != top:
        fail("model.latent_dim", f"the latent size is set by the top-level latent_dim "
                                 f"({top!r}); set that instead of model.latent_dim "
                                 f"({model['latent_dim']!r})")
    return {**raw, "model": {**model, "latent_dim": top}}


def validate(cfg: Config) -> None:
    """Check value ranges and cross-field rules; raise :class:`ConfigError` on the first.

    Finiteness of every float is checked earlier, when the value is read (``build``)."""
    # NumPy (and so every seeded library) takes seeds of 32 bits; a larger one would pass
    # here and stop the first stage that seeds.
    if not 0 <= cfg.seed <= MAX_SEED:
        fail("seed", f"must be in 0..{MAX_SEED} (2**32 - 1), got {_short(cfg.seed)}")
    # evaluate draws the latent space in 2-D (PCA, t-SNE): one dimension cannot be drawn.
    if cfg.latent_dim < MIN_LATENT_DIM:
        fail("latent_dim", f"must be >= {MIN_LATENT_DIM} (evaluate draws the latent space in "
                           f"2-D), got {_short(cfg.latent_dim)}")
    at_most("latent_dim", cfg.latent_dim, MAX_LATENT_DIM)
    # In this order: a params file with several faults is refused for the first of them,
    # the same one whichever stage reads it.
    for section in (cfg.data, cfg.features, cfg.lyrics, cfg.fuse, cfg.evaluate, cfg.model,
                    cfg.train, cfg.cluster):
        section.check()
    _check_paths(cfg.paths)
    _check_across(cfg)


def _check_paths(paths: PathsConfig) -> None:
    """Every output path names a file or folder: an empty one would be the working folder
    itself, and a control character (a newline) breaks the tables and dvc.lock that
    record paths one a line."""
    for name, value in dataclasses.asdict(paths).items():
        if not value.strip():
            fail(f"paths.{name}", "must be a path, got an empty string")
        bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
        if bad is not None:
            fail(f"paths.{name}", f"must not hold control characters, got {bad!r} in {value!r}")


def _short(value: int) -> str:
    """An integer as typed, or its first digits when it runs on (a line stays a line)."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} digits)"


def _check_across(cfg: Config) -> None:
    """Rules that tie keys of different sections together."""
    syn = cfg.data.synthetic
    if cfg.data.name == "synthetic" and syn and cfg.features.segment_seconds > syn.duration:
        fail("features.segment_seconds", f"longer than data.synthetic.duration ({syn.duration})")
    m = cfg.model
    if m.input == "mel" and cfg.data.name == "features_table":
        fail("model.input", "a feature table has no audio, so no log-mel input")
    if m.name == "vade" and m.pretrain_epochs >= cfg.train.epochs:
        fail("model.pretrain_epochs", f"must be below train.epochs ({cfg.train.epochs}), or the "
                                      "mixture prior is never fit")
    if m.name == "cvae" and m.condition == cfg.evaluate.target:
        fail("model.condition", f"the model would be conditioned on {m.condition!r}, the "
                                "label it is evaluated against (evaluate.target)")


def to_dict(cfg: Config) -> dict[str, Any]:
    """The config as plain nested dicts and lists (for checkpoints and logging)."""
    return dataclasses.asdict(cfg)
