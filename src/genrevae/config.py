"""Typed, frozen views of ``params.yaml``.

``conf/`` is composed (by ``dvc exp run`` or ``make params``) into ``params.yaml``;
every stage loads that file here. Loading checks types, refuses unknown or missing
keys and validates values, raising :class:`ConfigError` with the dotted key at fault.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genrevae.errors import ConfigError

MODEL_NAMES = ("vae", "conv_vae", "cvae", "vade", "ae")
MODEL_INPUTS = ("audio", "lyrics", "hybrid", "mel")
# Labels a cvae may be conditioned on, and labels a run may be evaluated against.
CONDITION_LABELS = ("language", "source")
EVAL_TARGETS = ("genre", "language", "source")
DATA_SOURCES = ("synthetic", "gtzan", "banglabeats", "folder", "features_table")
# Sources that can be combined in one run (data.extra_sources); each reads audio files.
AUDIO_SOURCES = ("gtzan", "banglabeats", "folder")
LYRICS_BACKENDS = ("tfidf", "sentence")
LYRICS_ANALYZERS = ("word", "char")
CLUSTER_ALGORITHMS = ("kmeans", "agglomerative", "dbscan")
LINKAGES = ("ward", "average", "complete", "single")
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class FractionsConfig:
    """Shares of a random split (``data.split: random``)."""

    train: float
    val: float
    test: float


@dataclass(frozen=True)
class SyntheticConfig:
    """The embedded corpus generator (``data=synthetic``)."""

    sample_rate: int
    duration: float
    genres: tuple[str, ...]
    tracks_per_genre: int
    languages: tuple[str, ...]
    instrumental_fraction: float


@dataclass(frozen=True)
class SourceConfig:
    """One dataset: its reader, where it is, its lyrics table and its language."""

    name: str
    root: str | None
    lyrics: str | None = None
    language: str | None = None
    # A table of per-track facts (artist, language, anything else), joined like lyrics.
    metadata: str | None = None


@dataclass(frozen=True)
class DataConfig:
    name: str
    root: str | None
    lyrics: str | None
    language: str | None
    # More audio sources read in the same run (e.g. BanglaBeats beside GTZAN).
    extra_sources: tuple[SourceConfig, ...]
    # "<source>:<genre>" (or "<genre>") -> merged genre name; unmapped genres of several
    # sources stay distinct as "<source>:<genre>".
    genre_map: dict[str, str]
    # features_table: the column holding the genre.
    label_column: str
    # banglabeats: a clip whose file name is a plain number N (1490.wav) is in song
    # (N - 1) // clips_per_song of its genre folder; any other name is read with
    # clip_pattern, whose group "song" names the song the clip came from.
    clip_pattern: str
    clips_per_song: int
    # random (grouped, stratified, seeded), a split shipped with the project
    # (genrevae.data.splits.NAMED_SPLITS) or a folder holding train.txt, val.txt, test.txt.
    split: str
    fractions: FractionsConfig
    synthetic: SyntheticConfig | None
    metadata: str | None = None

    def sources(self) -> tuple[SourceConfig, ...]:
        """The main source followed by the extra ones."""
        main = SourceConfig(self.name, self.root, self.lyrics, self.language, self.metadata)
        return (main, *self.extra_sources)


@dataclass(frozen=True)
class FeaturesConfig:
    sample_rate: int
    segment_seconds: float
    n_fft: int
    hop_length: int
    n_mels: int
    n_mfcc: int
    # Worker processes for extraction; 0 means one per CPU core.
    n_jobs: int
    # Where the spectral work runs: cpu (numpy + numba), cuda (torch, batched on the GPU)
    # or auto (cuda when torch sees one). Values agree within 1e-4 relative.
    device: str = "cpu"


@dataclass(frozen=True)
class LyricsConfig:
    backend: str
    analyzer: str
    ngram_min: int
    ngram_max: int
    max_features: int
    min_df: int
    dim: int
    model: str | None


@dataclass(frozen=True)
class FuseConfig:
    audio_weight: float
    lyrics_weight: float


@dataclass(frozen=True)
class ModelConfig:
    name: str
    # audio | lyrics | hybrid (feature vectors) or mel (log-mel segments, conv_vae only)
    input: str
    latent_dim: int
    hidden_dims: tuple[int, ...]
    beta: float
    dropout: float
    # Minimum KL per latent dimension (nats) below which it is not penalised; 0 = off.
    free_bits: float
    # cvae: the label the model is conditioned on (never the evaluation target).
    condition: str | None
    # vade: mixture components; null = the number of genres.
    n_components: int | None
    # vade: autoencoder epochs before the mixture prior is fit and the KL switched on.
    pretrain_epochs: int
    # Feature-vector models: whiten the input with the train split's covariance and measure
    # reconstruction error in the whitened space (a Gaussian decoder whose noise covariance
    # is the data's), so low-variance directions count as much as dominant ones.
    whiten: bool
    # Denoising: in training, each entry of the encoder's input is set to the train mean (0
    # after standardisation) with this probability, and the decoder reconstructs the clean
    # input; 0 = off. Validation, latents and predict always see the clean input.
    input_dropout: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    # Epochs over which the KL weight ramps linearly from 0 to model.beta; 0 = off.
    kl_warmup_epochs: int
    device: str


@dataclass(frozen=True)
class ClusterConfig:
    k: int | None
    algorithms: tuple[str, ...]
    linkage: str
    n_init: int
    dbscan_min_samples: int
    dbscan_eps: float | None


@dataclass(frozen=True)
class EvaluateConfig:
    # The label the linear probe predicts and matched accuracy/purity are computed for.
    target: str
    tsne_perplexity: float
    max_plot_points: int
    n_reconstructions: int


@dataclass(frozen=True)
class PathsConfig:
    checked: str
    prepared: str
    manifest: str
    rejected: str
    table: str
    corpus: str
    audio_features: str
    segments: str
    mel: str
    handcrafted: str
    handcrafted_columns: str
    skipped: str
    lyrics_features: str
    lyrics_embedding: str
    lyrics_tracks: str
    fused: str
    model: str
    latent: str
    train_metrics: str
    loss_history: str
    loss_plot: str
    assignments: str
    track_assignments: str
    eval_metrics: str
    headline: str
    eval_plots: str
    probe: str
    eda_plots: str
    eda_report: str


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
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def load_config(path: str | Path = "params.yaml") -> Config:
    """Load and validate ``params.yaml``; raise :class:`ConfigError` naming the bad key."""
    return from_dict(load_params(path))


def from_dict(raw: Mapping[str, Any]) -> Config:
    cfg = _build(Config, _latent_dim_into_model(raw), "")
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
        _fail("model.latent_dim", f"the latent size is set by the top-level latent_dim "
                                  f"({top!r}); set that instead of model.latent_dim "
                                  f"({model['latent_dim']!r})")
    return {**raw, "model": {**model, "latent_dim": top}}


def _fail(key: str, message: str) -> typing.NoReturn:
    raise ConfigError(f"{key}: {message}")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, Mapping):
        _fail(prefix.rstrip(".") or "<root>", f"expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        _fail(prefix + str(unknown[0]), "unknown key")
    values = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if f.name not in raw:
            if f.default is dataclasses.MISSING:
                _fail(key, "missing")
            continue
        values[f.name] = _coerce(hints[f.name], raw[f.name], key)
    return cls(**values)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key)
    if origin is dict:
        if not isinstance(value, Mapping):
            _fail(key, f"expected a mapping, got {value!r}")
        return {str(k): _coerce(str, v, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple):
            _fail(key, f"expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            _fail(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(key, f"expected a number, got {value!r}")
        # NaN passes every `<` check below and inf every `>` check; refuse both here, once.
        number = float(value) if isinstance(value, float) or abs(value) < 2**1023 else math.inf
        if not math.isfinite(number):
            _fail(key, f"must be a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            _fail(key, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in this module


# Bounds on sizes: values beyond them are typos (an extra zero) that would otherwise run for
# hours or fill the disk before anything fails.
SAMPLE_RATE_RANGE = (8000, 192000)
MAX_SEGMENT_SECONDS = 600.0
MAX_SYNTHETIC_SECONDS = 3600.0
MAX_N_FFT = 65536
MAX_LATENT_DIM = 1024
MAX_HIDDEN_WIDTH = 16384
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65536
MAX_LR = 10.0


def _positive(key: str, value: float) -> None:
    if value <= 0:
        _fail(key, f"must be positive, got {value!r}")


def _non_negative(key: str, value: float) -> None:
    if value < 0:
        _fail(key, f"must be >= 0, got {value!r}")


def _at_most(key: str, value: float, limit: float) -> None:
    if value > limit:
        _fail(key, f"must be <= {limit:g}, got {value!r}")


def _in_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        _fail(key, f"must be in [{low:g}, {high:g}], got {value!r}")


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(key, f"must be one of {', '.join(choices)}; got {value!r}")


def _validate_synthetic(d: SyntheticConfig) -> None:
    _in_range("data.synthetic.sample_rate", d.sample_rate, *SAMPLE_RATE_RANGE)
    _positive("data.synthetic.duration", d.duration)
    _at_most("data.synthetic.duration", d.duration, MAX_SYNTHETIC_SECONDS)
    if len(d.genres) < 2:
        _fail("data.synthetic.genres", "needs at least two genres")
    if len(set(d.genres)) != len(d.genres):
        _fail("data.synthetic.genres", "genres must be distinct")
    if d.tracks_per_genre < 3:
        _fail("data.synthetic.tracks_per_genre",
              f"needs >= 3 (one per split), got {d.tracks_per_genre}")
    if not d.languages:
        _fail("data.synthetic.languages", "needs at least one language")
    if not 0.0 <= d.instrumental_fraction <= 1.0:
        _fail("data.synthetic.instrumental_fraction",
              f"must be in [0, 1], got {d.instrumental_fraction}")


def _validate_data(d: DataConfig) -> None:
    _one_of("data.name", d.name, DATA_SOURCES)
    for name in ("train", "val", "test"):
        share = getattr(d.fractions, name)
        if not 0.0 < share < 1.0:
            _fail(f"data.fractions.{name}", f"must be in (0, 1), got {share}")
    total = d.fractions.train + d.fractions.val + d.fractions.test
    if abs(total - 1.0) > 1e-6:
        _fail("data.fractions", f"train + val + test must be 1, got {total:g}")
    _validate_split(d)
    try:
        pattern = re.compile(d.clip_pattern)
    except re.error as exc:
        _fail("data.clip_pattern", f"not a regular expression ({exc})")
    if "song" not in pattern.groupindex:
        _fail("data.clip_pattern", "needs a named group (?P<song>...)")
    if d.clips_per_song < 1:
        _fail("data.clips_per_song", f"must be >= 1 (clips cut from one song), got "
                                     f"{d.clips_per_song}")
    if d.name == "synthetic":
        if d.synthetic is None:
            _fail("data.synthetic", "data=synthetic needs the generator settings")
        _validate_synthetic(d.synthetic)
    elif not d.root:
        _fail("data.root", f"data={d.name} needs the path of its data")
    for i, extra in enumerate(d.extra_sources):
        key = f"data.extra_sources[{i}]"
        if d.name not in AUDIO_SOURCES:
            _fail(key, f"extra sources combine audio datasets; data={d.name} cannot take them")
        _one_of(f"{key}.name", extra.name, AUDIO_SOURCES)
        if not extra.root:
            _fail(f"{key}.root", "missing the path of its data")


def _validate_split(d: DataConfig) -> None:
    # Imported here: the split code imports this module.
    from genrevae.data.split_lists import NAMED_SPLITS, RANDOM, list_folder

    if not d.split.strip():
        _fail("data.split", f"must be {RANDOM}, one of {', '.join(NAMED_SPLITS)} or a folder "
                            "holding train.txt, val.txt and test.txt")
    if d.name == "synthetic" and d.split != RANDOM:
        _fail("data.split", "the embedded corpus is split at random; a list of tracks "
                            "needs a real dataset")
    if d.split != RANDOM:
        try:
            list_folder(d.split)
        except FileNotFoundError as exc:
            _fail("data.split", str(exc))


def _validate_features(f: FeaturesConfig) -> None:
    for name in ("sample_rate", "segment_seconds", "n_fft", "hop_length", "n_mels", "n_mfcc"):
        _positive(f"features.{name}", getattr(f, name))
    _in_range("features.sample_rate", f.sample_rate, *SAMPLE_RATE_RANGE)
    _at_most("features.segment_seconds", f.segment_seconds, MAX_SEGMENT_SECONDS)
    _at_most("features.n_fft", f.n_fft, MAX_N_FFT)
    _non_negative("features.n_jobs", f.n_jobs)
    _one_of("features.device", f.device, DEVICES)
    if f.hop_length > f.n_fft:
        _fail("features.hop_length", f"must not exceed features.n_fft ({f.n_fft})")
    if f.segment_seconds * f.sample_rate < f.n_fft:
        _fail("features.segment_seconds", "a segment must hold at least one FFT frame")
    # A mel band narrower than one FFT bin is empty: its row of the log-mel is constant.
    if f.n_mels > f.n_fft // 2 + 1:
        _fail("features.n_mels", f"must not exceed the {f.n_fft // 2 + 1} frequency bins of "
                                 f"features.n_fft ({f.n_fft})")
    if f.n_mfcc > f.n_mels:
        _fail("features.n_mfcc", f"must not exceed features.n_mels ({f.n_mels})")


def _validate_lyrics(ly: LyricsConfig) -> None:
    _one_of("lyrics.backend", ly.backend, LYRICS_BACKENDS)
    _one_of("lyrics.analyzer", ly.analyzer, LYRICS_ANALYZERS)
    _positive("lyrics.ngram_min", ly.ngram_min)
    if ly.ngram_max < ly.ngram_min:
        _fail("lyrics.ngram_max", f"must be >= lyrics.ngram_min ({ly.ngram_min})")
    _non_negative("lyrics.max_features", ly.max_features)
    _positive("lyrics.min_df", ly.min_df)
    _positive("lyrics.dim", ly.dim)
    if ly.backend == "sentence" and not ly.model:
        _fail("lyrics.model", "the sentence backend needs a model package name")


def _validate_fuse(fu: FuseConfig) -> None:
    _non_negative("fuse.audio_weight", fu.audio_weight)
    _non_negative("fuse.lyrics_weight", fu.lyrics_weight)
    if fu.audio_weight == 0 and fu.lyrics_weight == 0:
        _fail("fuse", "audio_weight and lyrics_weight cannot both be 0")


def _validate_model(m: ModelConfig) -> None:
    _one_of("model.name", m.name, MODEL_NAMES)
    _one_of("model.input", m.input, MODEL_INPUTS)
    if (m.name == "conv_vae") != (m.input == "mel"):
        _fail("model.input", "conv_vae reads input 'mel', and only conv_vae does; "
                             f"got model.name={m.name}, model.input={m.input}")
    if m.whiten and m.input == "mel":
        _fail("model.whiten", "whitening applies to feature vectors, not to log-mel input")
    _non_negative("model.free_bits", m.free_bits)
    _non_negative("model.pretrain_epochs", m.pretrain_epochs)
    if m.n_components is not None and m.n_components < 2:
        _fail("model.n_components", f"must be >= 2, got {m.n_components}")
    if m.name == "cvae":
        if m.condition is None:
            _fail("model.condition", "a cvae needs a label to condition on")
        _one_of("model.condition", m.condition, CONDITION_LABELS)
    if not m.hidden_dims:
        _fail("model.hidden_dims", "needs at least one hidden layer")
    for i, width in enumerate(m.hidden_dims):
        _positive(f"model.hidden_dims[{i}]", width)
        _at_most(f"model.hidden_dims[{i}]", width, MAX_HIDDEN_WIDTH)
    _non_negative("model.beta", m.beta)
    if not 0.0 <= m.dropout < 1.0:
        _fail("model.dropout", f"must be in [0, 1), got {m.dropout}")
    if not 0.0 <= m.input_dropout < 1.0:
        _fail("model.input_dropout", f"must be in [0, 1), got {m.input_dropout}")


def _validate_train(t: TrainConfig) -> None:
    for name in ("epochs", "batch_size", "lr", "patience"):
        _positive(f"train.{name}", getattr(t, name))
    _at_most("train.epochs", t.epochs, MAX_EPOCHS)
    _at_most("train.batch_size", t.batch_size, MAX_BATCH_SIZE)
    _at_most("train.lr", t.lr, MAX_LR)
    _non_negative("train.weight_decay", t.weight_decay)
    _non_negative("train.kl_warmup_epochs", t.kl_warmup_epochs)
    _one_of("train.device", t.device, DEVICES)


def _validate_cluster(c: ClusterConfig) -> None:
    if c.k is not None and c.k < 2:
        _fail("cluster.k", f"must be >= 2, got {c.k}")
    if not c.algorithms:
        _fail("cluster.algorithms", "needs at least one algorithm")
    for i, algo in enumerate(c.algorithms):
        _one_of(f"cluster.algorithms[{i}]", algo, CLUSTER_ALGORITHMS)
    _one_of("cluster.linkage", c.linkage, LINKAGES)
    _positive("cluster.n_init", c.n_init)
    _positive("cluster.dbscan_min_samples", c.dbscan_min_samples)
    if c.dbscan_eps is not None:
        _positive("cluster.dbscan_eps", c.dbscan_eps)


def _validate_evaluate(e: EvaluateConfig) -> None:
    _one_of("evaluate.target", e.target, EVAL_TARGETS)
    _positive("evaluate.tsne_perplexity", e.tsne_perplexity)
    _positive("evaluate.max_plot_points", e.max_plot_points)
    _non_negative("evaluate.n_reconstructions", e.n_reconstructions)


def _validate_across(cfg: Config) -> None:
    """Rules that tie keys of different sections together."""
    syn = cfg.data.synthetic
    if cfg.data.name == "synthetic" and syn and cfg.features.segment_seconds > syn.duration:
        _fail("features.segment_seconds", f"longer than data.synthetic.duration ({syn.duration})")
    m = cfg.model
    if m.input == "mel" and cfg.data.name == "features_table":
        _fail("model.input", "a feature table has no audio, so no log-mel input")
    if m.name == "vade" and m.pretrain_epochs >= cfg.train.epochs:
        _fail("model.pretrain_epochs", f"must be below train.epochs ({cfg.train.epochs}), or the "
                                       "mixture prior is never fit")
    if m.name == "cvae" and m.condition == cfg.evaluate.target:
        _fail("model.condition", f"the model would be conditioned on {m.condition!r}, the "
                                 "label it is evaluated against (evaluate.target)")


def validate(cfg: Config) -> None:
    """Check value ranges and cross-field rules; raise :class:`ConfigError` on the first.

    Finiteness of every float is checked earlier, when the value is read (``_coerce``)."""
    _non_negative("seed", cfg.seed)
    _positive("latent_dim", cfg.latent_dim)
    _at_most("latent_dim", cfg.latent_dim, MAX_LATENT_DIM)
    _validate_data(cfg.data)
    _validate_features(cfg.features)
    _validate_lyrics(cfg.lyrics)
    _validate_fuse(cfg.fuse)
    _validate_evaluate(cfg.evaluate)
    _validate_model(cfg.model)
    _validate_train(cfg.train)
    _validate_cluster(cfg.cluster)
    _validate_across(cfg)


def to_dict(cfg: Config) -> dict[str, Any]:
    """The config as plain nested dicts and lists (for checkpoints and logging)."""
    return dataclasses.asdict(cfg)
